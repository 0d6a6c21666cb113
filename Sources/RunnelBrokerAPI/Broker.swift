public import NIOCore
public import RunnelRecords

/// What every front end (REST proxy, connect worker, a Kafka-protocol listener) needs from a Kafka cluster.
///
/// ``EmbeddedBroker`` implements it over this process's partition logs; a client of a real Kafka cluster can
/// implement it too, and the front ends work unchanged. Every error is a ``BrokerError`` carrying Kafka's error
/// code; operations that fail change nothing.
public protocol Broker: Sendable {
    // MARK: Cluster

    /// The cluster id and its brokers.
    func describeCluster() async throws(BrokerError) -> ClusterDescription
    /// The broker's configs (read-only).
    func describeBrokerConfigs(nodeId: Int32) async throws(BrokerError) -> [ConfigEntry]

    // MARK: Topics

    /// Every topic, sorted by name; internal ones only if asked.
    func listTopics(includeInternal: Bool) async throws(BrokerError) -> [TopicDescription]
    func describeTopic(_ name: String) async throws(BrokerError) -> TopicDescription
    /// Creates a topic (or, with `validateOnly`, checks that it could be created).
    func createTopic(_ request: CreateTopicRequest) async throws(BrokerError) -> TopicDescription
    func deleteTopic(_ name: String) async throws(BrokerError)
    /// Grows a topic to `totalCount` partitions.
    func createPartitions(topic: String, totalCount: Int32, validateOnly: Bool) async throws(BrokerError)
    func describeTopicConfigs(_ name: String) async throws(BrokerError) -> [ConfigEntry]
    /// Applies config changes all together, or none of them.
    func alterTopicConfigs(_ name: String, _ changes: [ConfigChange], validateOnly: Bool) async throws(BrokerError)

    // MARK: Produce and fetch

    /// Appends records to a topic. The outcome of each record (partition and offset, or its own error) comes back in
    /// the order the records were given; one record's error does not fail the others.
    func produce(
        topic: String,
        records: ProducerRecords,
        options: ProduceOptions
    ) async throws(BrokerError)
        -> [ProduceOutcome]
    /// Appends record batches in Kafka's format as a Kafka producer sent them, partition by partition: validated,
    /// given their offsets and stored without decoding their records. One partition's error does not fail the others;
    /// the results come back in the order of `partitions`.
    func produce(
        _ partitions: [PartitionBatches],
        options: ProduceOptions
    ) async throws(BrokerError)
        -> [PartitionProduceResult]
    /// Reads records from partitions, waiting up to `maxWaitMs` for at least `minBytes` (long poll).
    func fetch(_ request: FetchRequest) async throws(BrokerError) -> [FetchedPartition]
    /// The offset of a partition at a point: earliest, latest, or the first record at or after a timestamp.
    func listOffset(_ topicPartition: TopicPartition, at spec: OffsetSpec) async throws(BrokerError) -> ListedOffset

    // MARK: Consumer groups

    func joinGroup(_ request: JoinGroupRequest) async throws(BrokerError) -> JoinGroupResponse
    func syncGroup(_ request: SyncGroupRequest) async throws(BrokerError) -> SyncGroupResponse
    func heartbeat(groupId: String, memberId: String, generationId: Int32) async throws(BrokerError)
    func leaveGroup(groupId: String, memberId: String) async throws(BrokerError)
    /// Commits offsets. A member commits with its id and generation; a consumer outside group management (or an
    /// admin) commits with `memberId == ""` and `generationId == -1`, which only an empty group accepts.
    func commitOffsets(_ request: OffsetCommitRequest) async throws(BrokerError) -> OffsetCommitResult
    /// Committed offsets of a group; all of them when `partitions` is nil.
    func fetchCommittedOffsets(
        groupId: String,
        partitions: [TopicPartition]?
    ) async throws(BrokerError)
        -> [TopicPartition: CommittedOffset]
    func listGroups() async throws(BrokerError) -> [GroupOverview]
    func describeGroup(_ groupId: String) async throws(BrokerError) -> GroupDescription
    /// Deletes an empty group and its offsets.
    func deleteGroup(_ groupId: String) async throws(BrokerError)
    /// The lag of each partition a group has a committed offset for or is assigned.
    func groupLag(_ groupId: String) async throws(BrokerError) -> [PartitionLag]

