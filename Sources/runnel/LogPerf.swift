import ArgumentParser
import Foundation
import Logging
import NIOCore
import RunnelLog
import RunnelRecords
import Synchronization

/// `runnel log-perf`: appends generated records straight to a partition log (no network) and reports throughput,
/// like `kafka-producer-perf-test` for the storage layer; optionally reads the partition back.
struct LogPerf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log-perf",
        abstract: "Measure the partition log: append generated records, optionally read them back.",
        discussion: """
            Writes to <data-dir>/logs/<topic>-0 (created if missing; existing data is kept and appended to). \
            With --print-acks, every acknowledged append prints a JSON line {"appender","first_offset","last_offset"} \
            as soon as it is acknowledged, like Kafka's verifiable producer: with --flush-policy every-append, each \
            printed offset is durable.
            """
    )

    enum Policy: String, ExpressibleByArgument, CaseIterable {
        case everyAppend = "every-append"
        case interval
        case os
    }

    enum Codec: String, ExpressibleByArgument, CaseIterable {
        case none
        case gzip
    }

    @Option(name: .long, help: "Data directory (logs go in <data-dir>/logs).")
    var dataDir = "./runnel-data"

    @Option(name: .long, help: "Topic name of the log to write.")
    var topic = "runnel-perf"

    @Option(name: .long, help: "Number of records to append.")
    var records = 100_000

    @Option(name: .long, help: "Bytes to append instead of a record count (record-size multiples).")
    var totalBytes: Int?

    @Option(name: .long, help: "Value size of each record in bytes.")
    var recordSize = 1024

    @Option(name: .long, help: "Records per batch (one append).")
    var batchSize = 100

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Partitions to spread each append over.",
            discussion: """
                With N > 1, each append's --batch-size records are split into N batches, one per partition log                 (<topic>-0 … <topic>-N-1), appended together in one request: the storage work a produce request                 spanning N partitions does, without the broker. --read reads partition 0 only.
                """
        )
    )
    var partitions = 1

    @Option(name: .long, help: "Concurrent appenders.")
    var appenders = 1

    @Option(name: .long, help: "Durability: every-append (fsync before ack, group commit), interval, os.")
    var flushPolicy: Policy = .interval

    @Option(name: .long, help: "fsync interval for the interval policy, in milliseconds.")
    var flushIntervalMs: Int64 = 1000

    @Option(name: .long, help: "Compression of the batches: none or gzip.")
    var compression: Codec = .none

    @Option(name: .long, help: "segment.bytes of the log.")
    var segmentBytes = 1 << 30

    @Flag(name: .long, help: "After appending, read the whole partition from its first offset.")
    var read = false

    @Flag(name: .long, help: "Drop the log's pages from the page cache before reading, so the read hits the disk.")
    var cold = false

    @Flag(name: .long, help: "Print one JSON line per acknowledged append.")
    var printAcks = false

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard recordSize >= 32 else { throw ValidationError("--record-size must be at least 32") }
        guard partitions >= 1, partitions <= batchSize else {
            throw ValidationError("--partitions must be between 1 and --batch-size")
        }
        guard partitions == 1 || !printAcks else {
            throw ValidationError("--print-acks prints appends to one partition: use it without --partitions")
        }
        guard batchSize >= 1, appenders >= 1, records >= 0 else {
            throw ValidationError("--batch-size and --appenders must be positive")
        }
    }

    func run() async throws {
        var handler = StreamLogHandler.standardError(label: "runnel")
        handler.logLevel = .warning
        let logger = Logger(label: "runnel", factory: { _ in handler })

        var logConfig = LogConfig()
        logConfig.segmentBytes = segmentBytes
        logConfig.retentionMs = -1
        var configuration = LogManager.Configuration(directory: dataDir + "/logs")
        switch flushPolicy {
        case .everyAppend: configuration.defaultConfig = FlushPolicy.everyAppend.applied(to: logConfig)
        case .interval:
            configuration.defaultConfig = FlushPolicy.interval(milliseconds: flushIntervalMs).applied(to: logConfig)
        case .os: configuration.defaultConfig = FlushPolicy.operatingSystem.applied(to: logConfig)
        }
        configuration.flushCheckIntervalMs = max(1, min(flushIntervalMs / 4, 100))

        let manager = try await LogManager.open(configuration, logger: logger)
        var opened: [PartitionLog] = []
        for partition in 0..<partitions {
            let topicPartition = try TopicPartition(topic: topic, partition: Int32(partition))
            if let existing = manager.log(for: topicPartition) {
                opened.append(existing)
            } else {
                opened.append(try await manager.createLog(topicPartition))
            }
        }
        let logs = opened
        let log = logs[0]
        let (batchSize, recordSize, appenders) = (self.batchSize, self.recordSize, self.appenders)
        let total = totalBytes.map { $0 / recordSize } ?? records
        let startOffset = logs.reduce(0) { $0 + $1.logEndOffset }
        let bytesBefore = logs.reduce(0) { $0 + $1.sizeInBytes }
        let output = AckPrinter(enabled: printAcks)
        let remaining = RecordBudget(total)
        let codec: CompressionCodec = compression == .gzip ? .gzip : .none
        let flushCheckIntervalMs = configuration.flushCheckIntervalMs
        let clock = ContinuousClock()
        let appendStart = clock.now

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Timed flushes for the interval policy, as the server's flush service does.
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(flushCheckIntervalMs))
                    await manager.flushDueLogs()
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { appendersGroup in
                for appender in 0..<appenders {
                    appendersGroup.addTask {
                        var sequence = 0
                        while true {
                            let count = remaining.take(upTo: batchSize)
                            guard count > 0 else { return }
                            if logs.count > 1 {
                                // One batch per partition, appended in one request.
                                var requests: [(log: PartitionLog, batches: [RecordBatch])] = []
                                for (index, partitionLog) in logs.enumerated() {
                                    let share = count / logs.count + (index < count % logs.count ? 1 : 0)
                                    guard share > 0 else { continue }
                                    let batch = try LogPerf.makeBatch(
                                        appender: appender,
                                        sequence: sequence,
                                        count: share,
                                        recordSize: recordSize,
                                        codec: codec
                                    )
                                    sequence += share
                                    requests.append((partitionLog, [batch]))
                                }
                                for result in await manager.append(requests) { _ = try result.get() }
                                continue
                            }
                            let batch = try LogPerf.makeBatch(
                                appender: appender,
                                sequence: sequence,
                                count: count,
                                recordSize: recordSize,
                                codec: codec
                            )
                            sequence += count
                            let result = try await log.append(batch)
                            output.ack(appender: appender, result: result)
                        }
                    }
                }
                try await appendersGroup.waitForAll()
            }
            group.cancelAll()
        }
        let groupCommits = logs.reduce(0) { $0 + $1.groupCommits }
        for partitionLog in logs { try await partitionLog.flush() }
        let appendSeconds = (clock.now - appendStart).inSeconds
        let written = logs.reduce(0) { $0 + $1.sizeInBytes } - bytesBefore
        let appended = logs.reduce(0) { $0 + $1.logEndOffset } - startOffset

        var summary: [String: Double] = [
            "records": Double(appended),
            "log_bytes": Double(written),
            "payload_bytes": Double(Int(appended) * recordSize),
            "append_seconds": appendSeconds,
            "records_per_second": Double(appended) / appendSeconds,
            "append_mb_per_second": Double(written) / appendSeconds / 1e6,
            "group_commits": Double(groupCommits),
        ]
        if read {
            if cold { try await log.dropCachedPages() }
            let readStart = clock.now
            var offset = log.logStartOffset
            var bytes = 0
            var batches = 0
            while offset < log.logEndOffset {
                let result = try await log.read(from: offset, maxBytes: 1 << 20)
                let split = try RecordBatch.split(result.records)
                guard let last = split.last else { break }
                bytes += result.records.readableBytes
                batches += split.count
                offset = last.nextOffset
            }
            let readSeconds = (clock.now - readStart).inSeconds
            summary["read_bytes"] = Double(bytes)
            summary["read_seconds"] = readSeconds
            summary["read_mb_per_second"] = Double(bytes) / readSeconds / 1e6
            summary["read_batches"] = Double(batches)
        }
        try await manager.close()

        if json {
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else if !printAcks {
            let mb = { (value: Double?) in String(format: "%.1f", value ?? 0) }
            print(
                "appended \(appended) records (\(mb(Double(written) / 1e6)) MB) in \(String(format: "%.2f", appendSeconds)) s: "
                    + "\(Int(summary["records_per_second"] ?? 0)) records/s, \(mb(summary["append_mb_per_second"])) MB/s "
                    + "(flush policy \(flushPolicy.rawValue), \(appenders) appender(s), batches of \(batchSize), \(compression.rawValue))"
            )
            if groupCommits > 0 {
                let perCommit = Double(appended) / Double(batchSize) / Double(groupCommits)
                print("group commits: \(groupCommits) fsyncs, \(String(format: "%.1f", perCommit)) appends per fsync")
            }
            if read {
                print(
                    "read \(mb((summary["read_bytes"] ?? 0) / 1e6)) MB in \(String(format: "%.2f", summary["read_seconds"] ?? 0)) s: "
                        + "\(mb(summary["read_mb_per_second"])) MB/s\(cold ? " (page cache dropped first)" : "")"
                )
            }
        }
    }

    /// A batch of `count` records whose values start with `a<appender>-s<sequence>-`, padded to `recordSize`.
    static func makeBatch(
        appender: Int,
        sequence: Int,
        count: Int,
        recordSize: Int,
        codec: CompressionCodec
    ) throws -> RecordBatch {
        var builder = RecordBatchBuilder(compression: codec)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // One buffer holds every value of the batch; the records are slices of it (as a producer reusing its buffers).
        var values = ByteBufferAllocator().buffer(capacity: recordSize * count)
        for index in 0..<count {
            let prefix = "a\(appender)-s\(sequence + index)-"
            values.writeString(prefix)
            values.writeRepeatingByte(UInt8(ascii: "x"), count: recordSize - prefix.utf8.count)
        }
        for index in 0..<count {
            let value = values.getSlice(at: values.readerIndex + index * recordSize, length: recordSize)
            builder.append(key: nil, value: value, timestamp: now)
        }
        return try builder.build()
    }
}

/// Prints acknowledgements one line at a time, unbuffered, so a process killed right after still shows every ack.
final class AckPrinter: Sendable {
    private let lock = Mutex(())
    let enabled: Bool

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func ack(appender: Int, result: AppendResult) {
        print(
            line:
                "{\"appender\":\(appender),\"first_offset\":\(result.firstOffset),\"last_offset\":\(result.lastOffset)}"
        )
    }

    /// Prints one line (a JSON object), if enabled; the line is built only then.
    func print(line: @autoclosure () -> String) {
        guard enabled else { return }
        lock.withLock { _ in
            // An unbuffered write: the line is out before the next append starts.
            FileHandle.standardOutput.write(Data((line() + "\n").utf8))
        }
    }
}

/// The records left to append, shared by the appenders.
final class RecordBudget: Sendable {
    private let left: Mutex<Int>

    init(_ total: Int) {
        left = Mutex(total)
    }

    func take(upTo count: Int) -> Int {
        left.withLock { left in
            let taken = min(left, count)
            left -= taken
            return taken
        }
    }
}
