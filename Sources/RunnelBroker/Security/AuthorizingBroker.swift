public import Logging
public import RunnelBrokerAPI
import RunnelLog
public import RunnelRecords

/// A ``Broker`` that checks each operation against the ACLs for the current ``Caller``, then hands it to the broker
/// it wraps; the checks are Kafka's for the matching protocol request (produce needs WRITE on the topic, fetch READ,
/// joining a group READ on the group, ...). Lists show only what the caller may describe. With no caller bound
/// every operation is refused, so work that forgot to say whom it runs for fails closed. Each refusal is logged
/// once, as an audit line on `runnel.audit`: principal, host, operation, resource (never a secret).
public struct AuthorizingBroker: Broker {
    public let inner: any Broker
    public let authorizer: Authorizer
    let audit: Logger

    public init(wrapping inner: any Broker, authorizer: Authorizer, audit: Logger = Logger(label: "runnel.audit")) {
        self.inner = inner
        self.authorizer = authorizer
        self.audit = audit
    }

    // MARK: Checks

    private func isAllowed(_ operation: AclOperation, _ resource: AclResource) -> Bool {
        guard let caller = Caller.current else { return false }
        return authorizer.isAllowed(caller, operation, resource)
    }

    public func authorize(anyOf checks: [AclCheck]) async throws(BrokerError) {
        guard let first = checks.first else { return }
        guard !checks.contains(where: { isAllowed($0.operation, $0.resource) }) else { return }
        throw denied(first.operation, first.resource)
    }

    public func isAuthorized(_ operation: AclOperation, on resource: AclResource) async -> Bool {
        isAllowed(operation, resource)
    }

    private func check(_ operation: AclOperation, _ resource: AclResource) throws(BrokerError) {
        guard !isAllowed(operation, resource) else { return }
        throw denied(operation, resource)
    }

    private func denied(_ operation: AclOperation, _ resource: AclResource) -> BrokerError {
        let caller = Caller.current
        audit.notice(
            "Access denied",
            metadata: [
                "principal": "\(Audit.printable(caller?.principal ?? "none"))",
                "host": "\(Audit.printable(caller?.host ?? ""))",
                "operation": "\(operation.rawValue)", "resource_type": "\(resource.type.rawValue)",
                "resource_name": "\(Audit.printable(resource.name))",
            ]
        )
        let who = caller?.principal ?? "An unauthenticated caller"
        switch resource.type {
        case .topic:
            return BrokerError(
                .topicAuthorizationFailed,
                "\(who) is not authorized to \(operation.rawValue) topic \(resource.name)"
            )
        case .group:
            return BrokerError(
                .groupAuthorizationFailed,
                "\(who) is not authorized to \(operation.rawValue) group \(resource.name)"
            )
        case .connector:
            return BrokerError(
                .clusterAuthorizationFailed,
                "\(who) is not authorized to \(operation.rawValue) connector \(resource.name)"
            )
        case .cluster, .any:
            return BrokerError(
                .clusterAuthorizationFailed,
                "\(who) is not authorized to \(operation.rawValue) the cluster"
            )
        }
    }

    private func checkTopics(_ operation: AclOperation, _ topics: some Sequence<String>) throws(BrokerError) {
        for topic in Set(topics).sorted() { try check(operation, .topic(topic)) }
    }

    // MARK: Cluster

    /// Any authenticated caller may see the cluster's id and brokers (Kafka's metadata).
    public func describeCluster() async throws(BrokerError) -> ClusterDescription {
        guard Caller.current != nil else { throw denied(.describe, .cluster) }
        return try await inner.describeCluster()
    }

    public func describeBrokerConfigs(nodeId: Int32) async throws(BrokerError) -> [ConfigEntry] {
        try check(.describeConfigs, .cluster)
        return try await inner.describeBrokerConfigs(nodeId: nodeId)
    }

    // MARK: Topics

    public func listTopics(includeInternal: Bool) async throws(BrokerError) -> [TopicDescription] {
        guard Caller.current != nil else { throw denied(.describe, .cluster) }
        return try await inner.listTopics(includeInternal: includeInternal).filter {
            isAllowed(.describe, .topic($0.name))
        }
    }

    /// DESCRIBE, or DESCRIBE_CONFIGS (so a principal allowed only a topic's configs can reach them: the front ends
    /// look the topic up first).
    public func describeTopic(_ name: String) async throws(BrokerError) -> TopicDescription {
        if !isAllowed(.describeConfigs, .topic(name)) { try check(.describe, .topic(name)) }
        return try await inner.describeTopic(name)
    }

    /// CREATE on the cluster, or on the topic's name.
    public func createTopic(_ request: CreateTopicRequest) async throws(BrokerError) -> TopicDescription {
        if !isAllowed(.create, .cluster) { try check(.create, .topic(request.name)) }
        return try await inner.createTopic(request)
    }

    public func deleteTopic(_ name: String) async throws(BrokerError) {
        try check(.delete, .topic(name))
        try await inner.deleteTopic(name)
    }

    public func createPartitions(topic: String, totalCount: Int32, validateOnly: Bool) async throws(BrokerError) {
        try check(.alter, .topic(topic))
        try await inner.createPartitions(topic: topic, totalCount: totalCount, validateOnly: validateOnly)
    }

    public func describeTopicConfigs(_ name: String) async throws(BrokerError) -> [ConfigEntry] {
        try check(.describeConfigs, .topic(name))
        return try await inner.describeTopicConfigs(name)
    }

