import Logging
import RunnelBrokerAPI
import RunnelRecords

/// One group's membership in Kafka's classic group protocol, as a value: join, sync, heartbeat, leave, the checks a
/// commit needs, and time (``tick(now:)``). It holds no locks, threads or continuations: each step changes the state
/// and returns what must happen as a result (answer these waiting joins and syncs, persist this record, log this),
/// and the ``GroupCoordinator`` carries that out. Waiting requests are named by ``WaiterID``s.
///
/// Beyond the basic protocol it does what today's clients rely on: a first join may be told MEMBER_ID_REQUIRED with
/// its new id (KIP-394, for clients that ask for it); static members (`group.instance.id`, KIP-345) keep their place
/// and assignment across restarts, a rejoin with a new member id fences the old one, and a known static member
/// that rejoins a stable group with the same protocols is given the current generation without a rebalance.
struct GroupMachine: Sendable {
    typealias WaiterID = UInt64

    /// The broker's group settings that the steps apply (session timeouts are checked before a join gets here).
    struct Settings: Sendable, Hashable {
        /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for more members.
        var initialRebalanceDelayMs: Int64 = 0
        /// `group.max.size`.
        var maxGroupSize: Int = .max
    }

    /// What the coordinator must do after a step, in order.
    enum Action: Sendable, Equatable {
        case answerJoin(WaiterID, Result<JoinGroupResponse, BrokerError>)
        case answerSync(WaiterID, Result<SyncGroupResponse, BrokerError>)
        /// Write this record to the group's `__consumer_offsets` partition.
        case persist(OffsetsTopicRecord)
        case log(Logger.Level, String, Logger.Metadata)

        static func == (lhs: Action, rhs: Action) -> Bool {
            switch (lhs, rhs) {
            case (.answerJoin(let a, let x), .answerJoin(let b, let y)): a == b && x == y
            case (.answerSync(let a, let x), .answerSync(let b, let y)): a == b && x == y
            case (.persist(let x), .persist(let y)): x == y
            case (.log(let a, let x, _), .log(let b, let y, _)): a == b && x == y
            default: false
            }
        }
    }

    struct Member: Sendable, Hashable {
        let id: String
        /// `group.instance.id` of a static member.
        var instanceId: String?
        var clientId: String
        var clientHost: String
        var sessionTimeoutMs: Int64
        var rebalanceTimeoutMs: Int64
        var protocols: [GroupProtocol]
        var assignment: [UInt8] = []
        var lastHeartbeat: Int64
        var joinWaiter: WaiterID?
        var syncWaiter: WaiterID?

        func metadata(for protocolName: String?) -> [UInt8] {
            protocols.first { $0.name == protocolName }?.metadata ?? []
        }
    }

    let id: String
    let settings: Settings
    private(set) var state: GroupState = .empty
    private(set) var generation: Int32 = 0
    private(set) var protocolType: String?
    private(set) var protocolName: String?
    private(set) var leaderId: String?
    private(set) var members: [String: Member] = [:]
    /// Member ids in join order (the first becomes leader when there is none).
    private(set) var joinOrder: [String] = []
    /// Ids handed out with MEMBER_ID_REQUIRED, each until its deadline (KIP-394).
    private(set) var pendingMembers: [String: Int64] = [:]
    /// `group.instance.id` → the member id that holds it now (KIP-345).
    private(set) var staticMembers: [String: String] = [:]
    private(set) var rebalanceDeadline: Int64 = 0
    /// While set, the first rebalance of an empty group waits for more members.
    private(set) var initialDelayDeadline: Int64?
    private(set) var stateTimestamp: Int64
    var offsets: [TopicPartition: CommittedOffset] = [:]

    init(id: String, now: Int64, settings: Settings = Settings()) {
        self.id = id
        self.settings = settings
        self.stateTimestamp = now
    }

    var isEmpty: Bool { members.isEmpty }

    /// The group's record in `__consumer_offsets`.
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

    // MARK: Loading

