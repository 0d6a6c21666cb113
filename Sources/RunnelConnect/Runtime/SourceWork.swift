import Foundation
import Logging
import NIOCore
import RunnelBrokerAPI
import RunnelJSON
import RunnelRecords

extension ConnectHeader {
    /// A Kafka header as Connect data: UTF-8 text as a string, anything else as bytes (SimpleHeaderConverter-like).
    init(_ header: RecordHeader) {
        guard let value = header.value else {
            self.init(key: header.key, schema: nil, value: .null)
            return
        }
        let bytes = Array(value.readableBytesView)
        if let text = String(validating: bytes, as: UTF8.self) {
            self.init(key: header.key, schema: .optionalString, value: .string(text))
        } else {
            self.init(key: header.key, schema: .optionalBytes, value: .bytes(bytes))
        }
    }

    var recordHeader: RecordHeader {
        switch value {
        case .null: RecordHeader(key: key, value: nil)
        case .string(let text): RecordHeader(key: key, value: ByteBuffer(string: text))
        case .bytes(let bytes): RecordHeader(key: key, value: ByteBuffer(bytes: bytes))
        default:
            RecordHeader(key: key, value: ConnectJSON.json(value).bytes)
        }
    }
}

/// Offsets of a source connector, read from the worker's store.
struct StoredSourceContext: SourceTaskContext {
    let connectorName: String
    let taskId: Int
    let dataDirectory: String
    let logger: Logger
    let store: ConnectStore

    func offset(for partition: ConnectObject) async throws(ConnectError) -> ConnectObject? {
        guard
            let text = try await store.sourceOffset(
                connector: connectorName,
                partition: ConnectJSON.canonicalText(partition)
            )
        else { return nil }
        return (try? ConnectJSON.parse(text))?.object
    }
}

/// A source task's loop: poll, transform, convert, produce; once the broker acknowledges a batch, its source
/// offsets are committed to the store (so a crash replays at most the batch in flight).
struct SourceWork {
    let settings: TaskSettings
    let task: any SourceTask

    func run() async throws(ConnectError) {
        let worker = settings.worker
        let parsed = settings.parsed
        let pipeline = try settings.pipeline()
        let keyConverter = pipeline.keyConverter
        let valueConverter = pipeline.valueConverter
        let chain = pipeline.chain
        let policy = pipeline.policy
        let newTopicPartitions = parsed.int("topic.creation.default.partitions").flatMap { $0 > 0 ? Int32($0) : nil }
        let context = StoredSourceContext(
            connectorName: settings.connector,
            taskId: settings.taskId,
            dataDirectory: worker.configuration.dataDirectory,
            logger: worker.taskLogger(settings.connector, settings.taskId),
            store: worker.store
        )
        let broker = worker.broker
        let store = worker.store
        let connector = settings.connector
        let taskId = settings.taskId
        let logger = worker.logger
        var knownTopics: Set<String> = []

        try await task.start(config: settings.taskConfig, context: context)
        do throws(ConnectError) {
            while !Task.isCancelled {
                let records: [SourceRecord]
                do {
                    records = try await policy.retrying { () async throws(ConnectError) in try await task.poll() }
                } catch {
                    if Task.isCancelled { break }
                    throw error
                }
                if records.isEmpty {
                    guard await pause(milliseconds: 100) else { break }
                    continue
                }
                ConnectMetrics.records(connector, .source, records.count)
                // Records without a timestamp get the time they were polled (the producer would stamp them at send
                // time anyway), so transforms that route or convert by timestamp see one.
                let polledAt = Int64(Date().timeIntervalSince1970 * 1000)
                var batches: [TopicBatch] = []
                var batchIndex: [String: Int] = [:]
                // The last offset of each source partition (serialized once per batch, not per record).
                var offsets: [ConnectObject: ConnectObject] = [:]
                for source in records {
                    // Offsets advance past records that are filtered or skipped too.
                    offsets[source.sourcePartition] = source.sourceOffset
                    let transformed: ConnectRecord
                    var polled = source.record
                    if polled.timestamp == nil { polled.timestamp = polledAt }
                    do {
                        guard let record = try chain.apply(polled) else { continue }
                        transformed = record
                    } catch {
                        try tolerate(
                            error.error,
                            stage: .transformation,
                            className: error.className,
                            policy: policy,
                            logger: logger
                        )
                        continue
                    }
                    let key = try convert(
                        keyConverter,
                        .keyConverter,
                        transformed.keySchema,
                        transformed.key,
                        topic: transformed.topic,
                        policy: policy,
                        logger: logger
                    )
                    let value = try convert(
                        valueConverter,
                        .valueConverter,
                        transformed.valueSchema,
                        transformed.value,
                        topic: transformed.topic,
                        policy: policy,
                        logger: logger
                    )
                    guard let key, let value else { continue }
                    let record = ProducerRecord(
                        key: key,
                        value: value,
                        headers: transformed.headers.map(\.recordHeader),
                        timestamp: transformed.timestamp,
                        partition: transformed.kafkaPartition
                    )
                    if let index = batchIndex[transformed.topic] {
                        batches[index].records.append(record)
                    } else {
                        batchIndex[transformed.topic] = batches.count
                        batches.append(TopicBatch(topic: transformed.topic, records: [record]))
                    }
                }
                let toCommit = offsets.map {
                    (
                        partition: ConnectJSON.canonicalText($0.key),
                        offset: Optional(ConnectJSON.canonicalText($0.value))
                    )
                }
                // Each produce is one step that a stop request does not cut in half, and the last one commits the
                // offsets with it; retries wait between steps, where a stop request ends them.
                for (index, batch) in batches.enumerated() {
                    let commit = index == batches.count - 1
                    try await policy.retrying { () async throws(ConnectError) in
                        try await shielded { () async throws(ConnectError) in
                            let outcomes = try await Producing.produce(
                                broker: broker,
                                topic: batch.topic,
                                records: batch.records,
                                createPartitions: newTopicPartitions
                            )
                            try Self.check(
                                outcomes,
                                policy: policy,
                                logger: logger,
                                connector: connector,
                                taskId: taskId
                            )
                            if commit {
                                let started = ContinuousClock.now
                                try await store.commitSourceOffsets(connector: connector, toCommit)
                                ConnectMetrics.offsetCommit(connector, since: started)
                            }
                        }
                    }
                }
                if batches.isEmpty {
                    // Everything was filtered or skipped: the offsets still move on.
                    try await shielded { () async throws(ConnectError) in
                        try await store.commitSourceOffsets(connector: connector, toCommit)
                    }
                }
                for batch in batches where !knownTopics.contains(batch.topic) {
                    knownTopics.insert(batch.topic)
                    await worker.noteActiveTopic(connector, batch.topic)
                }
                await task.commit()
            }
        } catch {
            await task.stop()
            throw error
        }
        await task.stop()
    }

