/// What a connector should be doing, as set by create, pause, resume and stop (Kafka's target states).
public enum TargetState: String, Sendable, Hashable {
    case started = "STARTED"
    case paused = "PAUSED"
    case stopped = "STOPPED"

    /// From a create request's `initial_state` (RUNNING, PAUSED or STOPPED, any case).
    init?(initialState: String) {
        switch initialState.uppercased() {
        case "RUNNING": self = .started
        case "PAUSED": self = .paused
        case "STOPPED": self = .stopped
        default: return nil
        }
    }
}

/// What a connector or task is doing now (Kafka's runtime states).
public enum RuntimeState: String, Sendable, Hashable {
    case unassigned = "UNASSIGNED"
    case running = "RUNNING"
    case paused = "PAUSED"
    case stopped = "STOPPED"
    case failed = "FAILED"
    case restarting = "RESTARTING"
}

public struct ConnectorStatus: Sendable, Hashable {
    public var state: RuntimeState
    /// Why it failed (the error's class and message, then where it happened).
    public var trace: String?
    public var workerId: String

    public init(state: RuntimeState, trace: String? = nil, workerId: String) {
        self.state = state
        self.trace = trace
        self.workerId = workerId
    }
}

/// The worker's own settings (`--config` keys of Kafka's worker config it understands).
public struct WorkerConfiguration: Sendable {
    /// Converter settings every connector inherits (`key.converter`, `value.converter`, their `.`-prefixed keys).
    public var converterDefaults: [String: String] = [
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    ]
    /// How often sink offsets are committed when a connector does not say (`offset.flush.interval.ms`).
    public var offsetFlushIntervalMs: Int64 = 60_000
    /// Where connector plugins that write files put them by default (the data directory).
    public var dataDirectory: String
    /// The folders connectors may read and write on the server (nil: the data directory).
    public var fileRoots: [String]?
    /// Files connectors may never use, wherever they are (the TLS key and certificates).
    public var reservedFiles: [String] = []

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    /// Applies the worker keys found in a properties file; returns the keys it used.
    public mutating func apply(properties: [String: String]) throws(ConnectError) -> Set<String> {
        var used: Set<String> = []
        for (key, value) in properties where key.hasPrefix("key.converter") || key.hasPrefix("value.converter") {
            converterDefaults[key] = value
            used.insert(key)
        }
        if let text = properties["offset.flush.interval.ms"] {
            guard let value = Int64(text), value > 0 else {
                throw .config(
                    "Invalid value \(text) for configuration offset.flush.interval.ms: must be a positive number"
                )
            }
            offsetFlushIntervalMs = value
            used.insert("offset.flush.interval.ms")
        }
        return used
    }
}