    /// Applies the group's record read from `__consumer_offsets` at start: members are not restored (they rejoin),
    /// so the group starts Empty.
    mutating func restore(_ value: OffsetsTopicRecord.StoredGroup, now: Int64) {
        protocolType = value.protocolType.isEmpty ? nil : value.protocolType
        generation = value.generation
        // A group that had members when the record was written loses them now: its offsets' retention counts from
        // this start, as Kafka counts it from their session expiry.
        let hadMembers = value.leader != nil || value.protocolName != nil
        stateTimestamp = hadMembers || value.currentStateTimestamp < 0 ? now : value.currentStateTimestamp
        protocolName = nil
        leaderId = nil
    }

    // MARK: Join

    /// A JoinGroup: answered at once (an error, a rejoin that changes nothing, MEMBER_ID_REQUIRED) or when the
    /// rebalance it takes part in completes its join phase.
    mutating func join(
        _ request: JoinGroupRequest,
        waiter: WaiterID,
        newMemberId: String,
        now: Int64
    ) -> [Action] {
        var actions: [Action] = []
        do throws(BrokerError) {
            try checkProtocols(of: request)
            if request.memberId.isEmpty {
                try joinUnknown(request, waiter: waiter, newMemberId: newMemberId, now: now, &actions)
            } else {
                try joinKnown(request, waiter: waiter, now: now, &actions)
            }
        } catch {
            actions.append(.answerJoin(waiter, .failure(error)))
        }
        return actions
    }

    private func checkProtocols(of request: JoinGroupRequest) throws(BrokerError) {
        guard !members.isEmpty else { return }
        guard protocolType == request.protocolType else {
            throw BrokerError(
                .inconsistentGroupProtocol,
                "The group \(id) uses protocol type \(protocolType ?? ""), not \(request.protocolType)"
            )
        }
        // The member itself (by id, or a static member by its instance id) does not count against its new protocols.
        let others = members.values.filter { member in
            member.id != request.memberId
                && (request.groupInstanceId == nil || member.instanceId != request.groupInstanceId)
        }
        let common = others.reduce(Set(request.protocols.map(\.name))) { $0.intersection($1.protocols.map(\.name)) }
        guard !common.isEmpty || others.isEmpty else {
            throw BrokerError(
                .inconsistentGroupProtocol,
                "The member's protocols (\(request.protocols.map(\.name).joined(separator: ", "))) share none with the group \(id)"
            )
        }
    }

    /// A join without a member id: a new member, a client that must first learn its id, or a static member coming
    /// back under a new id.
    private mutating func joinUnknown(
        _ request: JoinGroupRequest,
        waiter: WaiterID,
        newMemberId: String,
        now: Int64,
        _ actions: inout [Action]
    ) throws(BrokerError) {
        if let instanceId = request.groupInstanceId, let previousId = staticMembers[instanceId],
            let previous = members[previousId]
        {
            try replaceStaticMember(previous, request, waiter: waiter, newMemberId: newMemberId, now: now, &actions)
            return
        }
        guard members.count + pendingMembers.count < settings.maxGroupSize else {
            throw BrokerError(.groupMaxSizeReached, "The group \(id) has reached its maximum size")
        }
        if request.requireKnownMemberId && request.groupInstanceId == nil {
            // KIP-394: the client learns its id first and joins again with it, so a client that times out and
            // retries does not leave a ghost member behind.
            pendingMembers[newMemberId] = now + request.sessionTimeoutMs
            actions.append(.answerJoin(waiter, .success(.memberIdRequired(newMemberId))))
            return
        }
        addMember(request, id: newMemberId, waiter: waiter, now: now)
        if state != .preparingRebalance { prepareRebalance(now: now, reason: "member joined", &actions) }
        tryCompleteJoin(now: now, &actions)
    }

    private mutating func addMember(_ request: JoinGroupRequest, id memberId: String, waiter: WaiterID, now: Int64) {
        members[memberId] = Member(
            id: memberId,
            instanceId: request.groupInstanceId,
            clientId: request.clientId,
            clientHost: request.clientHost,
            sessionTimeoutMs: request.sessionTimeoutMs,
            rebalanceTimeoutMs: request.rebalanceTimeoutMs,
            protocols: request.protocols,
            lastHeartbeat: now,
            joinWaiter: waiter
        )
        joinOrder.append(memberId)
        protocolType = request.protocolType
        if let instanceId = request.groupInstanceId { staticMembers[instanceId] = memberId }
    }

