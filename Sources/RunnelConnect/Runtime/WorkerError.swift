public import RunnelBrokerAPI

/// What the worker refuses or fails at, in its own terms; `ConnectAPI` answers each code with Kafka Connect's status.
public struct WorkerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No such connector, task or plugin.
        public static let notFound = Code("notFound")
        /// A connector of that name exists.
        public static let alreadyExists = Code("alreadyExists")
        /// A config or request the worker cannot accept.
        public static let badRequest = Code("badRequest")
        /// The connector's state does not allow it now (e.g. a running connector's offsets).
        public static let conflict = Code("conflict")
        /// The caller may not do this.
        public static let forbidden = Code("forbidden")
        /// The worker failed (storage, the broker).
        public static let failed = Code("failed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func notFound(_ message: String) -> WorkerError { WorkerError(.notFound, message) }
    public static func alreadyExists(_ message: String) -> WorkerError { WorkerError(.alreadyExists, message) }
    public static func badRequest(_ message: String) -> WorkerError { WorkerError(.badRequest, message) }
    public static func conflict(_ message: String) -> WorkerError { WorkerError(.conflict, message) }
    public static func forbidden(_ message: String) -> WorkerError { WorkerError(.forbidden, message) }
    public static func failed(_ message: String) -> WorkerError { WorkerError(.failed, message) }

    /// A broker call's failure: the caller's own missing rights are its error, anything else the worker's.
    public init(_ error: BrokerError) {
        self.init(error.isAuthorizationFailure ? .forbidden : .failed, error.message)
    }
}
