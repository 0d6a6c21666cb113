import Logging
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import Synchronization

/// Kafka's classic group coordinator: members join with a session timeout, the coordinator picks a protocol and a
/// leader per generation, the leader's SyncGroup hands out assignments, heartbeats keep members alive, and any
/// join, leave, expiry, subscription change or partition change starts a new rebalance. Committed offsets live in
/// memory and in `__consumer_offsets` (written through ``OffsetsWriter`` before a commit is acknowledged).
///
/// All state is under one lock; waiting joins and syncs are continuations resumed when their rebalance step
/// completes. Time comes from the injected clock; ``tick()`` expires sessions and rebalance deadlines.
final class GroupCoordinator: Sendable {
    struct Settings: Sendable {
        var minSessionTimeoutMs: Int64
        var maxSessionTimeoutMs: Int64
        var initialRebalanceDelayMs: Int64
        var maxGroupSize: Int
        var offsetsRetentionMs: Int64
        var offsetMetadataMaxBytes: Int
        var offsetsPartitions: Int32
    }

    /// Appends records to a partition of `__consumer_offsets`.
    typealias OffsetsWriter =
        @Sendable (_ partition: Int32, _ records: [OffsetsTopicRecord]) async throws(BrokerError)
        -> Void
    /// The partition count of an existing topic.
    typealias TopicLookup = @Sendable (_ topic: String) -> Int32?

    private typealias JoinWaiter = CheckedContinuation<Result<JoinGroupResponse, BrokerError>, Never>
    private typealias SyncWaiter = CheckedContinuation<Result<SyncGroupResponse, BrokerError>, Never>

    private struct Member {
        let id: String
        var clientId: String
        var clientHost: String
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var protocols: [GroupProtocol]
        var assignment: [UInt8] = []
        var lastHeartbeat: Int64
        var joinWaiter: JoinWaiter?
        var syncWaiter: SyncWaiter?

        func metadata(for protocolName: String?) -> [UInt8] {
            protocols.first { $0.name == protocolName }?.metadata ?? []
        }
    }

    private struct Group {
        let id: String
        var state: GroupState = .empty
        var generation: Int32 = 0
        var protocolType: String?
        var protocolName: String?
        var leaderId: String?
        var members: [String: Member] = [:]
        /// Member ids in join order (the first becomes leader when there is none).
        var joinOrder: [String] = []
        var rebalanceDeadline: Int64 = 0
        /// While set, the first rebalance of an empty group waits for more members.
        var initialDelayDeadline: Int64?
        var stateTimestamp: Int64
        var offsets: [TopicPartition: CommittedOffset] = [:]

        init(id: String, now: Int64) {
            self.id = id
            self.stateTimestamp = now
        }

        var storedRecord: OffsetsTopicRecord {
            .groupMetadata(
                group: id,
                value: .init(
                    protocolType: protocolType ?? "",
                    generation: generation,
                    protocolName: protocolName,
                    leader: leaderId,
                    currentStateTimestamp: stateTimestamp
                )
            )
        }
    }