    /// KIP-345: a static member that restarted takes its old place under a new id; the old id is fenced.
    private mutating func replaceStaticMember(
        _ previous: Member,
        _ request: JoinGroupRequest,
        waiter: WaiterID,
        newMemberId: String,
        now: Int64,
        _ actions: inout [Action]
    ) throws(BrokerError) {
        let fenced = Errors.fenced(request.groupInstanceId ?? "", in: id)
        if let old = previous.joinWaiter { actions.append(.answerJoin(old, .failure(fenced))) }
        if let old = previous.syncWaiter { actions.append(.answerSync(old, .failure(fenced))) }
        members.removeValue(forKey: previous.id)
        var member = Member(
            id: newMemberId,
            instanceId: previous.instanceId,
            clientId: request.clientId,
            clientHost: request.clientHost,
            sessionTimeoutMs: request.sessionTimeoutMs,
            rebalanceTimeoutMs: request.rebalanceTimeoutMs,
            protocols: request.protocols,
            assignment: previous.assignment,
            lastHeartbeat: now
        )
        joinOrder = joinOrder.map { $0 == previous.id ? newMemberId : $0 }
        staticMembers[request.groupInstanceId ?? ""] = newMemberId
        let wasLeader = leaderId == previous.id
        if wasLeader { leaderId = newMemberId }
        actions.append(
            .log(.info, "Static member rejoined", ["group": "\(id)", "instance": "\(request.groupInstanceId ?? "")"])
        )
        if state == .stable && previous.protocols == request.protocols && !wasLeader {
            // Nothing the assignment depends on changed: the member gets the current generation, no rebalance.
            members[newMemberId] = member
            actions.append(.answerJoin(waiter, .success(joinResponse(for: newMemberId, includeMembers: false))))
            return
        }
        member.joinWaiter = waiter
        members[newMemberId] = member
        if state != .preparingRebalance { prepareRebalance(now: now, reason: "static member rejoined", &actions) }
        tryCompleteJoin(now: now, &actions)
    }

    /// A join with a member id: the second step of KIP-394, or a member rejoining.
    private mutating func joinKnown(
        _ request: JoinGroupRequest,
        waiter: WaiterID,
        now: Int64,
        _ actions: inout [Action]
    ) throws(BrokerError) {
        if pendingMembers.removeValue(forKey: request.memberId) != nil {
            addMember(request, id: request.memberId, waiter: waiter, now: now)
            if state != .preparingRebalance { prepareRebalance(now: now, reason: "member joined", &actions) }
            tryCompleteJoin(now: now, &actions)
            return
        }
        try checkInstance(request.groupInstanceId, memberId: request.memberId)
        guard var member = members[request.memberId] else {
            throw Errors.unknownMember(request.memberId, in: id)
        }
        let protocolsChanged = member.protocols != request.protocols
        member.protocols = request.protocols
        member.sessionTimeoutMs = request.sessionTimeoutMs
        member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
        member.lastHeartbeat = now
        switch state {
        case .preparingRebalance:
            if let superseded = member.joinWaiter {
                actions.append(
                    .answerJoin(superseded, .failure(BrokerError(.rebalanceInProgress, "Superseded by a new join")))
                )
            }
            member.joinWaiter = waiter
            members[member.id] = member
            tryCompleteJoin(now: now, &actions)
        case .completingRebalance, .stable:
            let isLeader = leaderId == member.id
            if !protocolsChanged && (state == .completingRebalance || !isLeader) {
                // Nothing changed: the member gets the current generation again.
                members[member.id] = member
                actions.append(.answerJoin(waiter, .success(joinResponse(for: member.id, includeMembers: isLeader))))
            } else {
                member.joinWaiter = waiter
                members[member.id] = member
                prepareRebalance(
                    now: now,
                    reason: protocolsChanged ? "subscription changed" : "leader rejoined",
                    &actions
                )
                tryCompleteJoin(now: now, &actions)
            }
        case .empty, .dead:
            throw Errors.unknownMember(request.memberId, in: id)
        }
    }

    /// A static member's id must be the one its instance holds now; an older one has been fenced (KIP-345).
    private func checkInstance(_ instanceId: String?, memberId: String) throws(BrokerError) {
        guard let instanceId, let current = staticMembers[instanceId], current != memberId else { return }
        throw Errors.fenced(instanceId, in: id)
    }

