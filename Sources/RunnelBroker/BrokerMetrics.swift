import Metrics

/// The broker's counters and timers, through swift-metrics (Prometheus names: `runnel_broker_…`). Per-topic series
/// are as many as the topics.
enum BrokerMetrics {
    static let produceDuration = Timer(label: "runnel_broker_produce_request_duration_seconds")
    static let fetchDuration = Timer(label: "runnel_broker_fetch_request_duration_seconds")

    static func recordIn(topic: String, messages: Int, bytes: Int) {
        Counter(label: "runnel_broker_messages_in_total", dimensions: [("topic", topic)]).increment(by: messages)
        Counter(label: "runnel_broker_bytes_in_total", dimensions: [("topic", topic)]).increment(by: bytes)
    }

    static func recordOut(topic: String, bytes: Int) {
        Counter(label: "runnel_broker_bytes_out_total", dimensions: [("topic", topic)]).increment(by: bytes)
    }
}

extension Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