    private let groups = Mutex<[String: Group]>([:])
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
        groups.withLock { groups in
            switch record {
            case .offsetCommit(let groupId, let topic, let partition, let value):
                guard let topicPartition = try? TopicPartition(topic: topic, partition: partition) else { return }
                var group = groups[groupId] ?? Group(id: groupId, now: now)
                if let value {
                    group.offsets[topicPartition] = value
                } else {
                    group.offsets.removeValue(forKey: topicPartition)
                }
                if group.offsets.isEmpty && group.protocolType == nil {
                    groups.removeValue(forKey: groupId)
                } else {
                    groups[groupId] = group
                }
            case .groupMetadata(let groupId, let value):
                guard let value else {
                    groups.removeValue(forKey: groupId)
                    return
                }
                var group = groups[groupId] ?? Group(id: groupId, now: now)
                group.protocolType = value.protocolType.isEmpty ? nil : value.protocolType
                group.generation = value.generation
                // A group that had members when the record was written loses them now (they must rejoin): its
                // offsets' retention counts from this start, as Kafka counts it from their session expiry.
                let hadMembers = value.leader != nil || value.protocolName != nil
                group.stateTimestamp =
                    hadMembers || value.currentStateTimestamp < 0 ? now : value.currentStateTimestamp
                // Members are not restored: they rejoin, so the group starts Empty.
                group.protocolName = nil
                group.leaderId = nil
                groups[groupId] = group
            }
        }
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
        let result = await withCheckedContinuation { (continuation: JoinWaiter) in
            groups.withLock { groups in
                do throws(BrokerError) {
                    guard !stopped.load(ordering: .relaxed) else { throw Errors.shuttingDown }
                    try self.join(request, continuation: continuation, groups: &groups)
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    private func join(
        _ request: JoinGroupRequest,
        continuation: JoinWaiter,
        groups: inout [String: Group]
    )
        throws(BrokerError)
    {
        let now = clock.nowMilliseconds()
        var group = groups[request.groupId] ?? Group(id: request.groupId, now: now)
        if !group.members.isEmpty {
            guard group.protocolType == request.protocolType else {
                throw BrokerError(
                    .inconsistentGroupProtocol,
                    "The group \(request.groupId) uses protocol type \(group.protocolType ?? ""), not \(request.protocolType)"
                )
            }
            let others = group.members.values.filter { $0.id != request.memberId }
            let common = others.reduce(Set(request.protocols.map(\.name))) { $0.intersection($1.protocols.map(\.name)) }
            guard !common.isEmpty else {
                throw BrokerError(
                    .inconsistentGroupProtocol,
                    "The member's protocols (\(request.protocols.map(\.name).joined(separator: ", "))) share none with the group \(request.groupId)"
                )
            }
        }

        if request.memberId.isEmpty {
            guard group.members.count < settings.maxGroupSize else {
                throw BrokerError(.groupMaxSizeReached, "The group \(request.groupId) has reached its maximum size")
            }
            let memberId = "\(request.clientId)-\(KafkaUuid.random())"
            group.members[memberId] = Member(
                id: memberId,
                clientId: request.clientId,
                clientHost: request.clientHost,
                sessionTimeoutMs: request.sessionTimeoutMs,
                rebalanceTimeoutMs: request.rebalanceTimeoutMs,
                protocols: request.protocols,
                lastHeartbeat: now,
                joinWaiter: continuation
            )
            group.joinOrder.append(memberId)
            group.protocolType = request.protocolType
            if group.state != .preparingRebalance { prepareRebalance(&group, now: now, reason: "member joined") }
            tryCompleteJoin(&group, now: now)
            groups[request.groupId] = group
            return
        }

        guard var member = group.members[request.memberId] else {
            throw Errors.unknownMember(request.memberId, in: request.groupId)
        }
        let protocolsChanged = member.protocols != request.protocols
        member.protocols = request.protocols
        member.sessionTimeoutMs = request.sessionTimeoutMs
        member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
        member.lastHeartbeat = now
        switch group.state {
        case .preparingRebalance:
            member.joinWaiter?.resume(
                returning: .failure(BrokerError(.rebalanceInProgress, "Superseded by a new join"))
            )
            member.joinWaiter = continuation
            group.members[member.id] = member
            tryCompleteJoin(&group, now: now)
        case .completingRebalance, .stable:
            let isLeader = group.leaderId == member.id
            if !protocolsChanged && (group.state == .completingRebalance || !isLeader) {
                // Nothing changed: the member gets the current generation again.
                group.members[member.id] = member
                continuation.resume(returning: .success(joinResponse(group, for: member.id, includeMembers: isLeader)))
            } else {
                member.joinWaiter = continuation
                group.members[member.id] = member
                prepareRebalance(
                    &group,
                    now: now,
                    reason: protocolsChanged ? "subscription changed" : "leader rejoined"
                )
                tryCompleteJoin(&group, now: now)
            }
        case .empty, .dead:
            throw Errors.unknownMember(request.memberId, in: request.groupId)
        }
        groups[request.groupId] = group
    }

    func sync(_ request: SyncGroupRequest) async throws(BrokerError) -> SyncGroupResponse {
        var persist: OffsetsTopicRecord?
        let result = await withCheckedContinuation { (continuation: SyncWaiter) in
            groups.withLock { groups in
                do throws(BrokerError) {
                    guard !stopped.load(ordering: .relaxed) else { throw Errors.shuttingDown }
                    persist = try self.sync(request, continuation: continuation, groups: &groups)
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        // The generation is complete whether or not its record is written: a failure is logged, not returned to
        // the leader alone.
        if let persist { await self.persist([persist]) }
        return try result.get()
    }

    /// Returns the group record to persist when the leader's sync completes the generation.
    private func sync(
        _ request: SyncGroupRequest,
        continuation: SyncWaiter,
        groups: inout [String: Group]
    )
        throws(BrokerError) -> OffsetsTopicRecord?
    {
        let now = clock.nowMilliseconds()
        guard var group = groups[request.groupId], var member = group.members[request.memberId] else {
            throw Errors.unknownMember(request.memberId, in: request.groupId)
        }
        guard request.generationId == group.generation else {
            throw Errors.illegalGeneration(request.generationId, current: group.generation, in: request.groupId)
        }
        member.lastHeartbeat = now
        switch group.state {
        case .preparingRebalance:
            group.members[member.id] = member
            groups[group.id] = group
            throw Errors.rebalancing(group.id)
        case .stable:
            group.members[member.id] = member
            groups[group.id] = group
            continuation.resume(
                returning: .success(
                    SyncGroupResponse(protocolName: group.protocolName ?? "", assignment: member.assignment)
                )
            )
            return nil
        case .completingRebalance:
            // A second sync from the same member replaces the first, which is told to rejoin.
            member.syncWaiter?.resume(returning: .failure(Errors.rebalancing(group.id)))
            member.syncWaiter = continuation
            group.members[member.id] = member
            guard member.id == group.leaderId else {
                groups[group.id] = group
                return nil
            }
            for id in group.members.keys {
                group.members[id]?.assignment = request.assignments[id] ?? []
            }
            group.state = .stable
            group.stateTimestamp = now
            for id in group.members.keys {
                guard let waiter = group.members[id]?.syncWaiter else { continue }
                group.members[id]?.syncWaiter = nil
                waiter.resume(
                    returning: .success(
                        SyncGroupResponse(
                            protocolName: group.protocolName ?? "",
                            assignment: group.members[id]?.assignment ?? []
                        )
                    )
                )
            }
            logger.debug(
                "Group is stable",
                metadata: ["group": "\(group.id)", "generation": "\(group.generation)"]
            )
            groups[group.id] = group
            return group.storedRecord
        case .empty, .dead:
            throw Errors.unknownMember(request.memberId, in: request.groupId)
        }
    }

    func heartbeat(groupId: String, memberId: String, generationId: Int32) throws(BrokerError) {
        let now = clock.nowMilliseconds()
        try groups.withLock { groups throws(BrokerError) in
            guard var group = groups[groupId], group.members[memberId] != nil else {
                throw Errors.unknownMember(memberId, in: groupId)
            }
            guard generationId == group.generation else {
                throw Errors.illegalGeneration(generationId, current: group.generation, in: groupId)
            }
            group.members[memberId]?.lastHeartbeat = now
            groups[groupId] = group
            if group.state == .preparingRebalance {
                throw Errors.rebalancing(groupId)
            }
        }
    }

    func leave(groupId: String, memberId: String) async throws(BrokerError) {
        let persist = try groups.withLock { groups throws(BrokerError) -> OffsetsTopicRecord? in
            guard var group = groups[groupId], let member = group.members[memberId] else {
                throw Errors.unknownMember(memberId, in: groupId)
            }
            let now = clock.nowMilliseconds()
            let gone = BrokerError(.unknownMemberId, "The member \(memberId) left the group")
            member.joinWaiter?.resume(returning: .failure(gone))
            member.syncWaiter?.resume(returning: .failure(gone))
            group.members.removeValue(forKey: memberId)
            group.joinOrder.removeAll { $0 == memberId }
            let wasEmpty = group.state == .empty
            if group.state != .preparingRebalance { prepareRebalance(&group, now: now, reason: "member left") }
            tryCompleteJoin(&group, now: now)
            groups[groupId] = group
            return group.state == .empty && !wasEmpty ? group.storedRecord : nil
        }
        if let persist { await self.persist([persist]) }
    }

    // MARK: - Rebalance steps (under the lock)

    private func prepareRebalance(_ group: inout Group, now: Int64, reason: String) {
        if group.state == .completingRebalance {
            for id in group.members.keys {
                guard let waiter = group.members[id]?.syncWaiter else { continue }
                group.members[id]?.syncWaiter = nil
                waiter.resume(
                    returning: .failure(
                        Errors.rebalancing(group.id)
                    )
                )
            }
        }
        let wasEmpty = group.state == .empty
        group.state = .preparingRebalance
        group.stateTimestamp = now
        let timeout = group.members.values.map(\.rebalanceTimeoutMs).max() ?? 0
        group.rebalanceDeadline = now + timeout
        if wasEmpty && settings.initialRebalanceDelayMs > 0 {
            group.initialDelayDeadline = now + min(settings.initialRebalanceDelayMs, max(timeout, 1))
        }
        logger.debug("Preparing rebalance", metadata: ["group": "\(group.id)", "reason": "\(reason)"])
    }

    private func tryCompleteJoin(_ group: inout Group, now: Int64) {
        guard group.state == .preparingRebalance else { return }
        if let delay = group.initialDelayDeadline, now < delay { return }
        if group.members.values.allSatisfy({ $0.joinWaiter != nil }) { completeJoin(&group, now: now) }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation advances, and every waiting
    /// member learns the protocol and the leader (the leader also gets every member's metadata).
    private func completeJoin(_ group: inout Group, now: Int64) {
        for member in group.members.values where member.joinWaiter == nil {
            group.members.removeValue(forKey: member.id)
            logger.info(
                "Member removed: it did not rejoin in time",
                metadata: ["group": "\(group.id)", "member": "\(member.id)"]
            )
        }
        group.joinOrder.removeAll { group.members[$0] == nil }
        group.initialDelayDeadline = nil
        group.generation &+= 1
        group.stateTimestamp = now
        guard !group.members.isEmpty else {
            group.state = .empty
            group.protocolName = nil
            group.leaderId = nil
            return
        }
        group.protocolName = selectProtocol(group)
        if group.leaderId.map({ group.members[$0] == nil }) ?? true { group.leaderId = group.joinOrder.first }
        group.state = .completingRebalance
        for id in group.joinOrder {
            guard var member = group.members[id], let waiter = member.joinWaiter else { continue }
            member.joinWaiter = nil
            member.lastHeartbeat = now
            member.assignment = []
            group.members[id] = member
            waiter.resume(returning: .success(joinResponse(group, for: id, includeMembers: id == group.leaderId)))
        }
        logger.debug(
            "Rebalance: join complete",
            metadata: [
                "group": "\(group.id)", "generation": "\(group.generation)", "members": "\(group.members.count)",
                "protocol": "\(group.protocolName ?? "")",
            ]
        )
    }

    /// The protocol every member supports that most members prefer (each votes for its first supported choice).
    private func selectProtocol(_ group: Group) -> String? {
        let members = group.joinOrder.compactMap { group.members[$0] }
        guard let first = members.first else { return nil }
        let candidates = members.dropFirst().reduce(Set(first.protocols.map(\.name))) {
            $0.intersection($1.protocols.map(\.name))
        }
        var votes: [String: Int] = [:]
        for member in members {
            if let choice = member.protocols.first(where: { candidates.contains($0.name) }) {
                votes[choice.name, default: 0] += 1
            }
        }
        // Ties go to the first member's preference order.
        return first.protocols.map(\.name).filter { candidates.contains($0) }.max {
            votes[$0, default: 0] < votes[$1, default: 0]
        }
    }

    private func joinResponse(_ group: Group, for memberId: String, includeMembers: Bool) -> JoinGroupResponse {
        JoinGroupResponse(
            generationId: group.generation,
            protocolName: group.protocolName ?? "",
            leaderId: group.leaderId ?? "",
            memberId: memberId,
            members: includeMembers
                ? group.joinOrder.compactMap { id in
                    group.members[id].map { .init(memberId: id, metadata: $0.metadata(for: group.protocolName)) }
                } : []
        )
    }

    // MARK: - Time

    /// Expires members whose session lapsed and ends join phases whose deadline passed; returns what to persist.
    func tick() async {
        let now = clock.nowMilliseconds()
        let records = groups.withLock { groups -> [OffsetsTopicRecord] in
            var records: [OffsetsTopicRecord] = []
            for id in Array(groups.keys) {
                guard var group = groups[id], !group.members.isEmpty || group.state == .preparingRebalance else {
                    continue
                }
                let before = group.state
                var expired: [String] = []
                for member in group.members.values where member.joinWaiter == nil {
                    if now - member.lastHeartbeat >= member.sessionTimeoutMs { expired.append(member.id) }
                }
                for memberId in expired {
                    let member = group.members.removeValue(forKey: memberId)
                    member?.syncWaiter?.resume(
                        returning: .failure(BrokerError(.unknownMemberId, "The member's session expired"))
                    )
                    group.joinOrder.removeAll { $0 == memberId }
                    logger.info("Member session expired", metadata: ["group": "\(id)", "member": "\(memberId)"])
                }
                if !expired.isEmpty && group.state != .preparingRebalance {
                    prepareRebalance(&group, now: now, reason: "member session expired")
                }
                if group.state == .preparingRebalance {
                    if now >= group.rebalanceDeadline {
                        completeJoin(&group, now: now)
                    } else {
                        tryCompleteJoin(&group, now: now)
                    }
                }
                if group.state == .empty && before != .empty { records.append(group.storedRecord) }
                groups[id] = group
            }
            return records
        }
        await persist(records)
    }

    /// Starts a rebalance of every consumer group subscribed to a topic whose partitions changed (created, grown or
    /// deleted), as Java consumer leaders do when their metadata changes.
    func topicChanged(_ topic: String) {
        let now = clock.nowMilliseconds()
        groups.withLock { groups in
            for id in Array(groups.keys) {
                guard var group = groups[id], group.protocolType == ConsumerProtocol.protocolType,
                    group.state == .stable || group.state == .completingRebalance
                else { continue }
                let subscribed = group.members.values.contains { member in
                    let metadata = member.metadata(for: group.protocolName)
                    return (try? ConsumerProtocol.Subscription(decoding: metadata).topics.contains(topic)) ?? false
                }
                guard subscribed else { continue }
                prepareRebalance(&group, now: now, reason: "partitions of \(topic) changed")
                groups[id] = group
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
            try groups.withLock { groups throws(BrokerError) in
                let group = groups[request.groupId]
                if request.generationId < 0 && request.memberId.isEmpty && (group?.members.isEmpty ?? true) {
                    if group == nil { groups[request.groupId] = Group(id: request.groupId, now: now) }
                    return
                }
                guard var group else {
                    throw Errors.unknownMember(request.memberId, in: request.groupId)
                }
                if group.state == .completingRebalance {
                    throw Errors.rebalancing(request.groupId)
                }
                guard group.members[request.memberId] != nil else {
                    throw Errors.unknownMember(request.memberId, in: request.groupId)
                }
                guard request.generationId == group.generation else {
                    throw Errors.illegalGeneration(request.generationId, current: group.generation, in: request.groupId)
                }
                group.members[request.memberId]?.lastHeartbeat = now
                groups[request.groupId] = group
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
            groups.withLock { groups in
                var group = groups[request.groupId] ?? Group(id: request.groupId, now: now)
                for (topicPartition, offset) in accepted { group.offsets[topicPartition] = offset }
                groups[request.groupId] = group
            }
            var committed = checked
            committed.committed = accepted.keys.sorted()
            return committed
        }
    }

    func committedOffsets(groupId: String, partitions: [TopicPartition]?) -> [TopicPartition: CommittedOffset] {
        groups.withLock { groups in
            guard let offsets = groups[groupId]?.offsets else { return [:] }
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
        _ change: (inout Group) -> (removed: [TopicPartition], groupGone: Bool)
    ) async {
        let partitions = groups.withLock { groups in Set(groups.keys.map { offsetsPartition(for: $0) }) }
        var written = 0
        for partition in partitions.sorted() {
            do {
                written += try await serialized(partition) { () throws(BrokerError) -> Int in
                    let records = groups.withLock { groups -> [OffsetsTopicRecord] in
                        var records: [OffsetsTopicRecord] = []
                        for id in groups.keys.sorted() where offsetsPartition(for: id) == partition {
                            guard var group = groups[id] else { continue }
                            let (removed, groupGone) = change(&group)
                            records += removed.sorted().map {
                                .offsetCommit(group: id, topic: $0.topic, partition: $0.partition, value: nil)
                            }
                            if groupGone {
                                groups.removeValue(forKey: id)
                                records.append(.groupMetadata(group: id, value: nil))
                            } else {
                                groups[id] = group
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
        groups.withLock { groups in
            groups.values.map { GroupOverview(groupId: $0.id, protocolType: $0.protocolType ?? "", state: $0.state) }
        }
        .sorted { $0.groupId < $1.groupId }
    }

    func describe(_ groupId: String, nodeId: Int32) -> GroupDescription {
        groups.withLock { groups in
            guard let group = groups[groupId] else {
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
        groups.withLock { $0[groupId] != nil }
    }

    func delete(_ groupId: String) async throws(BrokerError) {
        let partition = offsetsPartition(for: groupId)
        try await serialized(partition) { () throws(BrokerError) in
            let records = try groups.withLock { groups throws(BrokerError) -> [OffsetsTopicRecord] in
                guard let group = groups[groupId] else {
                    throw BrokerError(.groupIdNotFound, "The group id \(groupId) does not exist")
                }
                guard group.members.isEmpty else {
                    throw BrokerError(.nonEmptyGroup, "The group \(groupId) has active members and cannot be deleted")
                }
                groups.removeValue(forKey: groupId)
                return group.offsets.keys.sorted().map {
                    .offsetCommit(group: groupId, topic: $0.topic, partition: $0.partition, value: nil)
                } + [.groupMetadata(group: groupId, value: nil)]
            }
            try await writeOffsets(partition, records)
        }
    }

    /// Fails every waiting join and sync (the broker is shutting down).
    func shutdown() {
        groups.withLock { groups in
            stopped.store(true, ordering: .relaxed)
            let error = Errors.shuttingDown
            for id in Array(groups.keys) {
                guard var group = groups[id] else { continue }
                for memberId in group.members.keys {
                    group.members[memberId]?.joinWaiter?.resume(returning: .failure(error))
                    group.members[memberId]?.joinWaiter = nil
                    group.members[memberId]?.syncWaiter?.resume(returning: .failure(error))
                    group.members[memberId]?.syncWaiter = nil
                }
                groups[id] = group
            }
        }
    }
}

/// The coordinator's member and generation errors, worded once.
private enum Errors {
    static func unknownMember(_ memberId: String, in groupId: String) -> BrokerError {
        BrokerError(.unknownMemberId, "The member id \(memberId) is not a member of the group \(groupId)")
    }

    static func illegalGeneration(_ generation: Int32, current: Int32, in groupId: String) -> BrokerError {
        BrokerError(
            .illegalGeneration,
            "Generation \(generation) is not the current generation \(current) of the group \(groupId)"
        )
    }

    static let shuttingDown = BrokerError(.coordinatorNotAvailable, "The broker is shutting down")

    static func rebalancing(_ groupId: String) -> BrokerError {
        BrokerError(.rebalanceInProgress, "The group \(groupId) is rebalancing; rejoin it")
    }
}