    // MARK: Sync

    /// A SyncGroup: the leader's completes the generation and answers every waiting member; a follower's waits for
    /// it (or is answered at once when the group is stable).
    mutating func sync(_ request: SyncGroupRequest, instanceId: String? = nil, waiter: WaiterID, now: Int64) -> [Action]
    {
        var actions: [Action] = []
        do throws(BrokerError) {
            try checkInstance(instanceId, memberId: request.memberId)
            guard var member = members[request.memberId] else {
                throw Errors.unknownMember(request.memberId, in: id)
            }
            guard request.generationId == generation else {
                throw Errors.illegalGeneration(request.generationId, current: generation, in: id)
            }
            member.lastHeartbeat = now
            switch state {
            case .preparingRebalance:
                members[member.id] = member
                throw Errors.rebalancing(id)
            case .stable:
                members[member.id] = member
                actions.append(
                    .answerSync(
                        waiter,
                        .success(SyncGroupResponse(protocolName: protocolName ?? "", assignment: member.assignment))
                    )
                )
            case .completingRebalance:
                // A second sync from the same member replaces the first, which is told to rejoin.
                if let replaced = member.syncWaiter {
                    actions.append(.answerSync(replaced, .failure(Errors.rebalancing(id))))
                }
                member.syncWaiter = waiter
                members[member.id] = member
                guard member.id == leaderId else { break }
                for memberId in members.keys { members[memberId]?.assignment = request.assignments[memberId] ?? [] }
                state = .stable
                stateTimestamp = now
                for memberId in joinOrder {
                    guard let waiting = members[memberId]?.syncWaiter else { continue }
                    members[memberId]?.syncWaiter = nil
                    actions.append(
                        .answerSync(
                            waiting,
                            .success(
                                SyncGroupResponse(
                                    protocolName: protocolName ?? "",
                                    assignment: members[memberId]?.assignment ?? []
                                )
                            )
                        )
                    )
                }
                actions.append(.log(.debug, "Group is stable", ["group": "\(id)", "generation": "\(generation)"]))
                actions.append(.persist(storedRecord))
            case .empty, .dead:
                throw Errors.unknownMember(request.memberId, in: id)
            }
        } catch {
            actions.append(.answerSync(waiter, .failure(error)))
        }
        return actions
    }

    // MARK: Heartbeat, leave, commit

    mutating func heartbeat(
        memberId: String,
        generationId: Int32,
        instanceId: String? = nil,
        now: Int64
    )
        throws(BrokerError)
    {
        try checkInstance(instanceId, memberId: memberId)
        guard members[memberId] != nil else { throw Errors.unknownMember(memberId, in: id) }
        guard generationId == generation else {
            throw Errors.illegalGeneration(generationId, current: generation, in: id)
        }
        members[memberId]?.lastHeartbeat = now
        if state == .preparingRebalance { throw Errors.rebalancing(id) }
    }

    mutating func leave(memberId: String, now: Int64) throws(BrokerError) -> [Action] {
        guard let member = members[memberId] else { throw Errors.unknownMember(memberId, in: id) }
        var actions: [Action] = []
        let gone = BrokerError(.unknownMemberId, "The member \(memberId) left the group")
        if let waiter = member.joinWaiter { actions.append(.answerJoin(waiter, .failure(gone))) }
        if let waiter = member.syncWaiter { actions.append(.answerSync(waiter, .failure(gone))) }
        remove(memberId)
        let wasEmpty = state == .empty
        if state != .preparingRebalance { prepareRebalance(now: now, reason: "member left", &actions) }
        tryCompleteJoin(now: now, &actions)
        if state == .empty && !wasEmpty { actions.append(.persist(storedRecord)) }
        return actions
    }

