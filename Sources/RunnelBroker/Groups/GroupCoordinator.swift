import Logging
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import Synchronization

/// Kafka's classic group coordinator: each group's membership is a ``GroupMachine`` (join, sync, heartbeat, leave,
/// expiry — a value that returns what to do); this class holds them under one lock, keeps the continuations of the
/// joins and syncs that wait, and carries out each step's actions: it resumes waiters, logs, and writes group records
/// to `__consumer_offsets`. Committed offsets live in memory and in `__consumer_offsets` (written through
/// ``OffsetsWriter`` before a commit is acknowledged). Time comes from the injected clock; ``tick()`` expires
/// sessions and rebalance deadlines.
final class GroupCoordinator: Sendable {
    struct Settings: Sendable {
        var minSessionTimeoutMs: Int64
        var maxSessionTimeoutMs: Int64
        var initialRebalanceDelayMs: Int64
        var maxGroupSize: Int
        var offsetsRetentionMs: Int64
        var offsetMetadataMaxBytes: Int
        var offsetsPartitions: Int32

        var membership: GroupMachine.Settings {
            GroupMachine.Settings(initialRebalanceDelayMs: initialRebalanceDelayMs, maxGroupSize: maxGroupSize)
        }
    }

    /// Appends records to a partition of `__consumer_offsets`.
    typealias OffsetsWriter =
        @Sendable (_ partition: Int32, _ records: [OffsetsTopicRecord]) async throws(BrokerError)
        -> Void
    /// The partition count of an existing topic.
    typealias TopicLookup = @Sendable (_ topic: String) -> Int32?

    private typealias JoinWaiter = CheckedContinuation<Result<JoinGroupResponse, BrokerError>, Never>
    private typealias SyncWaiter = CheckedContinuation<Result<SyncGroupResponse, BrokerError>, Never>

    private struct State {
        var groups: [String: GroupMachine] = [:]
        var joinWaiters: [GroupMachine.WaiterID: JoinWaiter] = [:]
        var syncWaiters: [GroupMachine.WaiterID: SyncWaiter] = [:]
        var lastWaiter: GroupMachine.WaiterID = 0

        mutating func newWaiter() -> GroupMachine.WaiterID {
            lastWaiter &+= 1
            return lastWaiter
        }
    }

    private let groups = Mutex<State>(State())
    /// Set (under the groups lock) when the broker shuts down: new joins and syncs fail at once.
    private let stopped = Atomic<Bool>(false)
    /// One lock per `__consumer_offsets` partition, held from a change's check through its write to the memory
    /// update, so the log holds a partition's records in the order memory applied them (what a restart replays).
    private let partitionLocks: [AsyncLock]
    private let settings: Settings
    private let clock: any WallClock
    private let writeOffsets: OffsetsWriter
    private let partitionCount: TopicLookup
    private let logger: Logger

    init(
        settings: Settings,
        clock: any WallClock,
        logger: Logger,
        partitionCount: @escaping TopicLookup,
        writeOffsets: @escaping OffsetsWriter
    ) {
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.partitionCount = partitionCount
        self.writeOffsets = writeOffsets
        self.partitionLocks = (0..<max(1, Int(settings.offsetsPartitions))).map { _ in AsyncLock() }
    }

    /// Runs `body` holding the lock of one `__consumer_offsets` partition.
    private func serialized<T: Sendable>(
        _ partition: Int32,
        _ body: () async throws(BrokerError) -> T
    ) async throws(BrokerError) -> T {
        try await partitionLocks[Int(partition) % partitionLocks.count].withLock(body)
    }

    func offsetsPartition(for groupId: String) -> Int32 {
        TopicNames.offsetsPartition(forGroup: groupId, partitions: settings.offsetsPartitions)
    }

    // MARK: - Loading

