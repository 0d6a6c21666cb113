import Foundation
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@Suite struct CrashTests {
    /// The whole server in a crash loop (python/crash.py): `runnel serve` under mixed load — producers on the v2 and v3
    /// APIs, a consumer group committing offsets, a SQLite source feeding an S3-layout sink — killed with SIGKILL at
    /// random moments and restarted on the same data directory. After each restart every acknowledged record is at
    /// its offset exactly once and committed offsets never go backwards; at the end the bucket holds every row.
    /// `RUNNEL_CRASH_ROUNDS` (5) and `RUNNEL_CRASH_SEED` (printed) repeat a run.
    @Test(arguments: ["test_crash_loop"])
    func crashLoop(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("crash.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)\n\(output.stderr)")
    }

    /// `runnel log-perf --flush-policy every-append --print-acks` prints each append once it is acknowledged; after a
    /// `kill -9`, every acknowledged record must be in the recovered log, and no partial batch may be visible.
    @Test func everyAcknowledgedAppendSurvivesKillDashNine() async throws {
        for round in 0..<3 {
            let directory = TemporaryDirectory("killNine\(round)")
            // Kill it at a different moment each round, mid-stream.
            let target = 300 + round * 250
            let acks = try await runUntilKilled(
                [
                    "log-perf", "--data-dir", directory.path, "--topic", "crash", "--flush-policy", "every-append",
                    "--appenders", "4", "--batch-size", "7", "--record-size", "200", "--records", "100000000",
                    "--segment-bytes", "65536", "--print-acks",
                ],
                output: directory.file("acks"),
                afterLines: target
            )
            #expect(acks.count >= target)

            let manager = try await LogManager.open(
                LogManager.Configuration(directory: directory.file("logs")),
                logger: quietLogger
            )
            #expect(!manager.openReport.cleanShutdown)
            let log = try #require(manager.log(for: TopicPartition(topic: "crash", partition: 0)))
            #expect(log.segmentCount > 1)

            var values: [Int64: String] = [:]
            var next = log.logStartOffset
            while next < log.logEndOffset {
                let batches = try RecordBatch.split(try await log.read(from: next, maxBytes: 1 << 20).records)
                for batch in batches {
                    #expect(batch.isChecksumValid)
                    for record in try batch.records() {
                        values[record.offset] = record.value.map { String(buffer: $0) }
                    }
                }
                next = try #require(batches.last).nextOffset
            }
            #expect(Int64(values.count) == log.logEndOffset, "offsets are dense, no gaps")
            for ack in acks {
                let appender = try #require(ack["appender"] as? Int)
                let first = try #require((ack["first_offset"] as? NSNumber)?.int64Value)
                let last = try #require((ack["last_offset"] as? NSNumber)?.int64Value)
                #expect(last - first + 1 == 7)
                for offset in first...last {
                    let value = try #require(values[offset], "acknowledged offset \(offset) was lost")
                    #expect(value.hasPrefix("a\(appender)-s"), "offset \(offset) holds \(value.prefix(16))")
                    #expect(value.utf8.count == 200)
                }
            }

            // The recovered log takes appends where it left off, and every segment file is clean.
            let end = log.logEndOffset
            var builder = RecordBatchBuilder()
            builder.append(key: nil, value: ByteBuffer(string: "after"), timestamp: 1)
            #expect(try await log.append(try builder.build()).firstOffset == end)
            try await manager.close()
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.file("logs/crash-0"))
            where name.hasSuffix(".log") {
                let dump = try await runnel("dump-log", directory.file("logs/crash-0/" + name))
                #expect(dump.status == 0, "\(name): \(dump.stderr)")
            }
        }
    }

    /// The broker as a whole after a `kill -9`: `runnel broker-perf produce --print-acks --commit-group` produces
    /// keyed records to a 3-partition topic and commits the offsets after each call, printing every acknowledged
    /// produce and commit. After the kill, the reopened broker must have the topic (catalog), every acknowledged
    /// record at its acknowledged partition and offset (logs), and committed offsets at least as far as every
    /// acknowledged commit (`__consumer_offsets`).
    @Test func brokerKeepsAcknowledgedRecordsAndCommitsAcrossKillDashNine() async throws {
        for round in 0..<2 {
            let directory = TemporaryDirectory("brokerKillNine\(round)")
            let acks = try await runUntilKilled(
                [
                    "broker-perf", "produce", "--data-dir", directory.path, "--topic", "orders", "--partitions", "3",
                    "--records", "100000000", "--batch-size", "10", "--keys", "100", "--flush-policy",
                    round == 0 ? "every-append" : "interval", "--print-acks", "--commit-group", "billing",
                ],
                output: directory.file("acks"),
                afterLines: 400 + round * 300
            )
            var expected: [TopicPartition: [Int64: String]] = [:]
            var committed: [Int32: Int64] = [:]
            for ack in acks {
                if let records = ack["records"] as? [[NSNumber]], let sequence = ack["sequence"] as? Int {
                    for (index, pair) in records.enumerated() {
                        let partition = try TopicPartition(topic: "orders", partition: pair[0].int32Value)
                        expected[partition, default: [:]][pair[1].int64Value] = "p0-s\(sequence + index)-"
                    }
                } else if let pairs = ack["committed"] as? [[NSNumber]] {
                    for pair in pairs { committed[pair[0].int32Value] = pair[1].int64Value }
                }
            }
            #expect(expected.values.reduce(0) { $0 + $1.count } >= 1000)
            #expect(!committed.isEmpty)

            var configuration = EmbeddedBroker.Configuration(dataDirectory: directory.path)
            configuration.config.offsetsTopicNumPartitions = 50
            let broker = try await EmbeddedBroker.open(configuration, logger: quietLogger)
            #expect(try await broker.describeTopic("orders").partitions.count == 3)
            for (partition, values) in expected {
                var found: [Int64: String] = [:]
                var next: Int64 = 0
                while true {
                    let fetched = try await broker.fetch(FetchRequest(partitions: [.init(partition, offset: next)]))
                    guard let records = try fetched.first?.records(), !records.isEmpty else { break }
                    for record in records { found[record.offset] = record.value.map { String(buffer: $0) } }
                    next = try #require(fetched.first).nextOffset
                }
                for (offset, prefix) in values {
                    let value = try #require(found[offset], "acknowledged \(partition) offset \(offset) was lost")
                    #expect(value.hasPrefix(prefix), "\(partition) offset \(offset) holds \(value.prefix(16))")
                }
            }
            let offsets = try await broker.fetchCommittedOffsets(groupId: "billing", partitions: nil)
            for (partition, offset) in committed {
                let stored = try #require(offsets[try TopicPartition(topic: "orders", partition: partition)])
                #expect(stored.offset >= offset, "partition \(partition): committed \(offset), found \(stored.offset)")
            }
            try await broker.close()
        }
    }
}

/// Runs `runnel` with its standard output in the file `output` until it has printed `lines` lines, kills it with
/// SIGKILL, and returns the lines that parse as JSON objects (a line cut by the kill does not; lines are written
/// whole with one write(2)).
func runUntilKilled(_ arguments: [String], output: String, afterLines lines: Int) async throws -> [NSDictionary] {
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: runnelPath)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").count < lines {
        guard process.isRunning, Date() < deadline else {
            throw TestFailure("\(arguments.first ?? "runnel") stopped before printing \(lines) lines")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(process.terminationReason == .uncaughtSignal)
    return try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").compactMap {
        try? jsonObject(String($0))
    }
}
