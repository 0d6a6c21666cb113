import NIOCore
public import RunnelBrokerAPI
public import RunnelRecords

/// A ``Broker`` that enforces byte-rate ``Quotas`` on produce and fetch for the current ``Caller`` (anonymous when
/// none is bound): an answer over the rate is delayed, one that would wait too long is refused unserved. Everything
/// else passes through.
public struct ThrottlingBroker: Broker {
    public let inner: any Broker
    public let quotas: Quotas

    public init(wrapping inner: any Broker, quotas: Quotas) {
        self.inner = inner
        self.quotas = quotas
    }

    private var principal: String { Caller.current?.principal ?? Caller.anonymousPrincipal }

    private func wait(_ delay: Duration) async {
        guard delay > .zero else { return }
        try? await Task.sleep(for: delay)
    }

    public func produce(
        topic: String,
        records: ProducerRecords,
        options: ProduceOptions
    ) async throws(BrokerError) -> [ProduceOutcome] {
        // What a quota counts of records: their keys, values and headers.
        let bytes = records.bytes.readableBytes
        let principal = self.principal
        try quotas.check(principal, .produce, bytes: bytes)
        let outcomes = try await inner.produce(topic: topic, records: records, options: options)
        await wait(quotas.record(principal, .produce, bytes: bytes))
        return outcomes
    }

    public func produce(
        _ partitions: [PartitionBatches],
        options: ProduceOptions
    ) async throws(BrokerError) -> [PartitionProduceResult] {
        let bytes = partitions.reduce(0) { $0 + $1.batches.readableBytes }
        let principal = self.principal
        try quotas.check(principal, .produce, bytes: bytes)
        let results = try await inner.produce(partitions, options: options)
        await wait(quotas.record(principal, .produce, bytes: bytes))
        return results
    }

    public func fetch(_ request: FetchRequest) async throws(BrokerError) -> [FetchedPartition] {
        let principal = self.principal
        try quotas.check(principal, .fetch, bytes: 0)
        let fetched = try await inner.fetch(request)
        // The batches served, as Kafka's fetch quota counts the response.
        let bytes = fetched.reduce(0) { $0 + $1.batches.readableBytes }
        await wait(quotas.record(principal, .fetch, bytes: bytes))
        return fetched
    }

    // MARK: Passed through

    public func describeCluster() async throws(BrokerError) -> ClusterDescription { try await inner.describeCluster() }
    public func describeBrokerConfigs(nodeId: Int32) async throws(BrokerError) -> [ConfigEntry] {
        try await inner.describeBrokerConfigs(nodeId: nodeId)
    }
    public func listTopics(includeInternal: Bool) async throws(BrokerError) -> [TopicDescription] {
        try await inner.listTopics(includeInternal: includeInternal)
    }
    public func describeTopic(_ name: String) async throws(BrokerError) -> TopicDescription {
        try await inner.describeTopic(name)
    }
    public func createTopic(_ request: CreateTopicRequest) async throws(BrokerError) -> TopicDescription {
        try await inner.createTopic(request)
    }
    public func deleteTopic(_ name: String) async throws(BrokerError) { try await inner.deleteTopic(name) }
    public func createPartitions(topic: String, totalCount: Int32, validateOnly: Bool) async throws(BrokerError) {
        try await inner.createPartitions(topic: topic, totalCount: totalCount, validateOnly: validateOnly)
    }
    public func describeTopicConfigs(_ name: String) async throws(BrokerError) -> [ConfigEntry] {
        try await inner.describeTopicConfigs(name)
    }
    public func alterTopicConfigs(
        _ name: String,
        _ changes: [ConfigChange],
        validateOnly: Bool
    ) async throws(BrokerError) {
        try await inner.alterTopicConfigs(name, changes, validateOnly: validateOnly)
    }
    public func listOffset(
        _ topicPartition: TopicPartition,
        at spec: OffsetSpec
    ) async throws(BrokerError)
        -> ListedOffset
    {
        try await inner.listOffset(topicPartition, at: spec)
    }
    public func joinGroup(_ request: JoinGroupRequest) async throws(BrokerError) -> JoinGroupResponse {
        try await inner.joinGroup(request)
    }
    public func syncGroup(_ request: SyncGroupRequest) async throws(BrokerError) -> SyncGroupResponse {
        try await inner.syncGroup(request)
    }
    public func heartbeat(groupId: String, memberId: String, generationId: Int32) async throws(BrokerError) {
        try await inner.heartbeat(groupId: groupId, memberId: memberId, generationId: generationId)
    }
    public func leaveGroup(groupId: String, memberId: String) async throws(BrokerError) {
        try await inner.leaveGroup(groupId: groupId, memberId: memberId)
    }
    public func commitOffsets(_ request: OffsetCommitRequest) async throws(BrokerError) -> OffsetCommitResult {
        try await inner.commitOffsets(request)
    }
    public func fetchCommittedOffsets(
        groupId: String,
        partitions: [TopicPartition]?
    ) async throws(BrokerError) -> [TopicPartition: CommittedOffset] {
        try await inner.fetchCommittedOffsets(groupId: groupId, partitions: partitions)
    }
    public func listGroups() async throws(BrokerError) -> [GroupOverview] { try await inner.listGroups() }
    public func describeGroup(_ groupId: String) async throws(BrokerError) -> GroupDescription {
        try await inner.describeGroup(groupId)
    }
    public func deleteGroup(_ groupId: String) async throws(BrokerError) { try await inner.deleteGroup(groupId) }
    public func groupLag(_ groupId: String) async throws(BrokerError) -> [PartitionLag] {
        try await inner.groupLag(groupId)
    }
    public func partitionStorage() async throws(BrokerError) -> [PartitionStorage] {
        try await inner.partitionStorage()
    }
    public func authorize(anyOf checks: [AclCheck]) async throws(BrokerError) {
        try await inner.authorize(anyOf: checks)
    }
    public func isAuthorized(_ operation: AclOperation, on resource: AclResource) async -> Bool {
        await inner.isAuthorized(operation, on: resource)
    }
    public func createAcls(_ bindings: [AclBinding]) async throws(BrokerError) { try await inner.createAcls(bindings) }
    public func describeAcls(_ filter: AclFilter) async throws(BrokerError) -> [AclBinding] {
        try await inner.describeAcls(filter)
    }
    public func deleteAcls(_ filters: [AclFilter]) async throws(BrokerError) -> [AclBinding] {
        try await inner.deleteAcls(filters)
    }
}
