import Metrics
import Synchronization

/// The broker's counters and timers, through swift-metrics (Prometheus names: `runnel_broker_…`). Per-topic series
/// are as many as the topics.
enum BrokerMetrics {
    static let produceDuration = Timer(label: "runnel_broker_produce_request_duration_seconds")
    static let fetchDuration = Timer(label: "runnel_broker_fetch_request_duration_seconds")

    /// The counters of each topic, made once.
    private struct TopicCounters {
        let messagesIn: Counter
        let bytesIn: Counter
        let bytesOut: Counter

        init(_ topic: String) {
            messagesIn = Counter(label: "runnel_broker_messages_in_total", dimensions: [("topic", topic)])
            bytesIn = Counter(label: "runnel_broker_bytes_in_total", dimensions: [("topic", topic)])
            bytesOut = Counter(label: "runnel_broker_bytes_out_total", dimensions: [("topic", topic)])
        }
    }

    private static let topics = Mutex<[String: TopicCounters]>([:])

    private static func counters(_ topic: String) -> TopicCounters {
        topics.withLock { topics in
            if let found = topics[topic] { return found }
            let made = TopicCounters(topic)
            topics[topic] = made
            return made
        }
    }

    static func recordIn(topic: String, messages: Int, bytes: Int) {
        let counters = counters(topic)
        counters.messagesIn.increment(by: messages)
        counters.bytesIn.increment(by: bytes)
    }

    static func recordOut(topic: String, bytes: Int) {
        counters(topic).bytesOut.increment(by: bytes)
    }
}