    // MARK: Storage

    /// Every partition's log: offsets, size on disk and segments (for metrics and dashboards).
    func partitionStorage() async throws(BrokerError) -> [PartitionStorage]

    // MARK: Access control

    /// Fails with Kafka's authorization error (and one audit line) unless the current ``Caller`` may do at least one
    /// of `checks`. For actions outside Kafka's API (managing connectors, the dashboard's data); a broker that
    /// enforces nothing lets everything through.
    func authorize(anyOf checks: [AclCheck]) async throws(BrokerError)
    /// Whether the current ``Caller`` may do `operation` on `resource`, without a refusal or an audit line: for
    /// leaving out of a list what the caller may not see.
    func isAuthorized(_ operation: AclOperation, on resource: AclResource) async -> Bool
    /// Stores ACLs (those already present are kept once).
    func createAcls(_ bindings: [AclBinding]) async throws(BrokerError)
    /// The ACLs a filter matches, sorted.
    func describeAcls(_ filter: AclFilter) async throws(BrokerError) -> [AclBinding]
    /// Deletes the ACLs any of the filters match, returning them sorted.
    func deleteAcls(_ filters: [AclFilter]) async throws(BrokerError) -> [AclBinding]
}

extension Broker {
    /// Appends records held as separate values (a convenience for callers that do not build ``ProducerRecords``).
    public func produce(
        topic: String,
        records: [ProducerRecord],
        options: ProduceOptions = ProduceOptions()
    ) async throws(BrokerError) -> [ProduceOutcome] {
        var packed = ProducerRecords(count: records.count)
        for record in records {
            packed.append(
                key: record.key,
                value: record.value,
                headers: record.headers,
                timestamp: record.timestamp,
                partition: record.partition
            )
        }
        return try await produce(topic: topic, records: packed, options: options)
    }

    /// Fails with Kafka's authorization error unless the current ``Caller`` may do `operation` on `resource`.
    public func authorize(_ operation: AclOperation, on resource: AclResource) async throws(BrokerError) {
        try await authorize(anyOf: [AclCheck(operation, resource)])
    }
}

/// One operation on one resource, as an ACL check asks it.
public struct AclCheck: Sendable, Hashable {
    public var operation: AclOperation
    public var resource: AclResource

    public init(_ operation: AclOperation, _ resource: AclResource) {
        self.operation = operation
        self.resource = resource
    }
}

// MARK: - Cluster and topics

public struct BrokerNode: Sendable, Hashable {
    public var nodeId: Int32
    public var host: String
    public var port: Int
    public var rack: String?

    public init(nodeId: Int32, host: String, port: Int, rack: String? = nil) {
        self.nodeId = nodeId
        self.host = host
        self.port = port
        self.rack = rack
    }
}

public struct ClusterDescription: Sendable, Hashable {
    public var clusterId: String
    public var controllerId: Int32
    public var brokers: [BrokerNode]

    public init(
        clusterId: String,
        controllerId: Int32,
        brokers: [BrokerNode]
    ) {
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.brokers = brokers
    }
}

public struct PartitionDescription: Sendable, Hashable {
    public var partition: Int32
    public var leader: Int32
    public var replicas: [Int32]
    public var inSyncReplicas: [Int32]

    public init(
        partition: Int32,
        leader: Int32,
        replicas: [Int32],
        inSyncReplicas: [Int32]
    ) {
        self.partition = partition
        self.leader = leader
        self.replicas = replicas
        self.inSyncReplicas = inSyncReplicas
    }
}

public struct TopicDescription: Sendable, Hashable {
    public var name: String
    /// Kafka's topic id (a base64url UUID).
    public var topicId: String
    public var isInternal: Bool
    public var replicationFactor: Int16
    public var partitions: [PartitionDescription]
    /// The topic's own config overrides.
    public var configOverrides: [String: String]

    public init(
        name: String,
        topicId: String,
        isInternal: Bool,
        replicationFactor: Int16,
        partitions: [PartitionDescription],
        configOverrides: [String: String]
    ) {
        self.name = name
        self.topicId = topicId
        self.isInternal = isInternal
        self.replicationFactor = replicationFactor
        self.partitions = partitions
        self.configOverrides = configOverrides
    }
}