    /// Checks that a member may commit offsets now (a commit outside group management, `memberId == ""` and
    /// generation -1, is checked by the caller), counting the commit as a heartbeat.
    mutating func checkCommit(
        memberId: String,
        generationId: Int32,
        instanceId: String? = nil,
        now: Int64
    )
        throws(BrokerError)
    {
        if state == .completingRebalance { throw Errors.rebalancing(id) }
        try checkInstance(instanceId, memberId: memberId)
        guard members[memberId] != nil else { throw Errors.unknownMember(memberId, in: id) }
        guard generationId == generation else {
            throw Errors.illegalGeneration(generationId, current: generation, in: id)
        }
        members[memberId]?.lastHeartbeat = now
    }

    private mutating func remove(_ memberId: String) {
        if let instanceId = members[memberId]?.instanceId, staticMembers[instanceId] == memberId {
            staticMembers.removeValue(forKey: instanceId)
        }
        members.removeValue(forKey: memberId)
        joinOrder.removeAll { $0 == memberId }
    }

    // MARK: Time

    /// Expires members whose session lapsed, ids handed out that were never used, and join phases whose deadline
    /// passed.
    mutating func tick(now: Int64) -> [Action] {
        var actions: [Action] = []
        pendingMembers = pendingMembers.filter { $0.value > now }
        guard !members.isEmpty || state == .preparingRebalance else { return actions }
        let before = state
        let expired = members.values.filter { $0.joinWaiter == nil && now - $0.lastHeartbeat >= $0.sessionTimeoutMs }
        for member in expired.sorted(by: { $0.id < $1.id }) {
            if let waiter = member.syncWaiter {
                actions.append(
                    .answerSync(waiter, .failure(BrokerError(.unknownMemberId, "The member's session expired")))
                )
            }
            remove(member.id)
            actions.append(.log(.info, "Member session expired", ["group": "\(id)", "member": "\(member.id)"]))
        }
        if !expired.isEmpty && state != .preparingRebalance {
            prepareRebalance(now: now, reason: "member session expired", &actions)
        }
        if state == .preparingRebalance {
            if now >= rebalanceDeadline {
                completeJoin(now: now, &actions)
            } else {
                tryCompleteJoin(now: now, &actions)
            }
        }
        if state == .empty && before != .empty { actions.append(.persist(storedRecord)) }
        return actions
    }

    /// A subscribed topic's partitions changed: a stable consumer group rebalances, as Java consumer leaders do.
    mutating func topicChanged(_ topic: String, now: Int64) -> [Action] {
        guard protocolType == ConsumerProtocol.protocolType, state == .stable || state == .completingRebalance else {
            return []
        }
        let subscribed = members.values.contains { member in
            let metadata = member.metadata(for: protocolName)
            return (try? ConsumerProtocol.Subscription(decoding: metadata).topics.contains(topic)) ?? false
        }
        guard subscribed else { return [] }
        var actions: [Action] = []
        prepareRebalance(now: now, reason: "partitions of \(topic) changed", &actions)
        return actions
    }

    /// Fails every waiting join and sync with `error`.
    mutating func failWaiters(_ error: BrokerError) -> [Action] {
        var actions: [Action] = []
        for memberId in joinOrder {
            if let waiter = members[memberId]?.joinWaiter { actions.append(.answerJoin(waiter, .failure(error))) }
            if let waiter = members[memberId]?.syncWaiter { actions.append(.answerSync(waiter, .failure(error))) }
            members[memberId]?.joinWaiter = nil
            members[memberId]?.syncWaiter = nil
        }
        return actions
    }

    // MARK: Rebalance steps

    private mutating func prepareRebalance(now: Int64, reason: String, _ actions: inout [Action]) {
        if state == .completingRebalance {
            for memberId in joinOrder {
                guard let waiter = members[memberId]?.syncWaiter else { continue }
                members[memberId]?.syncWaiter = nil
                actions.append(.answerSync(waiter, .failure(Errors.rebalancing(id))))
            }
        }
        let wasEmpty = state == .empty
        state = .preparingRebalance
        stateTimestamp = now
        let timeout = members.values.map(\.rebalanceTimeoutMs).max() ?? 0
        rebalanceDeadline = now + timeout
        if wasEmpty && settings.initialRebalanceDelayMs > 0 {
            initialDelayDeadline = now + min(settings.initialRebalanceDelayMs, max(timeout, 1))
        }
        actions.append(.log(.debug, "Preparing rebalance", ["group": "\(id)", "reason": "\(reason)"]))
    }

