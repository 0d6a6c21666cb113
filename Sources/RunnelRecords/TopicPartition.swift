/// A topic name and partition number: the identity of one log.
///
/// The topic name follows Kafka's rules for legal characters and length, which also makes `<topic>-<partition>` a
/// safe directory name. Rules about reserved or colliding names belong to the broker.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    /// Kafka's limit: 249 characters.
    public static let maxTopicNameLength = 249

    public init(topic: String, partition: Int32) throws(RecordError) {
        try TopicPartition.validateTopicName(topic)
        guard partition >= 0 else {
            throw RecordError(.invalidTopicPartition, "partition \(partition) is negative")
        }
        self.topic = topic
        self.partition = partition
    }

    /// A topic-partition whose topic name was checked before (a stored topic's): no check again.
    package init(checkedTopic topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// Checks Kafka's topic name rules: non-empty, not `.` or `..`, at most 249 characters of `[a-zA-Z0-9._-]`.
    public static func validateTopicName(_ name: String) throws(RecordError) {
        // Kafka's wording (org.apache.kafka.common.internals.Topic.validate).
        guard !name.isEmpty else {
            throw RecordError(.invalidTopicPartition, "Topic name is illegal, it can't be empty")
        }
        guard name != "." && name != ".." else {
            throw RecordError(.invalidTopicPartition, "Topic name cannot be \".\" or \"..\"")
        }
        guard name.utf8.count <= maxTopicNameLength else {
            throw RecordError(
                .invalidTopicPartition,
                "Topic name is illegal, it can't be longer than \(maxTopicNameLength) characters, topic name: \(name)"
            )
        }
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                throw RecordError(
                    .invalidTopicPartition,
                    "Topic name \"\(name)\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
                )
            }
        }
    }

    /// The log directory name, `<topic>-<partition>`.
    public var directoryName: String { "\(topic)-\(partition)" }

    /// Parses a log directory name (`<topic>-<partition>`); the topic itself may contain '-'.
    public init(directoryName: String) throws(RecordError) {
        guard let dash = directoryName.lastIndex(of: "-"),
            let partition = Int32(directoryName[directoryName.index(after: dash)...])
        else {
            throw RecordError(.invalidTopicPartition, "'\(directoryName)' is not a <topic>-<partition> directory name")
        }
        try self.init(topic: String(directoryName[..<dash]), partition: partition)
    }

    public var description: String { directoryName }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}
