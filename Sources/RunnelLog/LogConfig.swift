public import RunnelRecords

/// The topic-level settings a log obeys, with Kafka's names and defaults.
///
/// Build one from Kafka properties with ``applying(_:)``; the broker decides which keys a topic may set.
public struct LogConfig: Sendable, Hashable {
    /// `cleanup.policy`: `delete`, `compact`, or both.
    public struct CleanupPolicy: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let delete = CleanupPolicy(rawValue: 1)
        public static let compact = CleanupPolicy(rawValue: 2)

        /// Kafka's spelling: `delete`, `compact` or `compact,delete`.
        public var kafkaValue: String {
            switch (contains(.compact), contains(.delete)) {
            case (true, true): "compact,delete"
            case (true, false): "compact"
            case (false, true): "delete"
            case (false, false): ""
            }
        }
    }

    /// `compression.type`: keep the producer's codec, or recompress every batch to one codec.
    public enum CompressionType: Sendable, Hashable {
        case producer
        case codec(CompressionCodec)

        public var kafkaValue: String {
            switch self {
            case .producer: "producer"
            case .codec(.none): "uncompressed"
            case .codec(let codec): codec.name
            }
        }
    }

    /// `segment.bytes`: roll to a new segment when the active one would grow past this.
    public var segmentBytes = 1 << 30
    /// `segment.ms`: roll when the active segment's first record is this old (by record timestamp).
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    /// `segment.jitter.ms`: subtracted from `segment.ms`, so many partitions do not roll at once.
    public var segmentJitterMs: Int64 = 0
    /// `segment.index.bytes`: the largest `.index`/`.timeindex`; a full index rolls the segment.
    public var segmentIndexBytes = 10 << 20
    /// `index.interval.bytes`: bytes of log between two offset-index entries.
    public var indexIntervalBytes = 4096
    /// `retention.ms`: delete segments whose newest record is older than this; -1 keeps them forever.
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// `retention.bytes`: delete the oldest segments while the log is larger than this; -1 for no limit.
    public var retentionBytes: Int64 = -1
    /// `cleanup.policy`.
    public var cleanupPolicy: CleanupPolicy = .delete
    /// `min.cleanable.dirty.ratio`: compact when uncompacted bytes are at least this share of the log.
    public var minCleanableDirtyRatio = 0.5
    /// `delete.retention.ms`: how long tombstones stay readable after their batch is first compacted.
    public var deleteRetentionMs: Int64 = 86_400_000
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    public var minCompactionLagMs: Int64 = 0
    /// `max.compaction.lag.ms`: a log with records older than this is compacted whatever its dirty ratio.
    public var maxCompactionLagMs: Int64 = .max
    /// `flush.messages`: fsync after this many messages; 1 means every append is durable before it is acknowledged.
    public var flushMessages: Int64 = .max
    /// `flush.ms`: fsync data older than this.
    public var flushMs: Int64 = .max
    /// `max.message.bytes`: the largest record batch the log accepts.
    public var maxMessageBytes = 1_048_588
    /// `message.timestamp.type`.
    public var messageTimestampType: TimestampType = .createTime
    /// `message.timestamp.before.max.ms`: CreateTime timestamps further in the past are rejected.
    public var messageTimestampBeforeMaxMs: Int64 = .max
    /// `message.timestamp.after.max.ms`: CreateTime timestamps further in the future are rejected.
    public var messageTimestampAfterMaxMs: Int64 = .max
    /// `compression.type`.
    public var compressionType: CompressionType = .producer

    public init() {}

    /// The keys this type understands.
    public static let keys: [String] = [
        "cleanup.policy", "compression.type", "delete.retention.ms", "flush.messages", "flush.ms",
        "index.interval.bytes", "max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms", "message.timestamp.type", "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms", "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes",
        "segment.jitter.ms", "segment.ms",
    ]

    /// This config with Kafka-named properties applied. Unknown keys and bad values are errors; nothing is applied
    /// unless everything is valid.
    public func applying(_ properties: [String: String]) throws(LogError) -> LogConfig {
        var config = self
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            try config.set(key, value)
        }
        return config
    }

    private mutating func set(_ key: String, _ value: String) throws(LogError) {
        switch key {
        case "cleanup.policy":
            var policy: CleanupPolicy = []
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                switch item.trimmingWhitespace().lowercased() {
                case "delete": policy.insert(.delete)
                case "compact": policy.insert(.compact)
                default:
                    throw LogError(
                        .invalidConfig,
                        "Invalid value \(value) for configuration cleanup.policy: must be delete, compact or compact,delete"
                    )
                }
            }
            cleanupPolicy = policy
        case "compression.type":
            switch value.lowercased() {
            case "producer": compressionType = .producer
            case "uncompressed", "none": compressionType = .codec(.none)
            case "gzip": compressionType = .codec(.gzip)
            case "snappy", "lz4", "zstd":
                throw LogError(
                    .invalidConfig,
                    "Invalid value \(value) for configuration compression.type: \(value) is not supported by this build (use producer, uncompressed or gzip)"
                )
            default:
                throw LogError(
                    .invalidConfig,
                    "Invalid value \(value) for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"
                )
            }
        case "delete.retention.ms": deleteRetentionMs = try Self.long(key, value, atLeast: 0)
        case "flush.messages": flushMessages = try Self.long(key, value, atLeast: 1)
        case "flush.ms": flushMs = try Self.long(key, value, atLeast: 0)
        case "index.interval.bytes": indexIntervalBytes = try Self.int(key, value, atLeast: 0)
        case "max.compaction.lag.ms": maxCompactionLagMs = try Self.long(key, value, atLeast: 1)
        case "max.message.bytes": maxMessageBytes = try Self.int(key, value, atLeast: 0)
        case "message.timestamp.after.max.ms": messageTimestampAfterMaxMs = try Self.long(key, value, atLeast: 0)
        case "message.timestamp.before.max.ms": messageTimestampBeforeMaxMs = try Self.long(key, value, atLeast: 0)
        case "message.timestamp.type":
            switch value {
            case "CreateTime": messageTimestampType = .createTime
            case "LogAppendTime": messageTimestampType = .logAppendTime
            default:
                throw LogError(
                    .invalidConfig,
                    "Invalid value \(value) for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"
                )
            }
        case "min.cleanable.dirty.ratio":
            guard let ratio = Double(value), ratio >= 0, ratio <= 1 else {
                throw LogError(
                    .invalidConfig,
                    "Invalid value \(value) for configuration min.cleanable.dirty.ratio: Value must be between 0 and 1"
                )
            }
            minCleanableDirtyRatio = ratio
        case "min.compaction.lag.ms": minCompactionLagMs = try Self.long(key, value, atLeast: 0)
        case "retention.bytes": retentionBytes = try Self.long(key, value, atLeast: -1)
        case "retention.ms": retentionMs = try Self.long(key, value, atLeast: -1)
        case "segment.bytes": segmentBytes = try Self.int(key, value, atLeast: 14)
        case "segment.index.bytes": segmentIndexBytes = try Self.int(key, value, atLeast: 4)
        case "segment.jitter.ms": segmentJitterMs = try Self.long(key, value, atLeast: 0)
        case "segment.ms": segmentMs = try Self.long(key, value, atLeast: 1)
        default:
            throw LogError(.invalidConfig, "Unknown topic config name: \(key)")
        }
    }

    private static func long(_ key: String, _ value: String, atLeast minimum: Int64) throws(LogError) -> Int64 {
        guard let number = Int64(value.trimmingWhitespace()) else {
            throw LogError(.invalidConfig, "Invalid value \(value) for configuration \(key): Not a number of type LONG")
        }
        guard number >= minimum else {
            throw LogError(
                .invalidConfig,
                "Invalid value \(value) for configuration \(key): Value must be at least \(minimum)"
            )
        }
        return number
    }

    private static func int(_ key: String, _ value: String, atLeast minimum: Int) throws(LogError) -> Int {
        guard let number = Int32(value.trimmingWhitespace()) else {
            throw LogError(.invalidConfig, "Invalid value \(value) for configuration \(key): Not a number of type INT")
        }
        guard number >= minimum else {
            throw LogError(
                .invalidConfig,
                "Invalid value \(value) for configuration \(key): Value must be at least \(minimum)"
            )
        }
        return Int(number)
    }

    /// Every setting as Kafka properties (the inverse of ``applying(_:)``).
    public var properties: [String: String] {
        [
            "cleanup.policy": cleanupPolicy.kafkaValue,
            "compression.type": compressionType.kafkaValue,
            "delete.retention.ms": String(deleteRetentionMs),
            "flush.messages": String(flushMessages),
            "flush.ms": String(flushMs),
            "index.interval.bytes": String(indexIntervalBytes),
            "max.compaction.lag.ms": String(maxCompactionLagMs),
            "max.message.bytes": String(maxMessageBytes),
            "message.timestamp.after.max.ms": String(messageTimestampAfterMaxMs),
            "message.timestamp.before.max.ms": String(messageTimestampBeforeMaxMs),
            "message.timestamp.type": messageTimestampType.description,
            "min.cleanable.dirty.ratio": String(minCleanableDirtyRatio),
            "min.compaction.lag.ms": String(minCompactionLagMs),
            "retention.bytes": String(retentionBytes),
            "retention.ms": String(retentionMs),
            "segment.bytes": String(segmentBytes),
            "segment.index.bytes": String(segmentIndexBytes),
            "segment.jitter.ms": String(segmentJitterMs),
            "segment.ms": String(segmentMs),
        ]
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }
}