    /// Replays records read from `__consumer_offsets` at start, in log order.
    func load(_ record: OffsetsTopicRecord) {
        let now = clock.nowMilliseconds()
        groups.withLock { state in
            switch record {
            case .offsetCommit(let groupId, let topic, let partition, let value):
                guard let topicPartition = try? TopicPartition(topic: topic, partition: partition) else { return }
                var group = state.groups[groupId] ?? newGroup(groupId, now: now)
                if let value {
                    group.offsets[topicPartition] = value
                } else {
                    group.offsets.removeValue(forKey: topicPartition)
                }
                if group.offsets.isEmpty && group.protocolType == nil {
                    state.groups.removeValue(forKey: groupId)
                } else {
                    state.groups[groupId] = group
                }
            case .groupMetadata(let groupId, let value):
                guard let value else {
                    state.groups.removeValue(forKey: groupId)
                    return
                }
                var group = state.groups[groupId] ?? newGroup(groupId, now: now)
                group.restore(value, now: now)
                state.groups[groupId] = group
            }
        }
    }

    private func newGroup(_ id: String, now: Int64) -> GroupMachine {
        GroupMachine(id: id, now: now, settings: settings.membership)
    }

    /// Carries out a step's actions (under the lock): answers waiters and logs; returns the records to persist.
    private func perform(_ actions: [GroupMachine.Action], _ state: inout State) -> [OffsetsTopicRecord] {
        var records: [OffsetsTopicRecord] = []
        for action in actions {
            switch action {
            case .answerJoin(let waiter, let result):
                state.joinWaiters.removeValue(forKey: waiter)?.resume(returning: result)
            case .answerSync(let waiter, let result):
                state.syncWaiters.removeValue(forKey: waiter)?.resume(returning: result)
            case .persist(let record):
                records.append(record)
            case .log(let level, let message, let metadata):
                logger.log(level: level, "\(message)", metadata: metadata)
            }
        }
        return records
    }

    /// Runs one step on a group (created when it does not exist), carries out its actions and keeps the group when
    /// it holds anything.
    private func step(
        _ groupId: String,
        _ state: inout State,
        now: Int64,
        _ body: (inout GroupMachine) -> [GroupMachine.Action]
    ) -> [OffsetsTopicRecord] {
        let existed = state.groups[groupId] != nil
        var group = state.groups[groupId] ?? newGroup(groupId, now: now)
        let actions = body(&group)
        if existed || !group.isEmpty || !group.pendingMembers.isEmpty {
            state.groups[groupId] = group
        }
        return perform(actions, &state)
    }

    // MARK: - Membership

    func join(_ request: JoinGroupRequest) async throws(BrokerError) -> JoinGroupResponse {
        guard !request.groupId.isEmpty else { throw BrokerError.emptyGroupId }
        guard
            request.sessionTimeoutMs >= settings.minSessionTimeoutMs
                && request.sessionTimeoutMs <= settings.maxSessionTimeoutMs
        else {
            throw BrokerError(
                .invalidSessionTimeout,
                "The session timeout \(request.sessionTimeoutMs) ms is not within the broker's range [\(settings.minSessionTimeoutMs), \(settings.maxSessionTimeoutMs)] (group.min.session.timeout.ms, group.max.session.timeout.ms)"
            )
        }
        guard !request.protocolType.isEmpty, !request.protocols.isEmpty else {
            throw BrokerError(
                .inconsistentGroupProtocol,
                "A member must name a protocol type and at least one protocol"
            )
        }
        var persist: [OffsetsTopicRecord] = []
        let result = await withCheckedContinuation { (continuation: JoinWaiter) in
            groups.withLock { state in
                guard !stopped.load(ordering: .relaxed) else {
                    continuation.resume(returning: .failure(Errors.shuttingDown))
                    return
                }
                let now = clock.nowMilliseconds()
                let waiter = state.newWaiter()
                state.joinWaiters[waiter] = continuation
                let memberId = "\(request.clientId)-\(KafkaUuid.random())"
                persist = step(request.groupId, &state, now: now) { group in
                    group.join(request, waiter: waiter, newMemberId: memberId, now: now)
                }
            }
        }
        await self.persist(persist)
        return try result.get()
    }

