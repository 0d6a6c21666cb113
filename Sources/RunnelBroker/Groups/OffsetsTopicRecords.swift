import RunnelBrokerAPI

/// The records of `__consumer_offsets`, in Kafka's formats (`OffsetCommitKey`/`OffsetCommitValue`,
/// `GroupMetadataKey`/`GroupMetadataValue`), so Kafka tools that read the offsets topic can read ours.
enum OffsetsTopicRecord: Equatable {
    /// A committed offset; nil value: a tombstone (the offset was deleted or expired).
    case offsetCommit(group: String, topic: String, partition: Int32, value: CommittedOffset?)
    /// A group's metadata; nil value: the group was deleted.
    case groupMetadata(group: String, value: StoredGroup?)

    struct StoredGroup: Equatable {
        var protocolType: String
        var generation: Int32
        var protocolName: String?
        var leader: String?
        var currentStateTimestamp: Int64
    }

    /// Key and value bytes (nil value for tombstones).
    func encoded() -> (key: [UInt8], value: [UInt8]?) {
        switch self {
        case .offsetCommit(let group, let topic, let partition, let value):
            var key = ProtocolWriter()
            key.int16(1)
            key.string(group)
            key.string(topic)
            key.int32(partition)
            guard let value else { return (key.bytes, nil) }
            var writer = ProtocolWriter()
            writer.int16(3)
            writer.int64(value.offset)
            writer.int32(value.leaderEpoch)
            writer.string(value.metadata)
            writer.int64(value.commitTimestamp)
            return (key.bytes, writer.bytes)
        case .groupMetadata(let group, let value):
            var key = ProtocolWriter()
            key.int16(2)
            key.string(group)
            guard let value else { return (key.bytes, nil) }
            var writer = ProtocolWriter()
            writer.int16(3)
            writer.string(value.protocolType)
            writer.int32(value.generation)
            writer.nullableString(value.protocolName)
            writer.nullableString(value.leader)
            writer.int64(value.currentStateTimestamp)
            // Members are not kept across restarts: they rejoin.
            writer.int32(0)
            return (key.bytes, writer.bytes)
        }
    }

    /// Decodes a record of the offsets topic; nil for record types this broker does not use.
    static func decode(key: [UInt8], value: [UInt8]?) throws(BrokerError) -> OffsetsTopicRecord? {
        var keyReader = ProtocolReader(key)
        let keyVersion = try keyReader.int16()
        switch keyVersion {
        case 0, 1:
            let group = try keyReader.string()
            let topic = try keyReader.string()
            let partition = try keyReader.int32()
            guard let value else { return .offsetCommit(group: group, topic: topic, partition: partition, value: nil) }
            var reader = ProtocolReader(value)
            let version = try reader.int16()
            let offset = try reader.int64()
            let leaderEpoch = version >= 3 ? try reader.int32() : -1
            let metadata = try reader.string()
            let commitTimestamp = try reader.int64()
            return .offsetCommit(
                group: group,
                topic: topic,
                partition: partition,
                value: CommittedOffset(
                    offset: offset,
                    leaderEpoch: leaderEpoch,
                    metadata: metadata,
                    commitTimestamp: commitTimestamp
                )
            )
        case 2:
            let group = try keyReader.string()
            guard let value else { return .groupMetadata(group: group, value: nil) }
            var reader = ProtocolReader(value)
            let version = try reader.int16()
            let protocolType = try reader.string()
            let generation = try reader.int32()
            let protocolName = try reader.nullableString()
            let leader = try reader.nullableString()
            let timestamp = version >= 2 ? try reader.int64() : -1
            return .groupMetadata(
                group: group,
                value: StoredGroup(
                    protocolType: protocolType,
                    generation: generation,
                    protocolName: protocolName,
                    leader: leader,
                    currentStateTimestamp: timestamp
                )
            )
        default:
            return nil
        }
    }
}
