public import CoreMetrics
public import Prometheus

/// swift-metrics into a Prometheus registry, with the help text of each of Runnel's metrics (Prometheus tooling, such
/// as `promtool check metrics`, expects one) and histogram buckets suited to each timer.
public struct RunnelMetricsFactory: MetricsFactory {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    static let help: [String: String] = [
        "runnel_http_requests_total": "HTTP requests answered, by listener, method, route template and status.",
        "runnel_http_request_duration_seconds": "Time to answer HTTP requests, by listener, method and route template.",
        "runnel_broker_messages_in_total": "Records appended to a topic.",
        "runnel_broker_bytes_in_total": "Bytes of keys and values appended to a topic.",
        "runnel_broker_bytes_out_total": "Bytes of record batches read by fetches from a topic.",
        "runnel_broker_produce_request_duration_seconds": "Time to append the records of a produce request.",
        "runnel_broker_fetch_request_duration_seconds": "Time to answer a fetch, its long-poll wait included.",
        "runnel_connect_source_records_polled_total": "Records polled by a source connector's tasks.",
        "runnel_connect_sink_records_put_total": "Records given to a sink connector's tasks.",
        "runnel_connect_record_errors_total":
            "Records of a connector that failed in a converter, a transform, the task or the producer.",
        "runnel_connect_dlq_records_total": "Records of a sink connector sent to its dead letter queue.",
        "runnel_connect_offset_commit_duration_seconds": "Time to commit a connector's offsets.",
        "runnel_log_flush_duration_seconds": "Time to fsync a log segment (the group commit of appends).",
    ]

    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    /// The label as the whole metric name, with its help text.
    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: Self.help[label] ?? "")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(
        label: String,
        dimensions: [(String, String)]
    ) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: Self.buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
