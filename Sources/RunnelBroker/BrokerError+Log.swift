import RunnelBrokerAPI
import RunnelLog
import RunnelRecords

extension BrokerError {
    /// The broker's reading of a log engine error.
    init(_ error: LogError) {
        switch error.code {
        case .offsetOutOfRange: self.init(.offsetOutOfRange, error.message)
        case .recordBatchTooLarge: self.init(.messageTooLarge, error.message)
        case .corruptRecord: self.init(.corruptMessage, error.message)
        case .invalidRecord: self.init(.invalidRecord, error.message)
        case .unsupportedCompression: self.init(.unsupportedCompressionType, error.message)
        case .invalidConfig: self.init(.invalidConfig, error.message)
        case .invalidTopicPartition: self.init(.invalidTopic, error.message)
        case .unknownLog: self.init(.unknownTopicOrPartition, error.message)
        case .logClosed: self.init(.brokerNotAvailable, error.message)
        case .tooManyOpenFiles: self.init(.policyViolation, error.message)
        default: self.init(.kafkaStorageError, error.message)
        }
    }
}
