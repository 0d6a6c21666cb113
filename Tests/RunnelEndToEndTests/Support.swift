import Foundation
import Logging
import RunnelTestSupport
import Testing

/// The package's root directory (where `Package.swift` is).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// The `runnel` executable built with the tests.
let runnelPath = Bundle.main.bundleURL.appendingPathComponent("runnel").path

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The Python interpreter with the test dependencies (`Tests/requirements.txt`): `RUNNEL_TEST_PYTHON`, else the
/// `.venv` that `make test` creates.
func pythonInterpreter() throws -> String {
    if let configured = ProcessInfo.processInfo.environment["RUNNEL_TEST_PYTHON"] { return configured }
    let venv = packageRoot + "/.venv/bin/python3"
    guard FileManager.default.isExecutableFile(atPath: venv) else {
        throw TestFailure(
            "these tests decode segments with kafka-python: run `make test`, which installs it into .venv, or set RUNNEL_TEST_PYTHON"
        )
    }
    return venv
}

func pythonScript(_ name: String) -> String { packageRoot + "/Tests/RunnelEndToEndTests/python/" + name }

struct ProcessOutput {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs a program to completion; output goes through files, so a chatty program cannot block on a full pipe.
func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessOutput {
    let directory = NSTemporaryDirectory() + "runnel-process-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    _ = FileManager.default.createFile(atPath: directory + "/out", contents: nil)
    _ = FileManager.default.createFile(atPath: directory + "/err", contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/out"))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/err"))
    try process.run()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus,
        stdout: try String(contentsOfFile: directory + "/out", encoding: .utf8),
        stderr: try String(contentsOfFile: directory + "/err", encoding: .utf8)
    )
}

func runnel(_ arguments: String...) throws -> ProcessOutput {
    try runProcess(runnelPath, arguments)
}

func jsonObject(_ line: String) throws -> NSDictionary {
    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary else {
        throw TestFailure("not a JSON object: \(line)")
    }
    return object
}
