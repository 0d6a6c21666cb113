import Foundation
import HTTPTypes
import Logging
import NIOCore
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords
import ServiceLifecycle
import Synchronization

/// The v2 consumer instances of this proxy, and their background work: group membership (join, heartbeat, rejoin on
/// rebalance) and expiry after `consumer.instance.timeout.ms` idle. Work runs as child tasks of this service.
final class ConsumerManager: Service, Sendable {
    struct Key: Hashable, Sendable {
        var group: String
        var name: String
    }

    let broker: any Broker
    let configuration: RestProxyConfiguration
    let clock: any WallClock
    let logger: Logger
    private let instances = Mutex<[Key: ConsumerInstance]>([:])
    private let jobs: AsyncStream<@Sendable () async -> Void>
    private let jobsContinuation: AsyncStream<@Sendable () async -> Void>.Continuation

    init(broker: any Broker, configuration: RestProxyConfiguration, logger: Logger) {
        self.broker = broker
        self.configuration = configuration
        self.clock = configuration.clock
        self.logger = logger
        (jobs, jobsContinuation) = AsyncStream.makeStream()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.expireIdleInstances() }
                for await job in self.jobs {
                    group.addTask { await job() }
                }
                group.cancelAll()
            }
        }
        // Shutting down: every instance commits (when auto-committing) and leaves its group.
        let all = instances.withLock { instances in
            defer { instances.removeAll() }
            return Array(instances.values)
        }
        for instance in all { await close(instance) }
    }

    // MARK: Instances

    func create(_ instance: ConsumerInstance) throws {
        try instances.withLock { instances in
            let key = Key(group: instance.group, name: instance.name)
            guard instances[key] == nil else { throw ConsumerError.instanceExists(instance.name) }
            instances[key] = instance
        }
    }

    /// The instance, marked as used now; 40403 when there is none, or when another principal created it.
    func instance(group: String, name: String) throws -> ConsumerInstance {
        guard let instance = instances.withLock({ $0[Key(group: group, name: name)] }),
            instance.owner?.principal == Caller.current?.principal
        else {
            throw ConsumerError.instanceNotFound
        }
        let now = clock.nowMilliseconds()
        instance.state.withLock { $0.lastUsedMs = now }
        return instance
    }

    func delete(group: String, name: String) async throws {
        let instance = try self.instance(group: group, name: name)
        guard instances.withLock({ $0.removeValue(forKey: Key(group: group, name: name)) }) === instance else {
            throw ConsumerError.instanceNotFound
        }
        await close(instance)
    }

    /// Commits (when auto-committing) and leaves the group, as the instance's owner.
    private func close(_ instance: ConsumerInstance) async {
        await Caller.$current.withValue(instance.owner) { await closeAsOwner(instance) }
    }

    private func closeAsOwner(_ instance: ConsumerInstance) async {
        if instance.autoCommit { try? await commitPositions(instance) }
        let membership = instance.state.withLock { state -> ConsumerInstance.Membership? in
            state.closed = true
            state.modeVersion += 1
            defer { state.membership = nil }
            return state.membership
        }
        if let membership { try? await broker.leaveGroup(groupId: instance.group, memberId: membership.memberId) }
    }

    private func expireIdleInstances() async {
        let interval = max(10, min(1_000, configuration.consumerInstanceTimeoutMs / 4))
        while !Task.isCancelled {
            do { try await clock.sleep(milliseconds: interval) } catch { return }
            let now = clock.nowMilliseconds()
            let timeout = configuration.consumerInstanceTimeoutMs
            let expired = instances.withLock { instances -> [ConsumerInstance] in
                let expired = instances.filter { now - $0.value.state.withLock(\.lastUsedMs) > timeout }
                for key in expired.keys { instances[key] = nil }
                return Array(expired.values)
            }
            for instance in expired {
                logger.info(
                    "Closing an idle consumer instance",
                    metadata: ["group": "\(instance.group)", "instance": "\(instance.name)"]
                )
                await close(instance)
            }
        }
    }

    // MARK: Subscription and assignment

    func subscribe(_ instance: ConsumerInstance, _ subscription: ConsumerInstance.Subscription) async throws {
        let (previous, version) = try instance.state.withLock { state throws -> (ConsumerInstance.Membership?, Int) in
            if state.mode == .assigned {
                throw ConsumerError.illegalState(
                    "Subscription to topics, partitions and pattern are mutually exclusive"
                )
            }
            let previous = state.membership
            state.mode = .subscribed(subscription)
            state.modeVersion += 1
            state.membership = nil
            state.assignment = []
            state.positions = [:]
            return (previous, state.modeVersion)
        }
        if let previous { try? await broker.leaveGroup(groupId: instance.group, memberId: previous.memberId) }
        jobsContinuation.yield {
            await Caller.$current.withValue(instance.owner) {
                await self.keepMembership(instance, modeVersion: version)
            }
        }
    }

    func unsubscribe(_ instance: ConsumerInstance) async {
        let previous = instance.state.withLock { state -> ConsumerInstance.Membership? in
            let previous = state.membership
            state.mode = .idle
            state.modeVersion += 1
            state.membership = nil
            state.assignment = []
            state.positions = [:]
            return previous
        }
        if let previous { try? await broker.leaveGroup(groupId: instance.group, memberId: previous.memberId) }
    }

    func assign(_ instance: ConsumerInstance, _ partitions: [TopicPartition]) throws {
        try instance.state.withLock { state in
            if case .subscribed = state.mode {
                throw ConsumerError.illegalState(
                    "Subscription to topics, partitions and pattern are mutually exclusive"
                )
            }
            state.mode = partitions.isEmpty ? .idle : .assigned
            state.modeVersion += 1
            let kept = Set(partitions)
            state.positions = state.positions.filter { kept.contains($0.key) }
            state.assignment = partitions
        }
    }

    /// The topics a subscription names now (a pattern is matched against the topic list).
    private func resolveTopics(_ subscription: ConsumerInstance.Subscription) async -> [String] {
        switch subscription {
        case .topics(let topics):
            return topics.sorted()
        case .pattern(let pattern):
            guard let regex = try? Regex(pattern),
                let topics = try? await broker.listTopics(includeInternal: false)
            else { return [] }
            return topics.map(\.name).filter { (try? regex.wholeMatch(in: $0)) != nil }.sorted()
        }
    }

    /// The authorization failure naming the subscribed topics the instance's owner may not READ; nil when it may
    /// read them all.
    private func unreadable(_ topics: [String]) async -> BrokerError? {
        var denied: [String] = []
        for topic in topics {
            do {
                try await broker.authorize(.read, on: .topic(topic))
            } catch {
                if error.isAuthorizationFailure { denied.append(topic) }
            }
        }
        guard !denied.isEmpty else { return nil }
        return BrokerError(
            .topicAuthorizationFailed,
            "Not authorized to access topics: [\(denied.joined(separator: ", "))]"
        )
    }

    /// The group membership of a subscribed instance, until its subscription changes or it closes: join, then
    /// heartbeat; rejoin when the group rebalances (committing first when auto-committing).
    private func keepMembership(_ instance: ConsumerInstance, modeVersion: Int) async {
        var membership = GroupMembership(broker: broker, groupId: instance.group, clientId: instance.clientId)
        membership.sessionTimeoutMs = configuration.sessionTimeoutMs
        membership.rebalanceTimeoutMs = max(configuration.sessionTimeoutMs, 30_000)
        var memberId = ""
        var owned: [TopicPartition] = []
        func isCurrent() -> Bool {
            instance.state.withLock { !$0.closed && $0.modeVersion == modeVersion }
        }
        func leave() async {
            if !memberId.isEmpty { try? await broker.leaveGroup(groupId: instance.group, memberId: memberId) }
        }
        while isCurrent() && !Task.isCancelled {
            guard case .subscribed(let subscription) = instance.state.withLock(\.mode) else { return }
            let topics = await resolveTopics(subscription)
            if let denied = await unreadable(topics) {
                // As a Kafka consumer's poll throws TopicAuthorizationException: reads fail with it, and the check
                // is made again every second, so a permission granted since takes effect.
                instance.state.withLock { $0.failure = denied }
                do { try await clock.sleep(milliseconds: 1_000) } catch { break }
                continue
            }
            let generation: GroupMembership.Generation
            do {
                generation = try await membership.join(topics: topics, memberId: memberId, owned: owned)
                instance.state.withLock { $0.failure = nil }
            } catch {
                if error.isAuthorizationFailure {
                    // Reads fail with it until a join succeeds: retried every second, so a permission granted since
                    // takes effect.
                    instance.state.withLock { $0.failure = error }
                    do { try await clock.sleep(milliseconds: 1_000) } catch { break }
                    continue
                }
                if error.code == .unknownMemberId { memberId = "" }
                logger.debug("Consumer instance join failed", metadata: ["error": "\(error)"])
                do { try await clock.sleep(milliseconds: 500) } catch { break }
                continue
            }
            memberId = generation.memberId
            guard instance.applyGeneration(generation, modeVersion: modeVersion, matchedTopics: topics) else {
                await leave()
                return
            }
            owned = generation.assignment

            heartbeats: while true {
                do { try await clock.sleep(milliseconds: configuration.heartbeatIntervalMs) } catch { break }
                guard isCurrent() else { return }  // whoever changed the mode has left the group
                if case .pattern = subscription, await resolveTopics(subscription) != topics {
                    // New topics match the pattern: rejoin with them.
                    if instance.autoCommit { try? await commitPositions(instance) }
                    instance.revokeForRebalance(modeVersion: modeVersion)
                    break heartbeats
                }
                do {
                    try await broker.heartbeat(
                        groupId: instance.group,
                        memberId: memberId,
                        generationId: generation.generationId
                    )
                } catch {
                    switch error.code {
                    case .rebalanceInProgress:
                        if instance.autoCommit { try? await commitPositions(instance) }
                        instance.revokeForRebalance(modeVersion: modeVersion)
                        break heartbeats
                    case .unknownMemberId, .illegalGeneration:
                        if error.code == .unknownMemberId {
                            memberId = ""
                            owned = []
                        }
                        instance.revokeForRebalance(modeVersion: modeVersion)
                        break heartbeats
                    default:
                        continue
                    }
                }
            }
        }
        if !isCurrent() || Task.isCancelled { await leave() }
    }

    // MARK: Positions

    func seek(_ instance: ConsumerInstance, _ targets: [TopicPartition: Int64]) throws {
        try instance.state.withLock { state in
            let assigned = Set(state.assignment)
            for tp in targets.keys where !assigned.contains(tp) {
                throw ConsumerError.illegalState("No current assignment for partition \(tp.topic)-\(tp.partition)")
            }
            for (tp, offset) in targets { state.positions[tp] = offset }
        }
    }

    /// Moves the partitions to an offset the broker lists (beginning, end, or by timestamp).
    func seek(
        _ instance: ConsumerInstance,
        _ partitions: [TopicPartition],
        to spec: (TopicPartition) -> OffsetSpec
    )
        async throws
    {
        try instance.state.withLock { state in
            let assigned = Set(state.assignment)
            for tp in partitions where !assigned.contains(tp) {
                throw ConsumerError.illegalState("No current assignment for partition \(tp.topic)-\(tp.partition)")
            }
        }
        var targets: [TopicPartition: Int64] = [:]
        for tp in partitions {
            let offsetSpec = spec(tp)
            var listed = try await consumerCall { () async throws(BrokerError) in
                try await self.broker.listOffset(tp, at: offsetSpec)
            }
            if listed.offset < 0 {
                // No record at or after the timestamp: the end, as Kafka's consumer does.
                listed = try await consumerCall { () async throws(BrokerError) in
                    try await self.broker.listOffset(tp, at: .latest)
                }
            }
            targets[tp] = listed.offset
        }
        try seek(instance, targets)
    }

    /// Gives every assigned partition without a position one: the committed offset, else `auto.offset.reset`.
    private func resolvePositions(_ instance: ConsumerInstance, _ partitions: [TopicPartition]) async throws {
        let missing = instance.state.withLock { state in partitions.filter { state.positions[$0] == nil } }
        guard !missing.isEmpty else { return }
        let committed = try await consumerCall { () async throws(BrokerError) in
            try await self.broker.fetchCommittedOffsets(groupId: instance.group, partitions: missing)
        }
        var resolved: [TopicPartition: Int64] = [:]
        for tp in missing {
            if let offset = committed[tp]?.offset, offset >= 0 {
                resolved[tp] = offset
            } else {
                resolved[tp] = try await resetOffset(instance, tp)
            }
        }
        instance.state.withLock { state in
            for (tp, offset) in resolved where state.positions[tp] == nil { state.positions[tp] = offset }
        }
    }

    private func resetOffset(_ instance: ConsumerInstance, _ tp: TopicPartition) async throws -> Int64 {
        let spec: OffsetSpec
        switch instance.offsetReset {
        case .earliest: spec = .earliest
        case .latest: spec = .latest
        case .none:
            throw ConsumerError.illegalState(
                "Undefined offset with no reset policy for partition: \(tp.topic)-\(tp.partition) (auto.offset.reset is none)"
            )
        }
        return try await consumerCall { () async throws(BrokerError) in try await self.broker.listOffset(tp, at: spec) }
            .offset
    }

    // MARK: Reading

    /// The records a read takes from one partition.
    private struct Taken {
        var topicPartition: TopicPartition
        var from: Int64
        /// Index of its first record in the answer.
        var first: Int
        var count: Int
        /// Every fetched record of the partition was taken, so the position may move to `nextOffset`.
        var complete: Bool
        var nextOffset: Int64
    }

    /// Reads records at the instance's positions, waiting up to `timeoutMs` for any (or for `fetch.min.bytes`), at
    /// most `maxBytes` of keys and values (always at least one record when there is one). `render` turns them into the
    /// answer and says how many it used; the positions move past those only, so records it could not render (or all
    /// of them, when it throws) are read again next time.
    func read<T>(
        _ instance: ConsumerInstance,
        timeoutMs: Int64,
        maxBytes: Int,
        render: ([ConsumerRecord]) throws -> (output: T, count: Int)
    ) async throws -> (output: T, memory: [MemoryLease]) {
        // The caller may not read the group: the membership retries every second; a poll waits for one retry (a
        // permission granted since then takes effect) and otherwise fails, as a Kafka consumer's poll throws.
        if instance.state.withLock(\.failure) != nil {
            let waitUntil = clock.nowMilliseconds() + 1_500
            while let failure = instance.state.withLock(\.failure) {
                guard clock.nowMilliseconds() < waitUntil else { throw ConsumerError.broker(failure) }
                try await clock.sleep(milliseconds: 50)
            }
        }
        let start = clock.nowMilliseconds()
        let (sum, overflow) = start.addingReportingOverflow(max(0, timeoutMs))
        let deadline = overflow ? Int64.max : sum
        if instance.autoCommit,
            start - instance.state.withLock(\.lastAutoCommitMs) >= configuration.autoCommitIntervalMs
        {
            try? await commitPositions(instance)
        }
        while true {
            let (mode, assignment, ready) = instance.state.withLock { state in
                (state.mode, state.assignment, state.membership != nil)
            }
            let remaining = deadline - clock.nowMilliseconds()
            switch mode {
            case .idle:
                throw ConsumerError.illegalState("Consumer is not subscribed to any topics or assigned any partitions")
            case .subscribed where !ready || assignment.isEmpty:
                // Joining or rebalancing, or no partitions for this member: wait for the next generation.
                if remaining <= 0 { return (try render([]).output, []) }
                try await Task.sleep(for: .milliseconds(min(remaining, 20)))
                continue
            default:
                break
            }
            try await resolvePositions(instance, assignment)
            let positions = instance.state.withLock { state in
                assignment.compactMap { tp in state.positions[tp].map { (tp, $0) } }
            }
            let request = FetchRequest(
                partitions: positions.map { FetchRequest.Partition($0.0, offset: $0.1) },
                maxWaitMs: max(0, remaining),
                minBytes: max(1, instance.fetchMinBytes),
                maxBytes: maxBytes,
                maxPartitionBytes: maxBytes
            )
            let fetched = try await consumerCall { () async throws(BrokerError) in try await self.broker.fetch(request)
            }
            // The records to answer, partition by partition, within the byte budget.
            var records: [ConsumerRecord] = []
            var taken: [Taken] = []
            var budget = maxBytes
            var resets: [TopicPartition] = []
            let from = Dictionary(positions, uniquingKeysWith: { first, _ in first })
            for partition in fetched {
                let tp = partition.topicPartition
                if let error = partition.error {
                    if error.code == .offsetOutOfRange { resets.append(tp) }
                    // Damaged records are never skipped: the read fails, naming them, until the consumer seeks
                    // past them (positions are not moved).
                    if error.code == .corruptMessage || error.code == .throttlingQuotaExceeded {
                        throw ConsumerError.broker(error)
                    }
                    continue
                }
                guard let offset = from[tp] else { continue }
                let first = records.count
                var complete = true
                for record in try partition.records() {
                    let size = (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
                    if size > budget && !records.isEmpty {
                        complete = false
                        break
                    }
                    budget -= size
                    records.append(record)
                }
                taken.append(
                    Taken(
                        topicPartition: tp,
                        from: offset,
                        first: first,
                        count: records.count - first,
                        complete: complete,
                        nextOffset: partition.nextOffset
                    )
                )
                if !complete { break }
            }
            let answer = !records.isEmpty || clock.nowMilliseconds() >= deadline
            // Render before moving: records that cannot be rendered stay unread.
            var result: (output: T, count: Int)?
            if answer { result = try render(records) }
            let rendered = result?.count ?? 0
            instance.state.withLock { state in
                let assigned = Set(state.assignment)
                for part in taken where assigned.contains(part.topicPartition) {
                    let count = min(part.count, max(0, rendered - part.first))
                    var next = count > 0 ? records[part.first + count - 1].offset + 1 : part.from
                    if count == part.count && part.complete { next = max(next, part.nextOffset) }
                    if next != part.from && state.positions[part.topicPartition] == part.from {
                        state.positions[part.topicPartition] = next
                    }
                }
                for tp in resets { state.positions[tp] = nil }
            }
            for tp in resets {
                let offset = try await resetOffset(instance, tp)
                instance.state.withLock { state in
                    if state.positions[tp] == nil { state.positions[tp] = offset }
                }
            }
            if let result { return (result.output, fetched.compactMap(\.memory)) }
            if taken.allSatisfy({ $0.count == 0 }) && resets.isEmpty {
                // Every partition answered at once with an error (a topic deleted after assign, say): wait a little
                // instead of asking again at once.
                let left = deadline - clock.nowMilliseconds()
                if left > 0 { try await Task.sleep(for: .milliseconds(min(left, 100))) }
            }
        }
    }

    // MARK: Offsets

    /// Commits the instance's positions (the next offset to read of every partition it has read).
    func commitPositions(_ instance: ConsumerInstance) async throws {
        let (positions, membership) = instance.positionsToCommit()
        let now = clock.nowMilliseconds()
        instance.state.withLock { $0.lastAutoCommitMs = now }
        guard !positions.isEmpty else { return }
        try await commit(instance, positions.mapValues { CommittedOffset(offset: $0) }, membership: membership)
    }

    /// Commits explicit offsets (already the next offset to read).
    func commit(_ instance: ConsumerInstance, _ offsets: [TopicPartition: CommittedOffset]) async throws {
        let membership = instance.state.withLock(\.membership)
        try await commit(instance, offsets, membership: membership)
    }

    private func commit(
        _ instance: ConsumerInstance,
        _ offsets: [TopicPartition: CommittedOffset],
        membership: ConsumerInstance.Membership?
    ) async throws {
        let now = clock.nowMilliseconds()
        let request = OffsetCommitRequest(
            groupId: instance.group,
            memberId: membership?.memberId ?? "",
            generationId: membership?.generationId ?? -1,
            offsets: offsets.mapValues { offset in
                var offset = offset
                offset.commitTimestamp = now
                return offset
            }
        )
        let result = try await consumerCall { () async throws(BrokerError) in
            try await self.broker.commitOffsets(request)
        }
        if let (tp, error) = result.failed.min(by: { $0.key < $1.key }) {
            throw ConsumerError.commitFailed(tp, error)
        }
    }

    func committed(
        _ instance: ConsumerInstance,
        _ partitions: [TopicPartition]
    ) async throws -> [TopicPartition: CommittedOffset] {
        try await consumerCall { () async throws(BrokerError) in
            try await self.broker.fetchCommittedOffsets(groupId: instance.group, partitions: partitions)
        }
    }
}

/// Runs a broker call for a consumer instance, its error reported as the instance's.
private func consumerCall<T>(_ body: () async throws(BrokerError) -> T) async throws(ConsumerError) -> T {
    do {
        return try await body()
    } catch {
        throw ConsumerError.broker(error)
    }
}
