public import RunnelRecords

/// The one error type of the log engine.
///
/// Callers switch on ``code``; ``message`` is written for the person reading a log line or an API error body.
public struct LogError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, independent of the message text.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Bytes that do not form a valid record batch (bad CRC, bad length, truncated record, bad varint).
        public static let corruptRecord = Code("corruptRecord")
        /// A well-formed batch that breaks a rule (offset deltas out of order, key missing on a compacted log).
        public static let invalidRecord = Code("invalidRecord")
        /// A batch compressed with a codec this build cannot read or write (snappy, lz4, zstd).
        public static let unsupportedCompression = Code("unsupportedCompression")
        /// A batch larger than `max.message.bytes`.
        public static let recordBatchTooLarge = Code("recordBatchTooLarge")
        /// A read or lookup below the log start offset or above the log end offset.
        public static let offsetOutOfRange = Code("offsetOutOfRange")
        /// A topic-level config with an unknown value or out of its range.
        public static let invalidConfig = Code("invalidConfig")
        /// A topic name or partition that cannot name a log directory.
        public static let invalidTopicPartition = Code("invalidTopicPartition")
        /// A checkpoint file that does not follow Kafka's checkpoint format.
        public static let corruptCheckpoint = Code("corruptCheckpoint")
        /// An `.index` or `.timeindex` file that does not match its segment.
        public static let corruptIndex = Code("corruptIndex")
        /// The log (or the whole log manager) has been closed or deleted.
        public static let logClosed = Code("logClosed")
        /// A log for this topic-partition already exists.
        public static let logAlreadyExists = Code("logAlreadyExists")
        /// No log exists for this topic-partition.
        public static let unknownLog = Code("unknownLog")
        /// The process cannot hold the files this would open (its open-file limit; see ``DescriptorBudget``).
        public static let tooManyOpenFiles = Code("tooManyOpenFiles")
        /// An operating-system I/O call failed (the message names the call, the file and errno).
        public static let storage = Code("storage")
        /// Internal: a segment was deleted or replaced while a reader used it; the reader retries.
        static let segmentRetired = Code("segmentRetired")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension LogError {
    /// A record format error, as the log engine reports it.
    public init(_ error: RecordError) {
        switch error.code {
        case .corruptRecord: self.init(.corruptRecord, error.message)
        case .invalidRecord: self.init(.invalidRecord, error.message)
        case .unsupportedCompression: self.init(.unsupportedCompression, error.message)
        case .invalidTopicPartition: self.init(.invalidTopicPartition, error.message)
        default: self.init(.corruptRecord, error.message)
        }
    }
}

/// Runs record-format code, reporting its errors as the log engine's.
public func recordFormat<T>(_ body: () throws(RecordError) -> T) throws(LogError) -> T {
    do {
        return try body()
    } catch {
        throw LogError(error)
    }
}
