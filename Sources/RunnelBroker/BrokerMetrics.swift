import Metrics
public import RunnelBrokerAPI
import Synchronization

/// The broker's counters and timers, through swift-metrics (Prometheus names: `runnel_broker_…`). Per-topic series
/// are as many as the topics. The same totals are kept as plain numbers for `BrokerTraffic`, which the dashboard
/// samples without going through a metrics backend.
enum BrokerMetrics {
    static let produceDuration = Timer(label: "runnel_broker_produce_request_duration_seconds")
    static let fetchDuration = Timer(label: "runnel_broker_fetch_request_duration_seconds")

    /// The counters of each topic, made once.
    final class TopicCounters: Sendable {
        let messagesIn: Counter
        let bytesIn: Counter
        let bytesOut: Counter
        let messagesInTotal = Atomic<Int>(0)
        let bytesInTotal = Atomic<Int>(0)
        let bytesOutTotal = Atomic<Int>(0)

        init(_ topic: String) {
            messagesIn = Counter(label: "runnel_broker_messages_in_total", dimensions: [("topic", topic)])
            bytesIn = Counter(label: "runnel_broker_bytes_in_total", dimensions: [("topic", topic)])
            bytesOut = Counter(label: "runnel_broker_bytes_out_total", dimensions: [("topic", topic)])
        }
    }

    static let topics = Mutex<[String: TopicCounters]>([:])

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
        counters.messagesInTotal.add(messages, ordering: .relaxed)
        counters.bytesInTotal.add(bytes, ordering: .relaxed)
    }

    static func recordOut(topic: String, bytes: Int) {
        let counters = counters(topic)
        counters.bytesOut.increment(by: bytes)
        counters.bytesOutTotal.add(bytes, ordering: .relaxed)
    }
}

/// What this process's brokers have written and served since it started, per topic: monotonic totals, read by
/// whoever wants rates (the dashboard's sampler takes differences).
public enum BrokerTraffic {
    /// The totals of every topic that has seen traffic.
    public static func totals() -> [String: TopicTraffic] {
        let counters = BrokerMetrics.topics.withLock { $0 }
        return counters.mapValues {
            TopicTraffic(
                messagesIn: $0.messagesInTotal.load(ordering: .relaxed),
                bytesIn: $0.bytesInTotal.load(ordering: .relaxed),
                bytesOut: $0.bytesOutTotal.load(ordering: .relaxed)
            )
        }
    }
}