public struct CreateTopicRequest: Sendable, Hashable {
    public var name: String
    /// nil: the broker's `num.partitions`.
    public var partitions: Int32?
    /// nil: the broker's `default.replication.factor`.
    public var replicationFactor: Int16?
    public var configs: [String: String]
    public var validateOnly: Bool

    public init(
        name: String,
        partitions: Int32? = nil,
        replicationFactor: Int16? = nil,
        configs: [String: String] = [:],
        validateOnly: Bool = false
    ) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
        self.validateOnly = validateOnly
    }
}

// MARK: - Produce

/// One record to produce, held as its own values; ``ProducerRecords`` holds many in one buffer.
public struct ProducerRecord: Sendable, Hashable {
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    /// Milliseconds since the epoch; nil: the time of the append.
    public var timestamp: Int64?
    /// nil: chosen by the partitioner.
    public var partition: Int32?

    public init(
        key: ByteBuffer? = nil,
        value: ByteBuffer?,
        headers: [RecordHeader] = [],
        timestamp: Int64? = nil,
        partition: Int32? = nil
    ) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.partition = partition
    }
}

public struct ProduceOptions: Sendable, Hashable {
    public enum Acks: Sendable, Hashable {
        /// acks=1: the leader has the records.
        case leader
        /// acks=all: every in-sync replica has them; refused when `min.insync.replicas` exceeds the replicas.
        case all
    }

    public var acks: Acks = .all

    public init(acks: Acks = .all) {
        self.acks = acks
    }
}

/// Where a produced record landed.
public struct RecordMetadata: Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64
    /// The record's timestamp as stored (the append time on LogAppendTime topics).
    public var timestamp: Int64
    public var timestampType: TimestampType

    public init(
        partition: Int32,
        offset: Int64,
        timestamp: Int64,
        timestampType: TimestampType
    ) {
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestampType = timestampType
    }
}

public typealias ProduceOutcome = Result<RecordMetadata, BrokerError>

/// The record batches a Kafka producer sent for one partition: batches in Kafka's v2 format laid end to end.
public struct PartitionBatches: Sendable, Hashable {
    public var topicPartition: TopicPartition
    public var batches: ByteBuffer

    public init(_ topicPartition: TopicPartition, batches: ByteBuffer) {
        self.topicPartition = topicPartition
        self.batches = batches
    }
}

/// Where a partition's batches landed (Kafka's ProduceResponse partition fields).
public struct AppendedBatches: Sendable, Hashable {
    /// The offset given to the first record.
    public var baseOffset: Int64
    /// The time of the append on LogAppendTime topics; -1 on CreateTime topics.
    public var logAppendTime: Int64
    public var logStartOffset: Int64

    public init(baseOffset: Int64, logAppendTime: Int64, logStartOffset: Int64) {
        self.baseOffset = baseOffset
        self.logAppendTime = logAppendTime
        self.logStartOffset = logStartOffset
    }
}

public struct PartitionProduceResult: Sendable, Hashable {
    public var topicPartition: TopicPartition
    public var result: Result<AppendedBatches, BrokerError>

    public init(_ topicPartition: TopicPartition, _ result: Result<AppendedBatches, BrokerError>) {
        self.topicPartition = topicPartition
        self.result = result
    }
}

// MARK: - Fetch

public struct FetchRequest: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var topicPartition: TopicPartition
        public var offset: Int64

        public init(_ topicPartition: TopicPartition, offset: Int64) {
            self.topicPartition = topicPartition
            self.offset = offset
        }
    }

    public var partitions: [Partition]
    /// How long to wait for `minBytes` (Kafka's `fetch.max.wait.ms`).
    public var maxWaitMs: Int64
    /// Return as soon as this many bytes are available (Kafka's `fetch.min.bytes`).
    public var minBytes: Int
    /// Bytes per response (`fetch.max.bytes`); the first batch is returned even if larger.
    public var maxBytes: Int
    /// Bytes per partition (`max.partition.fetch.bytes`).
    public var maxPartitionBytes: Int

    public init(
        partitions: [Partition],
        maxWaitMs: Int64 = 0,
        minBytes: Int = 1,
        maxBytes: Int = 52_428_800,
        maxPartitionBytes: Int = 1_048_576
    ) {
        self.partitions = partitions
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.maxPartitionBytes = maxPartitionBytes
    }
}