    public func alterTopicConfigs(
        _ name: String,
        _ changes: [ConfigChange],
        validateOnly: Bool
    ) async throws(BrokerError) {
        try check(.alterConfigs, .topic(name))
        try await inner.alterTopicConfigs(name, changes, validateOnly: validateOnly)
    }

    // MARK: Produce and fetch

    public func produce(
        topic: String,
        records: ProducerRecords,
        options: ProduceOptions
    ) async throws(BrokerError) -> [ProduceOutcome] {
        try check(.write, .topic(topic))
        return try await inner.produce(topic: topic, records: records, options: options)
    }

    public func produce(
        _ partitions: [PartitionBatches],
        options: ProduceOptions
    ) async throws(BrokerError) -> [PartitionProduceResult] {
        // As Kafka answers a produce request: a topic the caller may not write fails its own partitions only.
        var refusals: [String: BrokerError] = [:]
        for topic in Set(partitions.map(\.topicPartition.topic)).sorted() {
            do throws(BrokerError) {
                try check(.write, .topic(topic))
            } catch {
                refusals[topic] = error
            }
        }
        let allowed = partitions.filter { refusals[$0.topicPartition.topic] == nil }
        var appended = try await inner.produce(allowed, options: options).makeIterator()
        return partitions.map { partition in
            if let refusal = refusals[partition.topicPartition.topic] {
                return PartitionProduceResult(partition.topicPartition, .failure(refusal))
            }
            return appended.next()
                ?? PartitionProduceResult(
                    partition.topicPartition,
                    .failure(BrokerError(.unknownServerError, "the partition's batches were not appended"))
                )
        }
    }

    public func fetch(_ request: FetchRequest) async throws(BrokerError) -> [FetchedPartition] {
        try checkTopics(.read, request.partitions.map(\.topicPartition.topic))
        return try await inner.fetch(request)
    }

    public func listOffset(
        _ topicPartition: TopicPartition,
        at spec: OffsetSpec
    ) async throws(BrokerError)
        -> ListedOffset
    {
        try check(.describe, .topic(topicPartition.topic))
        return try await inner.listOffset(topicPartition, at: spec)
    }

    // MARK: Consumer groups

    public func joinGroup(_ request: JoinGroupRequest) async throws(BrokerError) -> JoinGroupResponse {
        try check(.read, .group(request.groupId))
        return try await inner.joinGroup(request)
    }

    public func syncGroup(_ request: SyncGroupRequest) async throws(BrokerError) -> SyncGroupResponse {
        try check(.read, .group(request.groupId))
        return try await inner.syncGroup(request)
    }

    public func heartbeat(groupId: String, memberId: String, generationId: Int32) async throws(BrokerError) {
        try check(.read, .group(groupId))
        try await inner.heartbeat(groupId: groupId, memberId: memberId, generationId: generationId)
    }

    public func leaveGroup(groupId: String, memberId: String) async throws(BrokerError) {
        try check(.read, .group(groupId))
        try await inner.leaveGroup(groupId: groupId, memberId: memberId)
    }

    public func commitOffsets(_ request: OffsetCommitRequest) async throws(BrokerError) -> OffsetCommitResult {
        try check(.read, .group(request.groupId))
        try checkTopics(.read, request.offsets.keys.map(\.topic))
        return try await inner.commitOffsets(request)
    }

    /// Offsets of topics the caller may not describe are left out.
    public func fetchCommittedOffsets(
        groupId: String,
        partitions: [TopicPartition]?
    ) async throws(BrokerError) -> [TopicPartition: CommittedOffset] {
        try check(.describe, .group(groupId))
        return try await inner.fetchCommittedOffsets(groupId: groupId, partitions: partitions).filter {
            isAllowed(.describe, .topic($0.key.topic))
        }
    }

    /// Every group with DESCRIBE on the cluster; otherwise the groups the caller may describe.
    public func listGroups() async throws(BrokerError) -> [GroupOverview] {
        guard Caller.current != nil else { throw denied(.describe, .cluster) }
        let groups = try await inner.listGroups()
        if isAllowed(.describe, .cluster) { return groups }
        return groups.filter { isAllowed(.describe, .group($0.groupId)) }
    }

    public func describeGroup(_ groupId: String) async throws(BrokerError) -> GroupDescription {
        try check(.describe, .group(groupId))
        return try await inner.describeGroup(groupId)
    }

    public func deleteGroup(_ groupId: String) async throws(BrokerError) {
        try check(.delete, .group(groupId))
        try await inner.deleteGroup(groupId)
    }

    public func groupLag(_ groupId: String) async throws(BrokerError) -> [PartitionLag] {
        try check(.describe, .group(groupId))
        return try await inner.groupLag(groupId).filter { isAllowed(.describe, .topic($0.topicPartition.topic)) }
    }

    // MARK: Storage

    public func partitionStorage() async throws(BrokerError) -> [PartitionStorage] {
        guard Caller.current != nil else { throw denied(.describe, .cluster) }
        return try await inner.partitionStorage().filter { isAllowed(.describe, .topic($0.topicPartition.topic)) }
    }

    // MARK: Access control

    public func createAcls(_ bindings: [AclBinding]) async throws(BrokerError) {
        try check(.alter, .cluster)
        try await inner.createAcls(bindings)
    }

    public func describeAcls(_ filter: AclFilter) async throws(BrokerError) -> [AclBinding] {
        try check(.describe, .cluster)
        return try await inner.describeAcls(filter)
    }

    public func deleteAcls(_ filters: [AclFilter]) async throws(BrokerError) -> [AclBinding] {
        try check(.alter, .cluster)
        return try await inner.deleteAcls(filters)
    }
}
