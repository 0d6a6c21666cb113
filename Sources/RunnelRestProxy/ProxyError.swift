import HTTPTypes
public import RunnelBrokerAPI
public import RunnelHTTP
import RunnelJSON
import RunnelRecords

/// Every broker error's answer over HTTP, in one place: Confluent's `error_code`s (and its HTTP statuses), except
/// that nothing a client can cause is a 500.
extension APIError {
    public init(_ error: BrokerError) {
        switch error.code {
        case .unknownTopicOrPartition:
            self.init(.notFound, 40403, error.message)
        case .invalidTopic, .topicAlreadyExists, .invalidPartitions, .invalidReplicationFactor, .invalidConfig,
            .invalidRequest, .policyViolation, .invalidGroupId, .invalidSessionTimeout, .invalidTimestamp,
            .invalidRecord, .messageTooLarge, .recordListTooLarge, .unsupportedCompressionType,
            .offsetMetadataTooLarge, .invalidCommitOffsetSize:
            self.init(.badRequest, 40002, error.message)
        case .groupIdNotFound:
            self.init(.notFound, 40405, error.message)
        case .nonEmptyGroup, .rebalanceInProgress, .illegalGeneration, .unknownMemberId, .inconsistentGroupProtocol,
            .offsetOutOfRange, .groupMaxSizeReached:
            self.init(.conflict, 40903, "Illegal state: \(error.message)")
        case .corruptMessage:
            // Records the proxy reads come from the server's own log: damaged ones are the server's failure.
            self.init(.internalServerError, 50002, error.message)
        case .notEnoughReplicas, .coordinatorNotAvailable:
            self.init(.internalServerError, 50003, error.message)
        case .topicAuthorizationFailed, .groupAuthorizationFailed, .clusterAuthorizationFailed:
            self.init(.forbidden, 40301, error.message)
        case .throttlingQuotaExceeded:
            self.init(.tooManyRequests, 429, error.message)
        case .brokerNotAvailable:
            self.init(.serviceUnavailable, 50302, error.message)
        default:
            self.init(.internalServerError, 50002, error.message)
        }
    }

    // MARK: Confluent's errors by name

    static func topicNotFound() -> APIError { APIError(.notFound, 40401, "Topic not found.") }
    static func partitionNotFound() -> APIError { APIError(.notFound, 40402, "Partition not found.") }
    static func consumerInstanceNotFound() -> APIError { APIError(.notFound, 40403, "Consumer instance not found.") }
    static func consumerAlreadyExists(_ name: String) -> APIError {
        APIError(
            .conflict,
            40902,
            "Consumer with specified consumer ID already exists in the specified consumer group: \(name)"
        )
    }
    static func illegalState(_ message: String) -> APIError { APIError(.conflict, 40903, "Illegal state: \(message)") }
    static func formatMismatch() -> APIError {
        APIError(
            .notAcceptable,
            40601,
            "The requested embedded data format does not match the deserializer for this consumer instance"
        )
    }
    static func payload(_ message: String) -> APIError {
        APIError(.unprocessableContent, 42206, "Payload error. \(message)")
    }
    static func batch(_ message: String) -> APIError {
        APIError(.unprocessableContent, 42208, message)
    }
    static func invalidConsumerConfig(_ message: String) -> APIError {
        APIError(.unprocessableContent, 42204, message)
    }
    static func clusterNotFound(_ id: String) -> APIError {
        APIError(.notFound, 404, "Cluster \(id) cannot be found.")
    }
    static func schemaRegistryRequired(_ format: String) -> APIError {
        APIError(
            .unprocessableContent,
            42206,
            "Payload error. Schema Registry must be configured when using schemas (format \(format)): this server has no schema registry; use binary, json or string."
        )
    }
}

extension ConsumerError: APIErrorConvertible {
    var apiError: APIError {
        switch self {
        case .instanceExists(let name): .consumerAlreadyExists(name)
        case .instanceNotFound: .consumerInstanceNotFound()
        case .illegalState(let message): .illegalState(message)
        case .commitFailed(let tp, let error) where error.code == .unknownTopicOrPartition:
            APIError(.notFound, 40403, "\(error.message) (\(tp.topic)-\(tp.partition))")
        case .commitFailed(_, let error), .broker(let error): APIError(error)
        }
    }
}

extension APIError {
    /// A failed record's `error_code` in a v2 produce response: 50003 when retrying may succeed, 50002 otherwise
    /// (Confluent's codes), with the unknown-partition and bad-record cases named more precisely.
    static func produceRecordErrorCode(_ error: BrokerError) -> Int {
        switch error.code {
        case .unknownTopicOrPartition: 40402
        case .notEnoughReplicas, .coordinatorNotAvailable, .brokerNotAvailable: 50003
        case .messageTooLarge, .recordListTooLarge, .invalidRecord, .invalidTimestamp, .corruptMessage: 42206
        default: 50002
        }
    }
}

/// Runs a broker call, its error answered as the API's (the one mapping above).
public func brokerCall<T>(_ body: () async throws(BrokerError) -> T) async throws(APIError) -> T {
    do {
        return try await body()
    } catch {
        throw APIError(error)
    }
}
