public import Logging
import NIOCore
public import RunnelBrokerAPI
import RunnelRecords
public import ServiceLifecycle
import Synchronization

/// `runnel serve --log-topic NAME`: the server's own log lines, as the JSON objects of `--log-format json`, appended
/// to a topic, so a sink connector can ship them to a bucket (as managed Kafka services deliver broker logs to S3).
///
/// Logging must never wait for the broker: handlers only add the line to a bounded buffer (`LogLines`), and
/// `LogTopicPublisher` appends what has gathered a few times a second. Lines logged before the broker is open wait
/// in the buffer; when it is full, the oldest are dropped and counted.
public final class LogLines: Sendable {
    public static let capacity = 10_000
    private let state = Mutex<(lines: [ByteBuffer], dropped: Int)>(([], 0))

    public init() {}

    func append(_ line: ByteBuffer) {
        state.withLock { state in
            if state.lines.count >= Self.capacity {
                state.lines.removeFirst(state.lines.count - Self.capacity + 1)
                state.dropped += 1
            }
            state.lines.append(line)
        }
    }

    /// Takes every line gathered so far, and how many were dropped since the last call.
    func drain() -> (lines: [ByteBuffer], dropped: Int) {
        state.withLock { state in
            defer { state = ([], 0) }
            return state
        }
    }

    /// A log handler that adds each event to this buffer.
    public func handler(label: String) -> some LogHandler {
        Handler(label: label, lines: self)
    }

    struct Handler: LogHandler {
        let label: String
        let lines: LogLines
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            lines.append(JSONLogHandler.line(label: label, event: event, metadata: metadata))
        }
    }
}

public final class LogTopicPublisher: Service, Sendable {
    public let topic: String
    let lines: LogLines
    let broker: any Broker
    let interval: Duration
    let logger: Logger

    public init(
        topic: String,
        lines: LogLines,
        broker: any Broker,
        logger: Logger,
        interval: Duration = .milliseconds(250)
    ) {
        self.topic = topic
        self.lines = lines
        self.broker = broker
        self.logger = logger
        self.interval = interval
    }

    /// Creates the topic (one partition, kept 7 days) unless it exists. Fails on a name the broker refuses.
    public func prepare() async throws(BrokerError) {
        do {
            _ = try await broker.describeTopic(topic)
        } catch let error where error.code == .unknownTopicOrPartition {
            _ = try await broker.createTopic(
                CreateTopicRequest(name: topic, partitions: 1, configs: ["retention.ms": "604800000"])
            )
        }
    }

    public func run() async throws {
        while true {
            await cancelWhenGracefulShutdown { try? await Task.sleep(for: self.interval) }
            await publish()
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
        }
    }

    /// Appends the lines gathered so far. A failed append drops them (logging must not pile up behind the log).
    func publish() async {
        let (gathered, dropped) = lines.drain()
        if dropped > 0 {
            logger.warning(
                "Dropped log lines for the log topic",
                metadata: ["topic": "\(topic)", "lines": "\(dropped)"]
            )
        }
        guard !gathered.isEmpty else { return }
        let records = gathered.map { ProducerRecord(value: $0, partition: 0) }
        do {
            let outcomes = try await broker.produce(
                topic: topic,
                records: records,
                options: ProduceOptions(acks: .leader)
            )
            let failed = outcomes.filter { if case .failure = $0 { true } else { false } }.count
            if failed > 0 {
                logger.debug(
                    "Log lines not appended to the log topic",
                    metadata: ["topic": "\(topic)", "lines": "\(failed)"]
                )
            }
        } catch {
            logger.debug(
                "Log lines not appended to the log topic",
                metadata: ["topic": "\(topic)", "error": "\(error)"]
            )
        }
    }
}
