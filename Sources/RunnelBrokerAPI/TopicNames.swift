import RunnelRecords

/// Kafka's topic name rules (`org.apache.kafka.common.internals.Topic`).
public enum TopicNames {
    /// The offsets topic of the group coordinator.
    public static let consumerOffsets = "__consumer_offsets"
    /// Kafka's transaction log; reserved even though this broker has no transactions.
    public static let transactionState = "__transaction_state"
    /// Names no user may create, delete or resize.
    public static let internalTopics: Set<String> = [consumerOffsets, transactionState]

    /// Checks a topic name: non-empty, not `.` or `..`, at most 249 characters, only ASCII letters, digits, `.`,
    /// `_` and `-` (the rules that also keep partition directories safe on disk).
    public static func validate(_ name: String) throws(BrokerError) {
        do throws(RecordError) {
            try TopicPartition.validateTopicName(name)
        } catch {
            throw BrokerError(.invalidTopic, error.message)
        }
    }

    /// Why `name` is not a valid topic name (Kafka's rules), or nil.
    public static func problem(_ name: String) -> String? {
        do throws(BrokerError) {
            try validate(name)
            return nil
        } catch {
            return error.message
        }
    }

    /// Whether a name has both `.` and `_`, which Kafka's metric names cannot tell apart (allowed, with a warning).
    public static func hasCollisionChars(_ name: String) -> Bool {
        name.contains(".") && name.contains("_")
    }

    /// The name with `.` folded to `_`: two topics whose folded names are equal collide.
    public static func unifyCollisionChars(_ name: String) -> String {
        String(name.map { $0 == "." ? "_" : $0 })
    }

    /// The partition of `__consumer_offsets` holding a group's offsets: Kafka's
    /// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with Java's `String.hashCode`.
    public static func offsetsPartition(forGroup groupId: String, partitions: Int32) -> Int32 {
        var hash: Int32 = 0
        for unit in groupId.utf16 { hash = 31 &* hash &+ Int32(unit) }
        let positive = hash == .min ? 0 : abs(hash)
        return positive % partitions
    }
}
