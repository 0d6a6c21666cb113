public import RunnelRecords

/// Kafka's consumer embedded protocol: the bytes consumers exchange through the coordinator (subscriptions in
/// JoinGroup metadata, assignments in SyncGroup), byte-compatible with the Java client's `ConsumerProtocol`.
public enum ConsumerProtocol {
    public static let protocolType = "consumer"

    public struct Subscription: Sendable, Hashable {
        public var topics: [String]
        public var userData: [UInt8]?
        /// The partitions the member owns now (version 1+; cooperative assignors keep them where they can).
        public var ownedPartitions: [TopicPartition]

        public init(topics: [String], userData: [UInt8]? = nil, ownedPartitions: [TopicPartition] = []) {
            self.topics = topics
            self.userData = userData
            self.ownedPartitions = ownedPartitions
        }

        /// Encodes as Subscription version 1.
        public func encoded() -> [UInt8] {
            var writer = ProtocolWriter()
            writer.int16(1)
            writer.array(topics) { $0.string($1) }
            writer.bytes(userData)
            ConsumerProtocol.writePartitions(ownedPartitions, into: &writer)
            return writer.bytes
        }

        /// Decodes versions 0 to 3 (later fields are ignored, as the Java client does for unknown versions).
        public init(decoding bytes: [UInt8]) throws(BrokerError) {
            var reader = ProtocolReader(bytes)
            let version = try reader.int16()
            guard version >= 0 else { throw BrokerError(.invalidRequest, "subscription version \(version) is invalid") }
            topics = try reader.array { reader throws(BrokerError) in try reader.string() }
            userData = try reader.bytes()
            ownedPartitions = version >= 1 ? try ConsumerProtocol.readPartitions(&reader) : []
        }
    }

    public struct Assignment: Sendable, Hashable {
        public var partitions: [TopicPartition]
        public var userData: [UInt8]?

        public init(partitions: [TopicPartition], userData: [UInt8]? = nil) {
            self.partitions = partitions
            self.userData = userData
        }

        /// Encodes as Assignment version 1.
        public func encoded() -> [UInt8] {
            var writer = ProtocolWriter()
            writer.int16(1)
            ConsumerProtocol.writePartitions(partitions, into: &writer)
            writer.bytes(userData)
            return writer.bytes
        }

        public init(decoding bytes: [UInt8]) throws(BrokerError) {
            // An empty assignment (a member the leader gave nothing) is zero bytes.
            guard !bytes.isEmpty else {
                partitions = []
                userData = nil
                return
            }
            var reader = ProtocolReader(bytes)
            let version = try reader.int16()
            guard version >= 0 else { throw BrokerError(.invalidRequest, "assignment version \(version) is invalid") }
            partitions = try ConsumerProtocol.readPartitions(&reader)
            userData = try reader.bytes()
        }
    }

    static func writePartitions(_ partitions: [TopicPartition], into writer: inout ProtocolWriter) {
        var byTopic: [String: [Int32]] = [:]
        for partition in partitions { byTopic[partition.topic, default: []].append(partition.partition) }
        writer.array(byTopic.keys.sorted()) { writer, topic in
            writer.string(topic)
            writer.array((byTopic[topic] ?? []).sorted()) { $0.int32($1) }
        }
    }

    static func readPartitions(_ reader: inout ProtocolReader) throws(BrokerError) -> [TopicPartition] {
        let topics = try reader.array { reader throws(BrokerError) -> [TopicPartition] in
            let topic = try reader.string()
            let numbers = try reader.array { reader throws(BrokerError) in try reader.int32() }
            var partitions: [TopicPartition] = []
            for number in numbers {
                do throws(RecordError) {
                    partitions.append(try TopicPartition(topic: topic, partition: number))
                } catch {
                    throw BrokerError(.invalidRequest, "invalid partition in consumer protocol: \(error.message)")
                }
            }
            return partitions
        }
        return topics.flatMap { $0 }
    }
}

// MARK: - Assignors

/// A client-side partition assignor: the group leader runs it over every member's subscription.
public protocol PartitionAssignor: Sendable {
    /// The protocol name members announce (`range`, `roundrobin`).
    var name: String { get }
    /// Whether members keep consuming their partitions through a rebalance and give up only those that move (the
    /// cooperative protocol, KIP-429): a member that loses partitions rejoins at once so they can be reassigned.
    var isCooperative: Bool { get }
    /// The partitions of each member, from the partition counts of the subscribed topics.
    func assign(
        partitionsPerTopic: [String: Int32],
        subscriptions: [String: ConsumerProtocol.Subscription]
    ) -> [String: [TopicPartition]]
}

