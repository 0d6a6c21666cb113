public import RunnelRecords

/// The one error type of the broker seam. Each code carries Kafka's protocol error name and number, so every front
/// end maps it in one place (the REST proxy to Confluent's `error_code`, a Kafka listener to the wire code).
public struct BrokerError: Error, Sendable, CustomStringConvertible, Hashable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Kafka's error name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
        public let name: String
        /// Kafka's protocol error code, e.g. 3.
        public let kafkaCode: Int16

        init(_ name: String, _ kafkaCode: Int16) {
            self.name = name
            self.kafkaCode = kafkaCode
        }

        public var description: String { name }

        public static let unknownServerError = Code("UNKNOWN_SERVER_ERROR", -1)
        public static let offsetOutOfRange = Code("OFFSET_OUT_OF_RANGE", 1)
        public static let corruptMessage = Code("CORRUPT_MESSAGE", 2)
        public static let unknownTopicOrPartition = Code("UNKNOWN_TOPIC_OR_PARTITION", 3)
        public static let messageTooLarge = Code("MESSAGE_TOO_LARGE", 10)
        public static let offsetMetadataTooLarge = Code("OFFSET_METADATA_TOO_LARGE", 12)
        public static let coordinatorNotAvailable = Code("COORDINATOR_NOT_AVAILABLE", 15)
        public static let invalidTopic = Code("INVALID_TOPIC_EXCEPTION", 17)
        public static let recordListTooLarge = Code("RECORD_LIST_TOO_LARGE", 18)
        public static let notEnoughReplicas = Code("NOT_ENOUGH_REPLICAS", 19)
        public static let illegalGeneration = Code("ILLEGAL_GENERATION", 22)
        public static let inconsistentGroupProtocol = Code("INCONSISTENT_GROUP_PROTOCOL", 23)
        public static let invalidGroupId = Code("INVALID_GROUP_ID", 24)
        public static let unknownMemberId = Code("UNKNOWN_MEMBER_ID", 25)
        public static let invalidSessionTimeout = Code("INVALID_SESSION_TIMEOUT", 26)
        public static let rebalanceInProgress = Code("REBALANCE_IN_PROGRESS", 27)
        public static let invalidCommitOffsetSize = Code("INVALID_COMMIT_OFFSET_SIZE", 28)
        public static let invalidTimestamp = Code("INVALID_TIMESTAMP", 32)
        public static let topicAlreadyExists = Code("TOPIC_ALREADY_EXISTS", 36)
        public static let invalidPartitions = Code("INVALID_PARTITIONS", 37)
        public static let invalidReplicationFactor = Code("INVALID_REPLICATION_FACTOR", 38)
        public static let invalidRequest = Code("INVALID_REQUEST", 42)
        public static let policyViolation = Code("POLICY_VIOLATION", 44)
        public static let invalidConfig = Code("INVALID_CONFIG", 40)
        public static let kafkaStorageError = Code("KAFKA_STORAGE_ERROR", 56)
        public static let unsupportedCompressionType = Code("UNSUPPORTED_COMPRESSION_TYPE", 76)
        public static let nonEmptyGroup = Code("NON_EMPTY_GROUP", 68)
        public static let groupIdNotFound = Code("GROUP_ID_NOT_FOUND", 69)
        public static let memberIdRequired = Code("MEMBER_ID_REQUIRED", 79)
        public static let groupMaxSizeReached = Code("GROUP_MAX_SIZE_REACHED", 81)
        public static let fencedInstanceId = Code("FENCED_INSTANCE_ID", 82)
        public static let invalidRecord = Code("INVALID_RECORD", 87)
        public static let brokerNotAvailable = Code("BROKER_NOT_AVAILABLE", 8)
        public static let topicAuthorizationFailed = Code("TOPIC_AUTHORIZATION_FAILED", 29)
        public static let groupAuthorizationFailed = Code("GROUP_AUTHORIZATION_FAILED", 30)
        public static let clusterAuthorizationFailed = Code("CLUSTER_AUTHORIZATION_FAILED", 31)
        public static let throttlingQuotaExceeded = Code("THROTTLING_QUOTA_EXCEEDED", 89)
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name): \(message)" }

    /// The caller may not do what it asked (Kafka's TOPIC/GROUP/CLUSTER_AUTHORIZATION_FAILED).
    public var isAuthorizationFailure: Bool {
        code == .topicAuthorizationFailed || code == .groupAuthorizationFailed || code == .clusterAuthorizationFailed
    }
}

/// Errors raised in several places, worded once.
extension BrokerError {
    package static func unknownTopic(_ topic: String) -> BrokerError {
        BrokerError(.unknownTopicOrPartition, "This server does not host this topic: \(topic)")
    }

    package static func unknownPartition(_ topicPartition: TopicPartition) -> BrokerError {
        BrokerError(.unknownTopicOrPartition, "This server does not host this topic-partition: \(topicPartition)")
    }

    package static let emptyGroupId = BrokerError(.invalidGroupId, "The group id must not be empty")
}

extension BrokerError {
    /// The broker's reading of a record format error (a batch that does not decode, a name Kafka refuses).
    public init(_ error: RecordError) {
        switch error.code {
        case .corruptRecord: self.init(.corruptMessage, error.message)
        case .invalidRecord: self.init(.invalidRecord, error.message)
        case .unsupportedCompression: self.init(.unsupportedCompressionType, error.message)
        case .invalidTopicPartition: self.init(.invalidTopic, error.message)
        default: self.init(.corruptMessage, error.message)
        }
    }
}
