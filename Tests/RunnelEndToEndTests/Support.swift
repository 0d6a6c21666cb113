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

/// Runs a program to completion; output goes through files, so a chatty program cannot block on a full pipe. The
/// wait does not hold a thread of the cooperative pool (the tests that poll a process, like the kill -9 ones, must
/// keep running), and at most `ProcessSlots.limit` programs run at once, as many as the machine's cores carry.
func runProcess(_ executable: String, _ arguments: [String]) async throws -> ProcessOutput {
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
    await ProcessSlots.shared.acquire()
    let status: Int32
    do {
        status = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
            }
        }
    } catch {
        await ProcessSlots.shared.release()
        throw error
    }
    await ProcessSlots.shared.release()
    return ProcessOutput(
        status: status,
        stdout: try String(contentsOfFile: directory + "/out", encoding: .utf8),
        stderr: try String(contentsOfFile: directory + "/err", encoding: .utf8)
    )
}

/// How many programs `runProcess` runs at once.
actor ProcessSlots {
    static let shared = ProcessSlots(limit: 2)
    let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func acquire() async {
        if running < limit {
            running += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

func runnel(_ arguments: String...) async throws -> ProcessOutput {
    try await runProcess(runnelPath, arguments)
}

func jsonObject(_ line: String) throws -> NSDictionary {
    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary else {
        throw TestFailure("not a JSON object: \(line)")
    }
    return object
}