    private mutating func tryCompleteJoin(now: Int64, _ actions: inout [Action]) {
        guard state == .preparingRebalance else { return }
        if let delay = initialDelayDeadline, now < delay { return }
        if members.values.allSatisfy({ $0.joinWaiter != nil }) { completeJoin(now: now, &actions) }
    }

    /// Ends the join phase: members that did not rejoin are dropped, the generation advances, and every waiting
    /// member learns the protocol and the leader (the leader also gets every member's metadata).
    private mutating func completeJoin(now: Int64, _ actions: inout [Action]) {
        for member in members.values.sorted(by: { $0.id < $1.id }) where member.joinWaiter == nil {
            remove(member.id)
            actions.append(
                .log(.info, "Member removed: it did not rejoin in time", ["group": "\(id)", "member": "\(member.id)"])
            )
        }
        initialDelayDeadline = nil
        generation &+= 1
        stateTimestamp = now
        guard !members.isEmpty else {
            state = .empty
            protocolName = nil
            leaderId = nil
            return
        }
        protocolName = selectProtocol()
        if leaderId.map({ members[$0] == nil }) ?? true { leaderId = joinOrder.first }
        state = .completingRebalance
        for memberId in joinOrder {
            guard var member = members[memberId], let waiter = member.joinWaiter else { continue }
            member.joinWaiter = nil
            member.lastHeartbeat = now
            member.assignment = []
            members[memberId] = member
            actions.append(
                .answerJoin(waiter, .success(joinResponse(for: memberId, includeMembers: memberId == leaderId)))
            )
        }
        actions.append(
            .log(
                .debug,
                "Rebalance: join complete",
                [
                    "group": "\(id)", "generation": "\(generation)", "members": "\(members.count)",
                    "protocol": "\(protocolName ?? "")",
                ]
            )
        )
    }

    /// The protocol every member supports that most members prefer (each votes for its first supported choice);
    /// ties go to the first member's order of preference.
    private func selectProtocol() -> String? {
        let ordered = joinOrder.compactMap { members[$0] }
        guard let first = ordered.first else { return nil }
        let candidates = ordered.dropFirst().reduce(Set(first.protocols.map(\.name))) {
            $0.intersection($1.protocols.map(\.name))
        }
        var votes: [String: Int] = [:]
        for member in ordered {
            if let choice = member.protocols.first(where: { candidates.contains($0.name) }) {
                votes[choice.name, default: 0] += 1
            }
        }
        var best: String?
        for name in first.protocols.map(\.name) where candidates.contains(name) {
            if best.map({ votes[name, default: 0] > votes[$0, default: 0] }) ?? true { best = name }
        }
        return best
    }

    private func joinResponse(for memberId: String, includeMembers: Bool) -> JoinGroupResponse {
        JoinGroupResponse(
            generationId: generation,
            protocolName: protocolName ?? "",
            leaderId: leaderId ?? "",
            memberId: memberId,
            members: includeMembers
                ? joinOrder.compactMap { memberId in
                    members[memberId].map {
                        .init(
                            memberId: memberId,
                            metadata: $0.metadata(for: protocolName),
                            groupInstanceId: $0.instanceId
                        )
                    }
                } : []
        )
    }
}

/// The coordinator's member and generation errors, worded once.
enum Errors {
    static func unknownMember(_ memberId: String, in groupId: String) -> BrokerError {
        BrokerError(.unknownMemberId, "The member id \(memberId) is not a member of the group \(groupId)")
    }

    static func illegalGeneration(_ generation: Int32, current: Int32, in groupId: String) -> BrokerError {
        BrokerError(
            .illegalGeneration,
            "Generation \(generation) is not the current generation \(current) of the group \(groupId)"
        )
    }

    static func fenced(_ instanceId: String, in groupId: String) -> BrokerError {
        BrokerError(
            .fencedInstanceId,
            "The static member \(instanceId) of the group \(groupId) has joined again with another member id"
        )
    }

    static let shuttingDown = BrokerError(.coordinatorNotAvailable, "The broker is shutting down")

    static func rebalancing(_ groupId: String) -> BrokerError {
        BrokerError(.rebalanceInProgress, "The group \(groupId) is rebalancing; rejoin it")
    }
}
