public import RunnelBrokerAPI
import RunnelLog
public import RunnelRecords
public import ServiceLifecycle

// MARK: - Groups

extension EmbeddedBroker {
    public func joinGroup(_ request: JoinGroupRequest) async throws(BrokerError) -> JoinGroupResponse {
        try await coordinator.join(request)
    }

    public func syncGroup(_ request: SyncGroupRequest) async throws(BrokerError) -> SyncGroupResponse {
        try await coordinator.sync(request)
    }

    public func heartbeat(groupId: String, memberId: String, generationId: Int32) async throws(BrokerError) {
        try coordinator.heartbeat(groupId: groupId, memberId: memberId, generationId: generationId)
    }

    public func leaveGroup(groupId: String, memberId: String) async throws(BrokerError) {
        try await coordinator.leave(groupId: groupId, memberId: memberId)
    }

    public func commitOffsets(
        _ request: OffsetCommitRequest
    ) async throws(BrokerError)
        -> OffsetCommitResult
    {
        try await coordinator.commit(request)
    }

    public func fetchCommittedOffsets(
        groupId: String,
        partitions: [TopicPartition]?
    ) async throws(BrokerError) -> [TopicPartition: CommittedOffset] {
        guard !groupId.isEmpty else { throw BrokerError.emptyGroupId }
        return coordinator.committedOffsets(groupId: groupId, partitions: partitions)
    }

    public func listGroups() async throws(BrokerError) -> [GroupOverview] {
        coordinator.listGroups()
    }

    public func describeGroup(_ groupId: String) async throws(BrokerError) -> GroupDescription {
        guard !groupId.isEmpty else { throw BrokerError.emptyGroupId }
        return coordinator.describe(groupId, nodeId: nodeId)
    }

    public func deleteGroup(_ groupId: String) async throws(BrokerError) {
        guard !groupId.isEmpty else { throw BrokerError.emptyGroupId }
        try await coordinator.delete(groupId)
    }

    public func groupLag(_ groupId: String) async throws(BrokerError) -> [PartitionLag] {
        guard coordinator.exists(groupId) else {
            throw BrokerError(.groupIdNotFound, "The group id \(groupId) does not exist")
        }
        let committed = coordinator.committedOffsets(groupId: groupId, partitions: nil)
        var owners: [TopicPartition: GroupMemberDescription] = [:]
        for member in coordinator.describe(groupId, nodeId: nodeId).members {
            for topicPartition in member.assignedPartitions { owners[topicPartition] = member }
        }
        return Set(committed.keys).union(owners.keys).sorted().compactMap { topicPartition in
            guard let log = logManager.log(for: topicPartition) else { return nil }
            let end = log.logEndOffset
            let offset = committed[topicPartition]?.offset
            return PartitionLag(
                topicPartition: topicPartition,
                committedOffset: offset,
                logEndOffset: end,
                lag: offset.map { max(0, end - $0) },
                memberId: owners[topicPartition]?.memberId,
                clientId: owners[topicPartition]?.clientId
            )
        }
    }
}

/// The coordinator's clock: session expiry and rebalance deadlines every tick, offset expiry every
/// `offsets.retention.check.interval.ms`.
public struct GroupCoordinatorService: Service, CustomStringConvertible {
    let broker: EmbeddedBroker
    public var description: String { "GroupCoordinatorService" }

    public func run() async throws {
        let broker = self.broker
        let clock = broker.configuration.clock
        let tick = max(1, broker.configuration.groupTickIntervalMs)
        let expiryInterval = broker.configuration.config.offsetsRetentionCheckIntervalMs
        do {
            try await cancelWhenGracefulShutdown {
                var lastExpiry = clock.nowMilliseconds()
                while true {
                    try await clock.sleep(milliseconds: tick)
                    await broker.coordinator.tick()
                    let now = clock.nowMilliseconds()
                    if now - lastExpiry >= expiryInterval {
                        lastExpiry = now
                        await broker.coordinator.expireOffsets()
                    }
                }
            }
        } catch {
            // Cancelled: graceful shutdown.
        }
    }
}

extension EmbeddedBroker {
    public func partitionStorage() async throws(BrokerError) -> [PartitionStorage] {
        logManager.logs.map { log in
            PartitionStorage(
                topicPartition: log.topicPartition,
                logStartOffset: log.logStartOffset,
                logEndOffset: log.logEndOffset,
                sizeInBytes: log.sizeInBytes,
                segments: log.segmentCount
            )
        }
    }
}
