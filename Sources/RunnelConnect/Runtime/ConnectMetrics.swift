import Metrics

/// The worker's counters and timers, through swift-metrics (Prometheus names: `runnel_connect_…`), one series per
/// connector.
enum ConnectMetrics {
    /// Records a source task polled, or a sink task was given.
    static func records(_ connector: String, _ type: ConnectorType, _ count: Int) {
        guard count > 0 else { return }
        let label =
            type == .source ? "runnel_connect_source_records_polled_total" : "runnel_connect_sink_records_put_total"
        Counter(label: label, dimensions: [("connector", connector)]).increment(by: count)
    }

    /// A record that failed in a converter, a transform, the task or the producer (tolerated or not).
    static func recordError(_ connector: String) {
        Counter(label: "runnel_connect_record_errors_total", dimensions: [("connector", connector)]).increment()
    }

    static func deadLettered(_ connector: String) {
        Counter(label: "runnel_connect_dlq_records_total", dimensions: [("connector", connector)]).increment()
    }

    static func offsetCommit(_ connector: String, since start: ContinuousClock.Instant) {
        Timer(label: "runnel_connect_offset_commit_duration_seconds", dimensions: [("connector", connector)])
            .record(duration: ContinuousClock.now - start)
    }
}