public struct ConsumerRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var timestamp: Int64
    public var timestampType: TimestampType
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        timestamp: Int64,
        timestampType: TimestampType,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader]
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestampType = timestampType
        self.key = key
        self.value = value
        self.headers = headers
    }
}

public struct FetchedPartition: Sendable, Hashable {
    public var topicPartition: TopicPartition
    /// The partition's error (e.g. OFFSET_OUT_OF_RANGE: the caller applies its `auto.offset.reset`).
    public var error: BrokerError?
    /// The offset after the last committed record (the log end on one node).
    public var highWatermark: Int64
    public var logStartOffset: Int64
    /// The record batches read, as stored (Kafka's v2 format, the bytes a Kafka fetch response carries); the first
    /// may begin before ``fetchOffset``. ``records()`` decodes them.
    public var batches: ByteBuffer
    /// The offset the fetch asked for: records before it are not part of the answer.
    public var fetchOffset: Int64
    /// The offset to fetch next.
    public var nextOffset: Int64
    /// The share of the server's fetch memory these batches hold: given back when the last copy of this value is
    /// gone, so a front end that keeps the lease until its answer is sent keeps the bytes counted until then.
    public var memory: MemoryLease?

    public init(
        topicPartition: TopicPartition,
        error: BrokerError?,
        highWatermark: Int64,
        logStartOffset: Int64,
        batches: ByteBuffer = ByteBuffer(),
        fetchOffset: Int64,
        nextOffset: Int64,
        memory: MemoryLease? = nil
    ) {
        self.topicPartition = topicPartition
        self.error = error
        self.highWatermark = highWatermark
        self.logStartOffset = logStartOffset
        self.batches = batches
        self.fetchOffset = fetchOffset
        self.nextOffset = nextOffset
        self.memory = memory
    }

    /// Whether the fetch returned no batches.
    public var isEmpty: Bool { batches.readableBytes == 0 }

    /// The data records at or after ``fetchOffset``, in offset order (control batches are not data).
    public func records() throws(BrokerError) -> [ConsumerRecord] {
        var records: [ConsumerRecord] = []
        do throws(RecordError) {
            for batch in try RecordBatch.split(batches) {
                guard !batch.header.isControl, batch.lastOffset >= fetchOffset else { continue }
                let timestampType = batch.header.timestampType
                for record in try batch.records() where record.offset >= fetchOffset {
                    records.append(
                        ConsumerRecord(
                            topic: topicPartition.topic,
                            partition: topicPartition.partition,
                            offset: record.offset,
                            timestamp: record.timestamp,
                            timestampType: timestampType,
                            key: record.key,
                            value: record.value,
                            headers: record.headers
                        )
                    )
                }
            }
        } catch {
            throw BrokerError(error)
        }
        return records
    }

    /// Equal when they say the same (the lease is bookkeeping).
    public static func == (lhs: FetchedPartition, rhs: FetchedPartition) -> Bool {
        lhs.topicPartition == rhs.topicPartition && lhs.error == rhs.error && lhs.highWatermark == rhs.highWatermark
            && lhs.logStartOffset == rhs.logStartOffset && lhs.batches == rhs.batches
            && lhs.fetchOffset == rhs.fetchOffset && lhs.nextOffset == rhs.nextOffset
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(topicPartition)
        hasher.combine(fetchOffset)
        hasher.combine(nextOffset)
        hasher.combine(batches)
    }
}

public enum OffsetSpec: Sendable, Hashable {
    case earliest
    case latest
    /// The first offset whose timestamp is at or after this one (milliseconds).
    case timestamp(Int64)
    /// The offset of the record with the largest timestamp.
    case maxTimestamp
}

public struct ListedOffset: Sendable, Hashable {
    /// -1 when no record matches a timestamp.
    public var offset: Int64
    /// -1 for earliest and latest.
    public var timestamp: Int64

    public init(
        offset: Int64,
        timestamp: Int64
    ) {
        self.offset = offset
        self.timestamp = timestamp
    }
}

// MARK: - Groups

public struct GroupProtocol: Sendable, Hashable {
    /// The assignor name, e.g. `range`.
    public var name: String
    /// Opaque to the coordinator; consumers put a ``ConsumerProtocol/Subscription`` here.
    public var metadata: [UInt8]