/// Kafka's `RangeAssignor`: per topic, members (sorted by id) get consecutive ranges; the first
/// `partitions % members` get one extra.
public struct RangeAssignor: PartitionAssignor {
    public let name = "range"

    public init() {}

    public func assign(
        partitionsPerTopic: [String: Int32],
        subscriptions: [String: ConsumerProtocol.Subscription]
    ) -> [String: [TopicPartition]] {
        var result = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, [TopicPartition]()) })
        for (topic, count) in partitionsPerTopic.sorted(by: { $0.key < $1.key }) {
            let members = subscriptions.filter { $0.value.topics.contains(topic) }.keys.sorted()
            guard !members.isEmpty else { continue }
            let perMember = Int(count) / members.count
            let extra = Int(count) % members.count
            var next = 0
            for (index, member) in members.enumerated() {
                let length = perMember + (index < extra ? 1 : 0)
                for partition in next..<(next + length) {
                    if let topicPartition = try? TopicPartition(topic: topic, partition: Int32(partition)) {
                        result[member, default: []].append(topicPartition)
                    }
                }
                next += length
            }
        }
        return result
    }
}

/// Kafka's `RoundRobinAssignor`: every subscribed partition, sorted by topic and partition, dealt in turn to the
/// members (sorted by id) subscribed to its topic.
public struct RoundRobinAssignor: PartitionAssignor {
    public let name = "roundrobin"

    public init() {}

    public func assign(
        partitionsPerTopic: [String: Int32],
        subscriptions: [String: ConsumerProtocol.Subscription]
    ) -> [String: [TopicPartition]] {
        var result = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, [TopicPartition]()) })
        let members = subscriptions.keys.sorted()
        guard !members.isEmpty else { return result }
        let subscribed = Set(subscriptions.values.flatMap(\.topics))
        var cursor = 0
        for (topic, count) in partitionsPerTopic.sorted(by: { $0.key < $1.key }) where subscribed.contains(topic) {
            for partition in 0..<count {
                guard let topicPartition = try? TopicPartition(topic: topic, partition: partition) else { continue }
                // The next member in the circle that subscribes to this topic.
                for step in 0..<members.count {
                    let member = members[(cursor + step) % members.count]
                    if subscriptions[member]?.topics.contains(topic) == true {
                        result[member, default: []].append(topicPartition)
                        cursor = (cursor + step + 1) % members.count
                        break
                    }
                }
            }
        }
        return result
    }
}

extension PartitionAssignor {
    public var isCooperative: Bool { false }
}

/// Kafka's `CooperativeStickyAssignor`: a balanced assignment that keeps as many partitions as possible where they
/// are, handed out cooperatively — a partition moving from one member to another is left unassigned in the first
/// rebalance (its owner revokes it and rejoins) and assigned in the next.
public struct CooperativeStickyAssignor: PartitionAssignor {
    public let name = "cooperative-sticky"
    public var isCooperative: Bool { true }

    public init() {}

    public func assign(
        partitionsPerTopic: [String: Int32],
        subscriptions: [String: ConsumerProtocol.Subscription]
    ) -> [String: [TopicPartition]] {
        let members = subscriptions.keys.sorted()
        var result = Dictionary(uniqueKeysWithValues: members.map { ($0, [TopicPartition]()) })
        guard !members.isEmpty else { return result }
        let subscribed = subscriptions.mapValues { Set($0.topics) }
        var all: [TopicPartition] = []
        for (topic, count) in partitionsPerTopic.sorted(by: { $0.key < $1.key })
        where subscribed.values.contains(where: { $0.contains(topic) }) {
            for partition in 0..<count {
                if let topicPartition = try? TopicPartition(topic: topic, partition: partition) {
                    all.append(topicPartition)
                }
            }
        }
        let existing = Set(all)
        let quota = (all.count + members.count - 1) / members.count

        // 1. Stickiness: each member keeps what it owns (still existing, still subscribed, claimed by nobody
        //    before it), up to the largest fair share.
        var owner: [TopicPartition: String] = [:]
        var previousOwner: [TopicPartition: String] = [:]
        for member in members {
            for partition in (subscriptions[member]?.ownedPartitions ?? []).sorted() {
                guard previousOwner[partition] == nil else { continue }
                previousOwner[partition] = member
                guard existing.contains(partition), subscribed[member]?.contains(partition.topic) == true,
                    (result[member]?.count ?? 0) < quota
                else { continue }
                owner[partition] = member
                result[member, default: []].append(partition)
            }
        }
        // 2. The rest go, one by one, to the subscribed member with the fewest.
        for partition in all where owner[partition] == nil {
            let candidates = members.filter { subscribed[$0]?.contains(partition.topic) == true }
            guard let target = candidates.min(by: { (result[$0]?.count ?? 0) < (result[$1]?.count ?? 0) }) else {
                continue
            }
            owner[partition] = target
            result[target, default: []].append(partition)
        }
        // 3. Balance: move partitions from the fullest member to one with at least two fewer that can take them.
        var moved = true
        while moved {
            moved = false
            for from in members.sorted(by: { (result[$0]?.count ?? 0) > (result[$1]?.count ?? 0) }) {
                let fromCount = result[from]?.count ?? 0
                for to in members where to != from && (result[to]?.count ?? 0) + 1 < fromCount {
                    // Prefer giving away a partition the member did not own before.
                    let movable = (result[from] ?? []).filter { subscribed[to]?.contains($0.topic) == true }
                    guard
                        let partition = movable.first(where: { previousOwner[$0] != from }) ?? movable.last
                    else { continue }
                    result[from]?.removeAll { $0 == partition }
                    result[to, default: []].append(partition)
                    moved = true
                    break
                }
                if moved { break }
            }
        }
        // 4. Cooperation: a partition still owned by another member waits for that member to revoke it.
        for member in members {
            result[member] = (result[member] ?? []).filter { previousOwner[$0].map { $0 == member } ?? true }
            result[member]?.sort()
        }
        return result
    }
}

