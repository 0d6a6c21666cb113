import ArgumentParser
import Foundation
import RunnelLog
import RunnelRecords

/// `runnel check-logs`: lists the damaged ranges of a data directory's partition logs, and repairs them.
struct CheckLogs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-logs",
        abstract: "Check every partition log of a data directory for damaged data, and repair it.",
        discussion: """
            Validates every batch of every segment (CRC, length, offsets against the batches around it) and lists \
            each damaged range: its partition, segment, offsets and bytes, and why. A running server finds the same \
            damage when it reads it: it sets the range aside (its offsets are answered with CORRUPT_MESSAGE) and keeps \
            serving everything else. The check reads files only, and can run while the server does.

            --repair (with the server stopped: it takes the data directory's lock) rewrites each damaged segment \
            without its damaged ranges; a batch whose only damage is its base offset is kept, with the base offset \
            its neighbours show. Offsets in dropped ranges are gone for good; consumers skip them as they skip \
            compacted offsets. Exits 1 when damage is found and not repaired.
            """
    )

    @Option(name: .long, help: "The data directory (default ./runnel-data).")
    var dataDir = "./runnel-data"

    @Flag(name: .long, help: "Rewrite damaged segments without their damaged ranges (the server must be stopped).")
    var repair = false

    @Flag(name: .long, help: "One JSON object per damaged range (or per repaired segment).")
    var json = false

    func run() throws {
        let logs = dataDir + "/logs"
        guard FileManager.default.fileExists(atPath: logs) else {
            throw ValidationError("\(dataDir) has no logs directory: is it a Runnel data directory?")
        }
        if repair {
            let lock: DirectoryLock
            do {
                lock = try DirectoryLock(directory: dataDir)
            } catch {
                throw ServeError("Cannot repair while a server uses \(dataDir): stop it first (\(error.message))")
            }
            defer { lock.release() }
            let repairs = try LogCheck.repair(logsDirectory: logs)
            for repair in repairs {
                let lost = repair.lostOffsets.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
                if json {
                    print(
                        Self.json([
                            "partition": repair.partition, "segment": repair.segment,
                            "dropped_bytes": repair.droppedBytes, "restored_batches": repair.restoredBatches,
                            "lost_offsets": lost,
                        ])
                    )
                } else {
                    print(
                        "\(repair.partition) segment \(repair.segment): dropped \(repair.droppedBytes) bytes, restored \(repair.restoredBatches) batches\(lost.isEmpty ? "" : ", offsets \(lost) are gone")"
                    )
                }
            }
            if !json { print(repairs.isEmpty ? "No damage found." : "Repaired \(repairs.count) segments.") }
            return
        }
        let findings = try LogCheck.scan(logsDirectory: logs)
        for finding in findings {
            let range = finding.range
            if json {
                print(
                    Self.json([
                        "partition": finding.partition, "segment": finding.segment,
                        "first_offset": range.firstOffset,
                        "next_offset": range.nextOffset == Int64.max ? nil : range.nextOffset,
                        "position": range.position, "end": range.end,
                        "corrected_base_offset": range.correctedBaseOffset, "reason": range.reason,
                    ])
                )
            } else {
                print("\(finding.partition) segment \(finding.segment): \(range)")
            }
        }
        if !json {
            print(
                findings.isEmpty
                    ? "No damage found."
                    : "\(findings.count) damaged ranges: `runnel check-logs --repair` (server stopped) removes them."
            )
        }
        if !findings.isEmpty { throw ExitCode.failure }
    }

    private static func json(_ fields: [String: (any Sendable)?]) -> String {
        var object: [String: Any] = [:]
        for (key, value) in fields { object[key] = value ?? NSNull() }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
