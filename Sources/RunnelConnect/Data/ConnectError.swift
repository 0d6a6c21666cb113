/// An error of a connector, a task, a converter or a transform. `kind` names it the way Kafka Connect's exception
/// classes do, which is what a failed task's trace and the dead letter queue's context headers show.
public struct ConnectError: Error, Sendable, CustomStringConvertible, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// A bad config value.
        case config = "org.apache.kafka.common.config.ConfigException"
        /// A record's data cannot be converted or transformed.
        case data = "org.apache.kafka.connect.errors.DataException"
        /// A failure that may go away when retried (I/O, an unavailable broker).
        case retriable = "org.apache.kafka.connect.errors.RetriableException"
        /// Any other failure of a connector or a task.
        case connect = "org.apache.kafka.connect.errors.ConnectException"
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func config(_ message: String) -> ConnectError { ConnectError(.config, message) }
    public static func data(_ message: String) -> ConnectError { ConnectError(.data, message) }
    public static func retriable(_ message: String) -> ConnectError { ConnectError(.retriable, message) }
    public static func failure(_ message: String) -> ConnectError { ConnectError(.connect, message) }

    /// Wraps any error as a ConnectError of `kind`, keeping a ConnectError as it is.
    public static func wrapping(_ error: any Error, as kind: Kind = .connect) -> ConnectError {
        if let error = error as? ConnectError { return error }
        return ConnectError(kind, "\(error)")
    }

    public var className: String { kind.rawValue }
    /// The Java-style first line of a trace: `<class>: <message>`.
    public var description: String { "\(kind.rawValue): \(message)" }
}