    func sync(_ request: SyncGroupRequest) async throws(BrokerError) -> SyncGroupResponse {
        var persist: [OffsetsTopicRecord] = []
        let result = await withCheckedContinuation { (continuation: SyncWaiter) in
            groups.withLock { state in
                guard !stopped.load(ordering: .relaxed) else {
                    continuation.resume(returning: .failure(Errors.shuttingDown))
                    return
                }
                guard state.groups[request.groupId] != nil else {
                    continuation.resume(
                        returning: .failure(Errors.unknownMember(request.memberId, in: request.groupId))
                    )
                    return
                }
                let now = clock.nowMilliseconds()
                let waiter = state.newWaiter()
                state.syncWaiters[waiter] = continuation
                persist = step(request.groupId, &state, now: now) { group in
                    group.sync(request, instanceId: request.groupInstanceId, waiter: waiter, now: now)
                }
            }
        }
        // The generation is complete whether or not its record is written: a failure is logged, not returned to
        // the leader alone.
        await self.persist(persist)
        return try result.get()
    }

    func heartbeat(groupId: String, memberId: String, generationId: Int32) throws(BrokerError) {
        let now = clock.nowMilliseconds()
        try groups.withLock { state throws(BrokerError) in
            guard var group = state.groups[groupId] else { throw Errors.unknownMember(memberId, in: groupId) }
            // Kept even when the heartbeat is answered with an error: it still counts (REBALANCE_IN_PROGRESS).
            defer { state.groups[groupId] = group }
            try group.heartbeat(memberId: memberId, generationId: generationId, now: now)
        }
    }

    func leave(groupId: String, memberId: String) async throws(BrokerError) {
        let now = clock.nowMilliseconds()
        let persist = try groups.withLock { state throws(BrokerError) -> [OffsetsTopicRecord] in
            guard var group = state.groups[groupId] else { throw Errors.unknownMember(memberId, in: groupId) }
            let actions = try group.leave(memberId: memberId, now: now)
            state.groups[groupId] = group
            return perform(actions, &state)
        }
        await self.persist(persist)
    }

    // MARK: - Time

    /// Expires members whose session lapsed and ends join phases whose deadline passed, in every group.
    func tick() async {
        let now = clock.nowMilliseconds()
        let records = groups.withLock { state -> [OffsetsTopicRecord] in
            var records: [OffsetsTopicRecord] = []
            for id in state.groups.keys.sorted() {
                records += step(id, &state, now: now) { $0.tick(now: now) }
            }
            return records
        }
        await persist(records)
    }

    /// Starts a rebalance of every consumer group subscribed to a topic whose partitions changed (created, grown or
    /// deleted), as Java consumer leaders do when their metadata changes.
    func topicChanged(_ topic: String) {
        let now = clock.nowMilliseconds()
        groups.withLock { state in
            for id in state.groups.keys.sorted() {
                _ = step(id, &state, now: now) { $0.topicChanged(topic, now: now) }
            }
        }
    }

    // MARK: - Offsets

