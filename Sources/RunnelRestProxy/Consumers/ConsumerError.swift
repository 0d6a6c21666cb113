import RunnelBrokerAPI
import RunnelRecords

/// What v2 consumer instances refuse, in their own terms; ProxyError.swift answers each as Confluent's error.
enum ConsumerError: Error {
    /// An instance of this name exists in the group already.
    case instanceExists(String)
    case instanceNotFound
    /// A request the instance's state does not allow (Confluent's "Illegal state").
    case illegalState(String)
    /// A commit the broker refused for this partition.
    case commitFailed(TopicPartition, BrokerError)
    /// What the broker answered.
    case broker(BrokerError)
}
