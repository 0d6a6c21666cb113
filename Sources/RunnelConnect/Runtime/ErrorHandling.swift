import Logging
import NIOCore
import RunnelBrokerAPI
import RunnelRecords

/// Where in a task's pipeline an error happened (Kafka Connect's `Stage`).
enum Stage: String, Sendable {
    case taskPoll = "TASK_POLL"
    case taskPut = "TASK_PUT"
    case transformation = "TRANSFORMATION"
    case keyConverter = "KEY_CONVERTER"
    case valueConverter = "VALUE_CONVERTER"
    case headerConverter = "HEADER_CONVERTER"
    case kafkaProduce = "KAFKA_PRODUCE"
    case kafkaConsume = "KAFKA_CONSUME"
}

/// `errors.*`: which errors skip a record instead of failing the task, how long retriable operations are retried,
/// and whether errors are logged.
struct ErrorPolicy: Sendable {
    let tolerateAll: Bool
    let retryTimeoutMs: Int64
    let retryDelayMaxMs: Int64
    let logErrors: Bool
    let logMessages: Bool

    init(config: ParsedConfig) {
        tolerateAll = config.string("errors.tolerance")?.lowercased() == "all"
        retryTimeoutMs = config.int64("errors.retry.timeout") ?? 0
        retryDelayMaxMs = max(1, config.int64("errors.retry.delay.max.ms") ?? 60_000)
        logErrors = config.bool("errors.log.enable")
        logMessages = config.bool("errors.log.include.messages")
    }

    /// Whether a record that failed in `stage` is skipped: with `errors.tolerance=all`, any error of a converter or
    /// a transform, and retriable errors elsewhere.
    func tolerates(_ error: ConnectError, in stage: Stage) -> Bool {
        guard tolerateAll else { return false }
        switch stage {
        case .transformation, .keyConverter, .valueConverter, .headerConverter: return true
        default: return error.kind == .retriable
        }
    }

    /// Runs `operation`, retrying retriable errors with Kafka's backoff (300 ms doubling, then a random delay up to
    /// `errors.retry.delay.max.ms`) until `errors.retry.timeout` has passed (-1: forever).
    func retrying<T>(_ operation: () async throws(ConnectError) -> T) async throws(ConnectError) -> T {
        let start = ContinuousClock.now
        var attempt = 0
        while true {
            do {
                return try await operation()
            } catch {
                attempt += 1
                let elapsed = Int64((ContinuousClock.now - start) / .milliseconds(1))
                guard error.kind == .retriable, retryTimeoutMs != 0, retryTimeoutMs < 0 || elapsed < retryTimeoutMs
                else {
                    throw error
                }
                var delay = attempt < 20 ? Int64(300) << (attempt - 1) : retryDelayMaxMs
                if delay > retryDelayMaxMs { delay = Int64.random(in: 0..<retryDelayMaxMs) }
                if retryTimeoutMs > 0 { delay = min(delay, max(0, retryTimeoutMs - elapsed)) }
                guard await pause(milliseconds: delay) else { throw error }
            }
        }
    }
}

/// The dead letter queue of a sink connector: failed records, as consumed, with `__connect.errors.*` headers
/// saying what went wrong when `errors.deadletterqueue.context.headers.enable` is on.
struct DeadLetterQueue: Sendable {
    let broker: any Broker
    let topic: String
    let contextHeaders: Bool
    let connector: String
    let taskId: Int

    func send(
        _ original: ConsumerRecord,
        stage: Stage,
        className: String,
        error: ConnectError
    ) async throws(ConnectError) {
        var headers = original.headers
        if contextHeaders {
            func add(_ key: String, _ value: String) {
                headers.append(RecordHeader(key: "__connect.errors.\(key)", value: ByteBuffer(string: value)))
            }
            add("topic", original.topic)
            add("partition", String(original.partition))
            add("offset", String(original.offset))
            add("connector.name", connector)
            add("task.id", String(taskId))
            add("stage", stage.rawValue)
            add("class.name", className)
            add("exception.class.name", error.className)
            add("exception.message", error.message)
            add(
                "exception.stacktrace",
                "\(error)\n\tat \(stage.rawValue) of \(className) (connector \(connector), task \(taskId))"
            )
        }
        let record = ProducerRecord(
            key: original.key,
            value: original.value,
            headers: headers,
            timestamp: original.timestamp
        )
        let outcomes = try await Producing.produce(broker: broker, topic: topic, records: [record], createPartitions: 1)
        for case .failure(let error) in outcomes { throw Producing.map(error) }
        ConnectMetrics.deadLettered(connector)
    }
}

/// Produces to a topic, creating it on first use when the broker does not know it.
enum Producing {
    static func produce(
        broker: any Broker,
        topic: String,
        records: [ProducerRecord],
        createPartitions: Int32?
    ) async throws(ConnectError) -> [ProduceOutcome] {
        var created = false
        while true {
            let outcomes: [ProduceOutcome]
            do {
                outcomes = try await broker.produce(topic: topic, records: records, options: ProduceOptions(acks: .all))
            } catch {
                if error.code == .unknownTopicOrPartition && !created {
                    created = true
                    try await create(broker: broker, topic: topic, partitions: createPartitions)
                    continue
                }
                throw map(error)
            }
            if !created,
                outcomes.contains(where: {
                    if case .failure(let e) = $0 { e.code == .unknownTopicOrPartition } else { false }
                })
            {
                created = true
                try await create(broker: broker, topic: topic, partitions: createPartitions)
                continue
            }
            return outcomes
        }
    }

    static func create(broker: any Broker, topic: String, partitions: Int32?) async throws(ConnectError) {
        do {
            _ = try await broker.createTopic(CreateTopicRequest(name: topic, partitions: partitions))
        } catch {
            if error.code != .topicAlreadyExists { throw map(error) }
        }
    }

    /// A broker error as a Connect error: retriable when Kafka says it is.
    static func map(_ error: BrokerError) -> ConnectError {
        let retriable: Set<BrokerError.Code> = [
            .coordinatorNotAvailable, .notEnoughReplicas, .rebalanceInProgress, .brokerNotAvailable, .kafkaStorageError,
        ]
        return ConnectError(retriable.contains(error.code) ? .retriable : .connect, "\(error)")
    }
}

extension Logger {
    /// `errors.log.enable`: one line per failed record.
    func connectError(
        _ error: ConnectError,
        stage: Stage,
        className: String,
        connector: String,
        taskId: Int,
        record: String?
    ) {
        var metadata: Logger.Metadata = [
            "connector": "\(connector)", "task": "\(taskId)", "stage": "\(stage.rawValue)",
            "class": "\(className)", "error": "\(error)",
        ]
        if let record { metadata["record"] = "\(record)" }
        self.error("Error encountered in task", metadata: metadata)
    }
}