    func commit(_ request: OffsetCommitRequest) async throws(BrokerError) -> OffsetCommitResult {
        guard !request.groupId.isEmpty else { throw BrokerError.emptyGroupId }
        let now = clock.nowMilliseconds()
        var result = OffsetCommitResult()
        var valid: [TopicPartition: CommittedOffset] = [:]
        for (topicPartition, committed) in request.offsets {
            if committed.metadata.utf8.count > settings.offsetMetadataMaxBytes {
                result.failed[topicPartition] = BrokerError(
                    .offsetMetadataTooLarge,
                    "The metadata of the offset for \(topicPartition) is longer than offset.metadata.max.bytes (\(settings.offsetMetadataMaxBytes))"
                )
            } else if (partitionCount(topicPartition.topic) ?? 0) <= topicPartition.partition {
                result.failed[topicPartition] = BrokerError.unknownPartition(topicPartition)
            } else if committed.offset < 0 {
                result.failed[topicPartition] = BrokerError(
                    .invalidRequest,
                    "The offset \(committed.offset) for \(topicPartition) is negative"
                )
            } else {
                var stamped = committed
                stamped.commitTimestamp = now
                valid[topicPartition] = stamped
            }
        }
        let (checked, accepted) = (result, valid)
        return try await serialized(offsetsPartition(for: request.groupId)) { () throws(BrokerError) in
            try groups.withLock { state throws(BrokerError) in
                let group = state.groups[request.groupId]
                if request.generationId < 0 && request.memberId.isEmpty && (group?.isEmpty ?? true) {
                    if group == nil { state.groups[request.groupId] = newGroup(request.groupId, now: now) }
                    return
                }
                guard var group else {
                    throw Errors.unknownMember(request.memberId, in: request.groupId)
                }
                try group.checkCommit(memberId: request.memberId, generationId: request.generationId, now: now)
                state.groups[request.groupId] = group
            }
            guard !accepted.isEmpty else { return checked }
            let records = accepted.sorted { $0.key < $1.key }.map { topicPartition, offset in
                OffsetsTopicRecord.offsetCommit(
                    group: request.groupId,
                    topic: topicPartition.topic,
                    partition: topicPartition.partition,
                    value: offset
                )
            }
            try await writeOffsets(offsetsPartition(for: request.groupId), records)
            groups.withLock { state in
                var group = state.groups[request.groupId] ?? newGroup(request.groupId, now: now)
                for (topicPartition, offset) in accepted { group.offsets[topicPartition] = offset }
                state.groups[request.groupId] = group
            }
            var committed = checked
            committed.committed = accepted.keys.sorted()
            return committed
        }
    }

    func committedOffsets(groupId: String, partitions: [TopicPartition]?) -> [TopicPartition: CommittedOffset] {
        groups.withLock { state in
            guard let offsets = state.groups[groupId]?.offsets else { return [:] }
            guard let partitions else { return offsets }
            return offsets.filter { partitions.contains($0.key) }
        }
    }

    /// Deletes committed offsets of a topic that was deleted, in every group.
    func topicDeleted(_ topic: String) async {
        await rewrite(reason: "deleted topic") { group in
            let gone = group.offsets.keys.filter { $0.topic == topic }
            for topicPartition in gone { group.offsets.removeValue(forKey: topicPartition) }
            return (gone, false)
        }
        topicChanged(topic)
    }

    /// Applies `change` to every group, one `__consumer_offsets` partition at a time under its lock, and writes
    /// tombstones for the offsets it removed (and for the group, when it says the group is gone).
    private func rewrite(
        reason: String,
        _ change: (inout GroupMachine) -> (removed: [TopicPartition], groupGone: Bool)
    ) async {
        let partitions = groups.withLock { state in Set(state.groups.keys.map { offsetsPartition(for: $0) }) }
        var written = 0
        for partition in partitions.sorted() {
            do {
                written += try await serialized(partition) { () throws(BrokerError) -> Int in
                    let records = groups.withLock { state -> [OffsetsTopicRecord] in
                        var records: [OffsetsTopicRecord] = []
                        for id in state.groups.keys.sorted() where offsetsPartition(for: id) == partition {
                            guard var group = state.groups[id] else { continue }
                            let (removed, groupGone) = change(&group)
                            records += removed.sorted().map {
                                .offsetCommit(group: id, topic: $0.topic, partition: $0.partition, value: nil)
                            }
                            if groupGone {
                                state.groups.removeValue(forKey: id)
                                records.append(.groupMetadata(group: id, value: nil))
                            } else {
                                state.groups[id] = group
                            }
                        }
                        return records
                    }
                    try await writeOffsets(partition, records)
                    return records.count
                }
            } catch {
                logger.warning(
                    "Writing offset tombstones failed",
                    metadata: ["reason": "\(reason)", "partition": "\(partition)", "error": "\(error)"]
                )
            }
        }
        if written > 0 {
            logger.info("Removed committed offsets", metadata: ["reason": "\(reason)", "records": "\(written)"])
        }
    }

