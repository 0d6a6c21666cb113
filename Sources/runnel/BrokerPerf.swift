import ArgumentParser
import Foundation
import Logging
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import Synchronization

/// `runnel broker-perf`: measures the broker core in process (no network): produce throughput through the `Broker`
/// protocol, produce-to-fetch latency of a long-polling consumer, and memory with many partitions open.
struct BrokerPerf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker-perf",
        abstract: "Measure the broker core: produce throughput, long-poll fetch latency, memory per partition.",
        discussion: """
            produce: keyed records of --record-size bytes in produce calls of --batch-size records to a topic of \
            --partitions partitions, from --producers concurrent producers. latency: one record every \
            --interval-ms, timed from the produce call to the return of a consumer's long-poll fetch. memory: \
            creates --partitions partitions, then reopens the data directory, and reports the resident set size. \
            Data goes to --data-dir (a new topic each run unless --topic names one; existing data is kept). \
            With --print-acks, produce works like Kafka's verifiable producer: each acknowledged produce call prints \
            {"producer","sequence","records":[[partition,offset],...]} as soon as it is acknowledged, and with \
            --commit-group each acknowledged commit of the offsets after it prints {"group","committed":[[partition,\
            offset],...]}.
            """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case produce
        case latency
        case memory
    }

    @Argument(help: "What to measure: produce, latency or memory.")
    var mode: Mode

    @Option(name: .long, help: "Data directory.")
    var dataDir = "./runnel-data"

    @Option(name: .long, help: "Partitions of the benchmark topic.")
    var partitions: Int32 = 6

    @Option(name: .long, help: "Records to produce (produce and latency).")
    var records = 1_000_000

    @Option(name: .long, help: "Value size of each record in bytes.")
    var recordSize = 100

    @Option(name: .long, help: "Records per produce call.")
    var batchSize = 100

    @Option(name: .long, help: "Distinct keys (0: null keys, sticky partitioning).")
    var keys = 10_000

    @Option(name: .long, help: "Concurrent producers.")
    var producers = 1

    @Option(name: .long, help: "Milliseconds between records in the latency test.")
    var intervalMs = 2

    @Option(name: .long, help: "fsync interval of the interval flush policy, in milliseconds.")
    var flushIntervalMs: Int64 = 1000

    @Option(name: .long, help: "Topic to produce to (created if missing); default: a new one per run.")
    var topic: String?

    @Option(name: .long, help: "Durability: every-append (fsync before ack, group commit), interval, os.")
    var flushPolicy: LogPerf.Policy = .interval

    @Flag(name: .long, help: "produce: print one JSON line per acknowledged produce call (see the discussion).")
    var printAcks = false

    @Option(
        name: .long,
        help: "produce: after each produce call, commit the next offsets of its partitions for this group."
    )
    var commitGroup: String?

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        var handler = StreamLogHandler.standardError(label: "runnel")
        handler.logLevel = .warning
        let logger = Logger(label: "runnel", factory: { _ in handler })
        var configuration = EmbeddedBroker.Configuration(dataDirectory: dataDir)
        switch flushPolicy {
        case .everyAppend: configuration.config.topicDefaults["flush.messages"] = "1"
        case .interval: configuration.config.topicDefaults["flush.ms"] = String(flushIntervalMs)
        case .os: break
        }
        configuration.config.topicDefaults["retention.ms"] = "-1"
        configuration.flushCheckIntervalMs = max(1, min(flushIntervalMs / 4, 100))

        let summary: [String: Double]
        switch mode {
        case .produce: summary = try await produce(configuration, logger: logger)
        case .latency: summary = try await latency(configuration, logger: logger)
        case .memory: summary = try await memory(configuration, logger: logger)
        }
        if printAcks { return }
        if json {
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (key, value) in summary.sorted(by: { $0.key < $1.key }) {
                print("\(key): \(String(format: "%.2f", value))")
            }
        }
    }

    private func freshTopic() -> String {
        "perf-\(UInt32.random(in: .min ... .max))"
    }

    /// Runs `body` with the broker's flush service running (the interval policy fsyncs in the background).
    private func withBroker<T: Sendable>(
        _ configuration: EmbeddedBroker.Configuration,
        logger: Logger,
        _ body: @Sendable (EmbeddedBroker) async throws -> T
    ) async throws -> T {
        let broker = try await EmbeddedBroker.open(configuration, logger: logger)
        let flushIntervalMs = configuration.flushCheckIntervalMs
        do {
            let result = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(flushIntervalMs))
                        await broker.logManager.flushDueLogs()
                    }
                    return nil
                }
                let result = try await body(broker)
                group.cancelAll()
                return result
            }
            try await broker.close()
            return result
        } catch {
            try? await broker.close()
            throw error
        }
    }

    private func produce(_ configuration: EmbeddedBroker.Configuration, logger: Logger) async throws -> [String: Double]
    {
        let (topic, partitions, total, batchSize, recordSize, keys, producers) = (
            self.topic ?? freshTopic(), self.partitions, records, self.batchSize, self.recordSize, self.keys,
            self.producers
        )
        let output = AckPrinter(enabled: printAcks)
        let commitGroup = self.commitGroup
        return try await withBroker(configuration, logger: logger) { broker in
            if (try? await broker.describeTopic(topic)) == nil {
                _ = try await broker.createTopic(CreateTopicRequest(name: topic, partitions: partitions))
            }
            let remaining = RecordBudget(total)
            let keyBuffers = (0..<keys).map { ByteBuffer(string: "key-\($0)") }
            let clock = ContinuousClock()
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        var sequence = 0
                        while true {
                            let count = remaining.take(upTo: batchSize)
                            guard count > 0 else { return }
                            let batch = Self.makeRecords(
                                producer: producer,
                                sequence: sequence,
                                count: count,
                                recordSize: recordSize,
                                keys: keyBuffers
                            )
                            sequence += count
                            let outcomes = try await broker.produce(
                                topic: topic,
                                records: batch,
                                options: ProduceOptions()
                            )
                            let placed = try outcomes.map { try $0.get() }
                            output.print(
                                line: "{\"producer\":\(producer),\"sequence\":\(sequence - count),\"records\":["
                                    + placed.map { "[\($0.partition),\($0.offset)]" }.joined(separator: ",") + "]}"
                            )
                            if let commitGroup {
                                try await Self.commitNext(
                                    placed,
                                    topic: topic,
                                    group: commitGroup,
                                    broker: broker,
                                    output: output
                                )
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = (clock.now - start).inSeconds
            var bytes = 0
            for partition in 0..<partitions {
                let log = broker.logManager.log(for: try TopicPartition(topic: topic, partition: partition))
                bytes += log?.sizeInBytes ?? 0
                try await log?.flush()
            }
            return [
                "records": Double(total),
                "seconds": seconds,
                "records_per_second": Double(total) / seconds,
                "log_mb_per_second": Double(bytes) / seconds / 1e6,
            ]
        }
    }

    /// Commits, for each partition the records went to, the offset after the last of them (a consumer's commit).
    static func commitNext(
        _ placed: [RecordMetadata],
        topic: String,
        group: String,
        broker: EmbeddedBroker,
        output: AckPrinter
    ) async throws {
        var next: [Int32: Int64] = [:]
        for record in placed { next[record.partition] = max(next[record.partition] ?? 0, record.offset + 1) }
        var offsets: [TopicPartition: CommittedOffset] = [:]
        for (partition, offset) in next {
            offsets[try TopicPartition(topic: topic, partition: partition)] = CommittedOffset(offset: offset)
        }
        let result = try await broker.commitOffsets(OffsetCommitRequest(groupId: group, offsets: offsets))
        if let (partition, error) = result.failed.first {
            throw ValidationError("commit of \(partition) failed: \(error)")
        }
        output.print(
            line: "{\"group\":\"\(group)\",\"committed\":["
                + next.sorted { $0.key < $1.key }.map { "[\($0.key),\($0.value)]" }.joined(separator: ",") + "]}"
        )
    }

    /// `count` records with values `p<producer>-s<sequence>-xxxx…` of `recordSize` bytes and keys from `keys`
    /// (serialized once, as a producer's keys usually are; none when empty).
    static func makeRecords(
        producer: Int,
        sequence: Int,
        count: Int,
        recordSize: Int,
        keys: [ByteBuffer]
    ) -> [ProducerRecord] {
        var values = ByteBufferAllocator().buffer(capacity: recordSize * count)
        for index in 0..<count {
            let prefix = "p\(producer)-s\(sequence + index)-"
            values.writeString(prefix)
            values.writeRepeatingByte(UInt8(ascii: "x"), count: max(0, recordSize - prefix.utf8.count))
        }
        var records: [ProducerRecord] = []
        records.reserveCapacity(count)
        for index in 0..<count {
            let value = values.getSlice(at: values.readerIndex + index * recordSize, length: recordSize)
            let key = keys.isEmpty ? nil : keys[(sequence + index) % keys.count]
            records.append(ProducerRecord(key: key, value: value))
        }
        return records
    }

    private func latency(_ configuration: EmbeddedBroker.Configuration, logger: Logger) async throws -> [String: Double]
    {
        let (topic, total, intervalMs, recordSize) = (freshTopic(), min(records, 100_000), self.intervalMs, recordSize)
        return try await withBroker(configuration, logger: logger) { broker in
            _ = try await broker.createTopic(CreateTopicRequest(name: topic, partitions: 1))
            let partition = try TopicPartition(topic: topic, partition: 0)
            let clock = ContinuousClock()
            // Send times by sequence number (the record key), stored before the produce call starts.
            let sent = SendTimes()
            let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
                group.addTask {
                    var latencies: [Double] = []
                    var offset: Int64 = 0
                    while offset < Int64(total) {
                        let fetched = try await broker.fetch(
                            FetchRequest(partitions: [.init(partition, offset: offset)], maxWaitMs: 500)
                        )
                        let returned = clock.now
                        if let error = fetched[0].error { throw error }
                        for record in (try fetched[0].records()) {
                            guard let key = record.key, let sequence = Int(String(buffer: key)) else { continue }
                            if let start = sent.take(sequence) {
                                latencies.append((returned - start).inSeconds * 1000)
                            }
                        }
                        offset = fetched[0].nextOffset
                    }
                    return latencies
                }
                group.addTask {
                    let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: recordSize)
                    for sequence in 0..<total {
                        try await Task.sleep(for: .milliseconds(intervalMs))
                        sent.record(sequence, clock.now)
                        let outcome = try await broker.produce(
                            topic: topic,
                            records: [
                                ProducerRecord(key: ByteBuffer(string: String(sequence)), value: value, partition: 0)
                            ],
                            options: ProduceOptions()
                        )
                        _ = try outcome[0].get()
                    }
                    return []
                }
                var all: [Double] = []
                for try await samples in group { all += samples }
                return all.sorted()
            }
            guard !samples.isEmpty else { return [:] }
            func percentile(_ p: Double) -> Double {
                samples[min(samples.count - 1, Int(Double(samples.count) * p))]
            }
            return [
                "samples": Double(samples.count),
                "p50_ms": percentile(0.50),
                "p99_ms": percentile(0.99),
                "p999_ms": percentile(0.999),
                "max_ms": samples.last ?? 0,
            ]
        }
    }

    private func memory(_ configuration: EmbeddedBroker.Configuration, logger: Logger) async throws -> [String: Double]
    {
        let (topic, partitions) = (freshTopic(), self.partitions)
        let clock = ContinuousClock()
        let before = Self.residentBytes()
        let createStart = clock.now
        try await withBroker(configuration, logger: logger) { broker in
            _ = try await broker.createTopic(CreateTopicRequest(name: topic, partitions: partitions))
            // One record per partition, so every partition has an open, written segment.
            for partition in 0..<partitions {
                _ = try await broker.produce(
                    topic: topic,
                    records: [ProducerRecord(value: ByteBuffer(string: "x"), partition: partition)],
                    options: ProduceOptions()
                )
            }
        }
        let createSeconds = (clock.now - createStart).inSeconds
        let openStart = clock.now
        let (openSeconds, resident) = try await withBroker(configuration, logger: logger) { _ in
            ((clock.now - openStart).inSeconds, Self.residentBytes())
        }
        let open = partitionDirectories(in: dataDir)
        return [
            "partitions_open": Double(open),
            "rss_before_mb": Double(before) / 1e6,
            "rss_open_mb": Double(resident) / 1e6,
            "rss_per_partition_kb": Double(resident - before) / Double(max(open, 1)) / 1e3,
            "create_seconds": createSeconds,
            "reopen_seconds": openSeconds,
        ]
    }

    /// The number of partition directories under the data directory.
    private func partitionDirectories(in directory: String) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: directory + "/logs"))?
            .filter { !$0.contains("checkpoint") && !$0.hasPrefix(".") }.count ?? 0
    }

    /// VmRSS from /proc/self/status, in bytes.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
        return 0
    }
}

/// Send times of the latency test's records, by sequence number.
final class SendTimes: Sendable {
    private let times = Mutex<[Int: ContinuousClock.Instant]>([:])

    func record(_ sequence: Int, _ instant: ContinuousClock.Instant) {
        times.withLock { $0[sequence] = instant }
    }

    func take(_ sequence: Int) -> ContinuousClock.Instant? {
        times.withLock { $0.removeValue(forKey: sequence) }
    }
}
