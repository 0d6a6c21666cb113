import RunnelRecords

/// A server-wide durability choice; it sets the default `flush.messages` / `flush.ms` of every log.
public enum FlushPolicy: Sendable, Hashable {
    /// fsync before acknowledging every append (`flush.messages=1`); concurrent appends share one fsync.
    case everyAppend
    /// fsync every `milliseconds` (`flush.ms`); an acknowledged append may be lost on power failure, not on a crash.
    case interval(milliseconds: Int64)
    /// Never force an fsync; the operating system writes data back (Kafka's default, which relies on replication).
    case operatingSystem

    /// The config with this policy's `flush.messages` and `flush.ms`.
    public func applied(to config: LogConfig) -> LogConfig {
        var config = config
        switch self {
        case .everyAppend:
            config.flushMessages = 1
            config.flushMs = .max
        case .interval(let milliseconds):
            config.flushMessages = .max
            config.flushMs = milliseconds
        case .operatingSystem:
            config.flushMessages = .max
            config.flushMs = .max
        }
        return config
    }
}