// MARK: - Wire primitives

/// Big-endian writer of Kafka's classic (non-flexible) protocol types.
package struct ProtocolWriter {
    package var bytes: [UInt8] = []

    package init() {}

    package mutating func int16(_ value: Int16) { append(UInt16(bitPattern: value)) }
    package mutating func int32(_ value: Int32) { append(UInt32(bitPattern: value)) }
    package mutating func int64(_ value: Int64) { append(UInt64(bitPattern: value)) }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    package mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        int16(Int16(clamping: utf8.count))
        bytes.append(contentsOf: utf8.prefix(Int(Int16.max)))
    }

    package mutating func nullableString(_ value: String?) {
        guard let value else { return int16(-1) }
        string(value)
    }

    package mutating func bytes(_ value: [UInt8]?) {
        guard let value else { return int32(-1) }
        int32(Int32(clamping: value.count))
        bytes.append(contentsOf: value)
    }

    package mutating func array<T>(_ items: [T], _ write: (inout ProtocolWriter, T) -> Void) {
        int32(Int32(clamping: items.count))
        for item in items { write(&self, item) }
    }
}

/// Reader of the types ``ProtocolWriter`` writes; every length is checked against what is left.
package struct ProtocolReader {
    private let data: [UInt8]
    private(set) var position = 0

    package init(_ data: [UInt8]) {
        self.data = data
    }

    package var remaining: Int { data.count - position }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(BrokerError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw BrokerError(.corruptMessage, "truncated protocol data") }
        var value: T = 0
        for index in 0..<size { value = (value << 8) | T(truncatingIfNeeded: data[position + index]) }
        position += size
        return value
    }

    package mutating func int16() throws(BrokerError) -> Int16 { try integer(Int16.self) }
    package mutating func int32() throws(BrokerError) -> Int32 { try integer(Int32.self) }
    package mutating func int64() throws(BrokerError) -> Int64 { try integer(Int64.self) }

    private mutating func take(_ count: Int) throws(BrokerError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw BrokerError(.corruptMessage, "truncated protocol data") }
        defer { position += count }
        return data[position..<position + count]
    }

    package mutating func string() throws(BrokerError) -> String {
        guard let value = try nullableString() else { throw BrokerError(.corruptMessage, "unexpected null string") }
        return value
    }

    package mutating func nullableString() throws(BrokerError) -> String? {
        let length = try int16()
        guard length >= 0 else { return nil }
        return String(decoding: try take(Int(length)), as: UTF8.self)
    }

    package mutating func bytes() throws(BrokerError) -> [UInt8]? {
        let length = try int32()
        guard length >= 0 else { return nil }
        return Array(try take(Int(length)))
    }

    package mutating func array<T>(_ read: (inout ProtocolReader) throws(BrokerError) -> T) throws(BrokerError) -> [T] {
        let count = try int32()
        guard count >= 0 else { return [] }
        // Each element takes at least one byte: a count beyond what is left is corrupt, not a huge allocation.
        guard Int(count) <= remaining else { throw BrokerError(.corruptMessage, "array count \(count) is too large") }
        var items: [T] = []
        items.reserveCapacity(Int(count))
        for _ in 0..<count { items.append(try read(&self)) }
        return items
    }
}