    public init(name: String, metadata: [UInt8]) {
        self.name = name
        self.metadata = metadata
    }
}

public struct JoinGroupRequest: Sendable, Hashable {
    public var groupId: String
    /// Empty on the first join: the coordinator assigns one.
    public var memberId: String
    public var clientId: String
    public var clientHost: String
    public var sessionTimeoutMs: Int64
    public var rebalanceTimeoutMs: Int64
    /// `consumer` for consumers (`connect` for Connect workers).
    public var protocolType: String
    /// In the member's order of preference.
    public var protocols: [GroupProtocol]
    /// A static member's `group.instance.id` (KIP-345): its place in the group outlives its restarts.
    public var groupInstanceId: String?
    /// Whether a first join (empty ``memberId``) is answered MEMBER_ID_REQUIRED with the new id, as JoinGroup v4+
    /// clients ask (KIP-394).
    public var requireKnownMemberId: Bool

    public init(
        groupId: String,
        memberId: String = "",
        clientId: String,
        clientHost: String = "/127.0.0.1",
        sessionTimeoutMs: Int64 = 45_000,
        rebalanceTimeoutMs: Int64 = 300_000,
        protocolType: String = "consumer",
        protocols: [GroupProtocol],
        groupInstanceId: String? = nil,
        requireKnownMemberId: Bool = false
    ) {
        self.groupId = groupId
        self.memberId = memberId
        self.clientId = clientId
        self.clientHost = clientHost
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.protocolType = protocolType
        self.protocols = protocols
        self.groupInstanceId = groupInstanceId
        self.requireKnownMemberId = requireKnownMemberId
    }
}

public struct JoinGroupResponse: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var memberId: String
        public var metadata: [UInt8]
        /// A static member's `group.instance.id`.
        public var groupInstanceId: String?

        public init(memberId: String, metadata: [UInt8], groupInstanceId: String? = nil) {
            self.memberId = memberId
            self.metadata = metadata
            self.groupInstanceId = groupInstanceId
        }
    }

    public var generationId: Int32
    public var protocolName: String
    public var leaderId: String
    public var memberId: String
    /// Every member with its metadata for the chosen protocol, for the leader only (empty for the others).
    public var members: [Member]
    /// MEMBER_ID_REQUIRED (KIP-394): the member must join again with ``memberId``; nil for a completed join.
    public var error: BrokerError?

    public init(
        generationId: Int32,
        protocolName: String,
        leaderId: String,
        memberId: String,
        members: [Member],
        error: BrokerError? = nil
    ) {
        self.generationId = generationId
        self.protocolName = protocolName
        self.leaderId = leaderId
        self.memberId = memberId
        self.members = members
        self.error = error
    }

    /// The answer to a first join that asked for its member id first (KIP-394).
    public static func memberIdRequired(_ memberId: String) -> JoinGroupResponse {
        JoinGroupResponse(
            generationId: -1,
            protocolName: "",
            leaderId: "",
            memberId: memberId,
            members: [],
            error: BrokerError(.memberIdRequired, "The group member needs a member id: join again with \(memberId)")
        )
    }

    public var isLeader: Bool { leaderId == memberId }
}

public struct SyncGroupRequest: Sendable, Hashable {
    public var groupId: String
    public var memberId: String
    public var generationId: Int32
    /// The leader's assignment per member (empty from followers).
    public var assignments: [String: [UInt8]]
    /// A static member's `group.instance.id`: a fenced member's sync is refused.
    public var groupInstanceId: String?

    public init(
        groupId: String,
        memberId: String,
        generationId: Int32,
        assignments: [String: [UInt8]] = [:],
        groupInstanceId: String? = nil
    ) {
        self.groupInstanceId = groupInstanceId
        self.groupId = groupId
        self.memberId = memberId
        self.generationId = generationId
        self.assignments = assignments
    }
}

public struct SyncGroupResponse: Sendable, Hashable {
    public var protocolName: String
    /// This member's assignment; consumers decode it with ``ConsumerProtocol/Assignment``.
    public var assignment: [UInt8]

    public init(
        protocolName: String,
        assignment: [UInt8]
    ) {
        self.protocolName = protocolName
        self.assignment = assignment
    }
}