    /// Failed records of an acknowledged produce: skipped with `errors.tolerance=all`, else the task fails.
    static func check(
        _ outcomes: [ProduceOutcome],
        policy: ErrorPolicy,
        logger: Logger,
        connector: String,
        taskId: Int
    ) throws(ConnectError) {
        for case .failure(let error) in outcomes {
            ConnectMetrics.recordError(connector)
            let mapped = Producing.map(error)
            guard policy.tolerateAll else {
                throw ConnectError(
                    mapped.kind == .retriable ? .connect : mapped.kind,
                    "Unrecoverable exception from producer send callback: \(mapped.message)"
                )
            }
            if policy.logErrors {
                logger.connectError(
                    mapped,
                    stage: .kafkaProduce,
                    className: "producer",
                    connector: connector,
                    taskId: taskId,
                    record: nil
                )
            }
        }
    }

    /// A key's or value's bytes (`.some(nil)` for null); nil when the conversion failed and the failure is tolerated.
    private func convert(
        _ converter: any Converter,
        _ stage: Stage,
        _ schema: ConnectSchema?,
        _ data: ConnectValue,
        topic: String,
        policy: ErrorPolicy,
        logger: Logger
    ) throws(ConnectError) -> ByteBuffer?? {
        do {
            return .some(try converter.fromConnectData(topic: topic, schema: schema, value: data))
        } catch {
            try tolerate(
                error,
                stage: stage,
                className: ConnectorConfig.className(of: converter),
                policy: policy,
                logger: logger
            )
            return nil
        }
    }

    private func tolerate(
        _ error: ConnectError,
        stage: Stage,
        className: String,
        policy: ErrorPolicy,
        logger: Logger
    ) throws(ConnectError) {
        ConnectMetrics.recordError(settings.connector)
        guard policy.tolerates(error, in: stage) else { throw error }
        if policy.logErrors {
            logger.connectError(
                error,
                stage: stage,
                className: className,
                connector: settings.connector,
                taskId: settings.taskId,
                record: nil
            )
        }
    }
}

/// The records of one poll going to one topic, in order.
struct TopicBatch: Sendable {
    var topic: String
    var records: [ProducerRecord]
}
