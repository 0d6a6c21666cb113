/// The one error type of Kafka's record format: bytes that are not a valid record batch, a batch that breaks a rule,
/// a codec this build lacks, a name that cannot be a topic.
///
/// Callers switch on ``code``; ``message`` is written for the person reading a log line or an API error body.
public struct RecordError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Bytes that do not form a valid record batch (bad CRC, bad length, truncated record, bad varint).
        public static let corruptRecord = Code("corruptRecord")
        /// A well-formed batch that breaks a rule (offset deltas out of order, an empty batch).
        public static let invalidRecord = Code("invalidRecord")
        /// A batch compressed with a codec this build cannot read or write (snappy, lz4, zstd).
        public static let unsupportedCompression = Code("unsupportedCompression")
        /// A topic name or partition that Kafka's rules refuse.
        public static let invalidTopicPartition = Code("invalidTopicPartition")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