public struct CommittedOffset: Sendable, Hashable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String
    public var commitTimestamp: Int64

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestamp: Int64 = -1) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestamp = commitTimestamp
    }
}

public struct OffsetCommitRequest: Sendable, Hashable {
    public var groupId: String
    public var memberId: String
    public var generationId: Int32
    public var offsets: [TopicPartition: CommittedOffset]

    public init(
        groupId: String,
        memberId: String = "",
        generationId: Int32 = -1,
        offsets: [TopicPartition: CommittedOffset]
    ) {
        self.groupId = groupId
        self.memberId = memberId
        self.generationId = generationId
        self.offsets = offsets
    }
}

/// What a commit did, partition by partition: a problem with one partition (unknown, negative offset, metadata too
/// long) fails that partition only.
public struct OffsetCommitResult: Sendable, Hashable {
    public var committed: [TopicPartition]
    public var failed: [TopicPartition: BrokerError]

    public init(committed: [TopicPartition] = [], failed: [TopicPartition: BrokerError] = [:]) {
        self.committed = committed
        self.failed = failed
    }
}

/// Kafka's classic group states.
public enum GroupState: String, Sendable, Hashable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"
}

public struct GroupOverview: Sendable, Hashable {
    public var groupId: String
    public var protocolType: String
    public var state: GroupState

    public init(
        groupId: String,
        protocolType: String,
        state: GroupState
    ) {
        self.groupId = groupId
        self.protocolType = protocolType
        self.state = state
    }
}

public struct GroupMemberDescription: Sendable, Hashable {
    public var memberId: String
    public var clientId: String
    public var clientHost: String
    public var metadata: [UInt8]
    public var assignment: [UInt8]
    /// The partitions of a consumer member's assignment (decoded when the group's protocol type is `consumer`).
    public var assignedPartitions: [TopicPartition]

    public init(
        memberId: String,
        clientId: String,
        clientHost: String,
        metadata: [UInt8],
        assignment: [UInt8],
        assignedPartitions: [TopicPartition]
    ) {
        self.memberId = memberId
        self.clientId = clientId
        self.clientHost = clientHost
        self.metadata = metadata
        self.assignment = assignment
        self.assignedPartitions = assignedPartitions
    }
}

public struct GroupDescription: Sendable, Hashable {
    public var groupId: String
    public var state: GroupState
    public var protocolType: String
    /// The chosen assignor (empty outside a generation).
    public var protocolName: String
    public var generationId: Int32
    public var leaderId: String?
    public var members: [GroupMemberDescription]
    public var coordinator: Int32

    public init(
        groupId: String,
        state: GroupState,
        protocolType: String,
        protocolName: String,
        generationId: Int32,
        leaderId: String?,
        members: [GroupMemberDescription],
        coordinator: Int32
    ) {
        self.groupId = groupId
        self.state = state
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.generationId = generationId
        self.leaderId = leaderId
        self.members = members
        self.coordinator = coordinator
    }
}

public struct PartitionStorage: Sendable, Hashable {
    public var topicPartition: TopicPartition
    public var logStartOffset: Int64
    public var logEndOffset: Int64
    /// Bytes of its segments' log files.
    public var sizeInBytes: Int
    public var segments: Int

    public init(
        topicPartition: TopicPartition,
        logStartOffset: Int64,
        logEndOffset: Int64,
        sizeInBytes: Int,
        segments: Int
    ) {
        self.topicPartition = topicPartition
        self.logStartOffset = logStartOffset
        self.logEndOffset = logEndOffset
        self.sizeInBytes = sizeInBytes
        self.segments = segments
    }
}

public struct PartitionLag: Sendable, Hashable {
    public var topicPartition: TopicPartition
    /// nil when the group has not committed for this partition.
    public var committedOffset: Int64?
    public var logEndOffset: Int64
    /// log end minus committed; nil without a committed offset.
    public var lag: Int64?
    public var memberId: String?
    public var clientId: String?

    public init(
        topicPartition: TopicPartition,
        committedOffset: Int64?,
        logEndOffset: Int64,
        lag: Int64?,
        memberId: String?,
        clientId: String?
    ) {
        self.topicPartition = topicPartition
        self.committedOffset = committedOffset
        self.logEndOffset = logEndOffset
        self.lag = lag
        self.memberId = memberId
        self.clientId = clientId
    }
}