    /// Removes offsets older than `offsets.retention.minutes`: all of a group's offsets once it has been empty that
    /// long, or single offsets of groups that never had members (standalone consumers) by commit time.
    func expireOffsets() async {
        let now = clock.nowMilliseconds()
        let retention = settings.offsetsRetentionMs
        await rewrite(reason: "offsets.retention.minutes") { group in
            guard group.members.isEmpty, group.state == .empty else { return ([], false) }
            let expired: [TopicPartition]
            if group.protocolType != nil {
                expired = now - group.stateTimestamp >= retention ? Array(group.offsets.keys) : []
            } else {
                expired = group.offsets.filter { now - $0.value.commitTimestamp >= retention }.map(\.key)
            }
            for topicPartition in expired { group.offsets.removeValue(forKey: topicPartition) }
            return (expired, group.offsets.isEmpty && (!expired.isEmpty || group.protocolType == nil))
        }
    }

    private func persist(_ records: [OffsetsTopicRecord]) async {
        var byPartition: [Int32: [OffsetsTopicRecord]] = [:]
        for record in records {
            let group: String
            switch record {
            case .offsetCommit(let id, _, _, _), .groupMetadata(let id, _): group = id
            }
            byPartition[offsetsPartition(for: group), default: []].append(record)
        }
        for (partition, records) in byPartition {
            do {
                try await serialized(partition) { () throws(BrokerError) in try await writeOffsets(partition, records) }
            } catch {
                logger.warning("Writing group records failed", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Admin

    func listGroups() -> [GroupOverview] {
        groups.withLock { state in
            state.groups.values.map {
                GroupOverview(groupId: $0.id, protocolType: $0.protocolType ?? "", state: $0.state)
            }
        }
        .sorted { $0.groupId < $1.groupId }
    }

    func describe(_ groupId: String, nodeId: Int32) -> GroupDescription {
        groups.withLock { state in
            guard let group = state.groups[groupId] else {
                return GroupDescription(
                    groupId: groupId,
                    state: .dead,
                    protocolType: "",
                    protocolName: "",
                    generationId: -1,
                    leaderId: nil,
                    members: [],
                    coordinator: nodeId
                )
            }
            let isConsumer = group.protocolType == ConsumerProtocol.protocolType
            return GroupDescription(
                groupId: groupId,
                state: group.state,
                protocolType: group.protocolType ?? "",
                protocolName: group.protocolName ?? "",
                generationId: group.generation,
                leaderId: group.leaderId,
                members: group.joinOrder.compactMap { id in
                    guard let member = group.members[id] else { return nil }
                    let partitions =
                        isConsumer ? (try? ConsumerProtocol.Assignment(decoding: member.assignment).partitions) : nil
                    return GroupMemberDescription(
                        memberId: id,
                        clientId: member.clientId,
                        clientHost: member.clientHost,
                        metadata: member.metadata(for: group.protocolName),
                        assignment: member.assignment,
                        assignedPartitions: partitions ?? []
                    )
                },
                coordinator: nodeId
            )
        }
    }

    func exists(_ groupId: String) -> Bool {
        groups.withLock { $0.groups[groupId] != nil }
    }

    func delete(_ groupId: String) async throws(BrokerError) {
        let partition = offsetsPartition(for: groupId)
        try await serialized(partition) { () throws(BrokerError) in
            let records = try groups.withLock { state throws(BrokerError) -> [OffsetsTopicRecord] in
                guard let group = state.groups[groupId] else {
                    throw BrokerError(.groupIdNotFound, "The group id \(groupId) does not exist")
                }
                guard group.members.isEmpty else {
                    throw BrokerError(.nonEmptyGroup, "The group \(groupId) has active members and cannot be deleted")
                }
                state.groups.removeValue(forKey: groupId)
                return group.offsets.keys.sorted().map {
                    .offsetCommit(group: groupId, topic: $0.topic, partition: $0.partition, value: nil)
                } + [.groupMetadata(group: groupId, value: nil)]
            }
            try await writeOffsets(partition, records)
        }
    }

    /// Fails every waiting join and sync (the broker is shutting down).
    func shutdown() {
        groups.withLock { state in
            stopped.store(true, ordering: .relaxed)
            for id in state.groups.keys.sorted() {
                _ = step(id, &state, now: clock.nowMilliseconds()) { $0.failWaiters(Errors.shuttingDown) }
            }
        }
    }
}
