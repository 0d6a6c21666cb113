import NIOCore
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

/// Group coordinator behaviour, driven by a manual clock: nothing here sleeps.
@Suite struct GroupTests {
    static let sessionTimeout: Int64 = 10_000

    func member(_ broker: EmbeddedBroker, _ clientId: String, assignors: [any PartitionAssignor]) -> GroupMembership {
        var membership = GroupMembership(broker: broker, groupId: "g", clientId: clientId)
        membership.sessionTimeoutMs = Self.sessionTimeout
        membership.rebalanceTimeoutMs = 20_000
        membership.assignors = assignors
        return membership
    }

    /// Joins `a`, then `b`: `a` learns of the rebalance from its heartbeat and rejoins; both get generation 2.
    func joinTwo(
        _ broker: EmbeddedBroker,
        _ a: GroupMembership,
        _ b: GroupMembership
    ) async throws -> (GroupMembership.Generation, GroupMembership.Generation) {
        let first = try await a.join(topics: ["t"])
        #expect(first.generationId == 1)
        #expect(first.isLeader)
        #expect(first.assignment.count == 6)
        async let second = b.join(topics: ["t"])
        // Wait until b's join has started the rebalance.
        var rebalancing = false
        for _ in 0..<1000 where !rebalancing {
            do {
                try await broker.heartbeat(groupId: "g", memberId: first.memberId, generationId: first.generationId)
                await Task.yield()
            } catch {
                #expect(error.code == .rebalanceInProgress)
                rebalancing = true
            }
        }
        #expect(rebalancing)
        let rejoined = try await a.join(topics: ["t"], memberId: first.memberId)
        return (rejoined, try await second)
    }

    @Test(
        arguments: [
            ("range", [[0, 1, 2], [3, 4, 5]]),
            ("roundrobin", [[0, 2, 4], [1, 3, 5]]),
        ] as [(String, [[Int32]])]
    )
    func twoMembersSplitSixPartitions(assignor: String, expected: [[Int32]]) async throws {
        let fixture = BrokerFixture("twoMembers\(assignor)", manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        let assignors: [any PartitionAssignor] =
            assignor == "range" ? [RangeAssignor(), RoundRobinAssignor()] : [RoundRobinAssignor(), RangeAssignor()]
        let (a, b) = try await joinTwo(
            broker,
            member(broker, "a", assignors: assignors),
            member(broker, "b", assignors: assignors)
        )
        #expect(a.generationId == 2 && b.generationId == 2)
        #expect(a.protocolName == assignor)
        #expect(a.assignment.map(\.partition) == expected[0])
        #expect(b.assignment.map(\.partition) == expected[1])

        let description = try await broker.describeGroup("g")
        #expect(description.state == .stable)
        #expect(description.protocolType == "consumer")
        #expect(description.protocolName == assignor)
        #expect(description.leaderId == a.memberId)
        #expect(description.members.map(\.clientId) == ["a", "b"])
        #expect(description.members.map { $0.assignedPartitions.map(\.partition) } == expected)
        try await broker.close()
    }

    @Test func aMemberWhoseSessionExpiresIsRemovedAndTheOtherGetsEverything() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let clock = try #require(fixture.clock)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        let membershipA = member(broker, "a", assignors: [RangeAssignor()])
        let (a, b) = try await joinTwo(broker, membershipA, member(broker, "b", assignors: [RangeAssignor()]))

        // a heartbeats, b has gone silent.
        clock.advance(by: 6000)
        try await broker.heartbeat(groupId: "g", memberId: a.memberId, generationId: a.generationId)
        clock.advance(by: 6000)
        await broker.coordinator.tick()
        #expect(try await broker.describeGroup("g").state == .preparingRebalance)
        let error = await #expect(throws: BrokerError.self) {
            try await broker.heartbeat(groupId: "g", memberId: a.memberId, generationId: a.generationId)
        }
        #expect(error?.code == .rebalanceInProgress)
        let alone = try await membershipA.join(topics: ["t"], memberId: a.memberId)
        #expect(alone.generationId == 3)
        #expect(alone.assignment.count == 6)
        // b is gone: its heartbeats are refused.
        let gone = await #expect(throws: BrokerError.self) {
            try await broker.heartbeat(groupId: "g", memberId: b.memberId, generationId: b.generationId)
        }
        #expect(gone?.code == .unknownMemberId)
        try await broker.close()
    }

    @Test func aLeavingMemberTriggersARebalance() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        let membershipB = member(broker, "b", assignors: [RangeAssignor()])
        let (a, b) = try await joinTwo(broker, member(broker, "a", assignors: [RangeAssignor()]), membershipB)
        try await broker.leaveGroup(groupId: "g", memberId: a.memberId)
        await #expect(throws: BrokerError.self) {
            try await broker.heartbeat(groupId: "g", memberId: b.memberId, generationId: b.generationId)
        }
        let alone = try await membershipB.join(topics: ["t"], memberId: b.memberId)
        #expect(alone.isLeader)
        #expect(alone.assignment.count == 6)
        try await broker.leaveGroup(groupId: "g", memberId: b.memberId)
        #expect(try await broker.describeGroup("g").state == .empty)
        try await broker.close()
    }

    @Test func aMemberThatDoesNotRejoinInTimeIsDropped() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let clock = try #require(fixture.clock)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        let membershipA = member(broker, "a", assignors: [RangeAssignor()])
        let (a, _) = try await joinTwo(broker, membershipA, member(broker, "b", assignors: [RangeAssignor()]))
        // a rejoins (a new rebalance); b keeps heartbeating but never rejoins.
        async let rejoin = broker.joinGroup(
            JoinGroupRequest(
                groupId: "g",
                memberId: a.memberId,
                clientId: "a",
                sessionTimeoutMs: Self.sessionTimeout,
                rebalanceTimeoutMs: 20_000,
                protocols: [
                    GroupProtocol(name: "range", metadata: ConsumerProtocol.Subscription(topics: ["t", "u"]).encoded())
                ]
            )
        )
        while try await broker.describeGroup("g").state != .preparingRebalance { await Task.yield() }
        clock.advance(by: 20_000)
        await broker.coordinator.tick()
        let joined = try await rejoin
        #expect(joined.generationId == 3)
        #expect(joined.members.map(\.memberId) == [a.memberId])
        try await broker.close()
    }

    @Test func partitionChangesAndSubscriptionChangesTriggerRebalances() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        let membership = member(broker, "a", assignors: [RangeAssignor()])
        let first = try await membership.join(topics: ["t"])
        #expect(first.assignment.count == 2)
        try await broker.createPartitions(topic: "t", totalCount: 4, validateOnly: false)
        let error = await #expect(throws: BrokerError.self) {
            try await broker.heartbeat(groupId: "g", memberId: first.memberId, generationId: first.generationId)
        }
        #expect(error?.code == .rebalanceInProgress)
        let second = try await membership.join(topics: ["t"], memberId: first.memberId)
        #expect(second.assignment.count == 4)

        // A new subscription is a new rebalance.
        _ = try await broker.createTopic(CreateTopicRequest(name: "u", partitions: 3))
        let third = try await membership.join(topics: ["t", "u"], memberId: first.memberId)
        #expect(third.generationId == second.generationId + 1)
        #expect(third.assignment.count == 7)
        try await broker.close()
    }

    @Test func badMembershipRequestsAreTypedErrors() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        let protocols = [GroupProtocol(name: "range", metadata: [])]
        let emptyGroup = await #expect(throws: BrokerError.self) {
            try await broker.joinGroup(JoinGroupRequest(groupId: "", clientId: "c", protocols: protocols))
        }
        #expect(emptyGroup?.code == .invalidGroupId)
        let badTimeout = await #expect(throws: BrokerError.self) {
            try await broker.joinGroup(
                JoinGroupRequest(groupId: "g", clientId: "c", sessionTimeoutMs: 10, protocols: protocols)
            )
        }
        #expect(badTimeout?.code == .invalidSessionTimeout)
        let unknown = await #expect(throws: BrokerError.self) {
            try await broker.joinGroup(
                JoinGroupRequest(groupId: "g", memberId: "ghost", clientId: "c", protocols: protocols)
            )
        }
        #expect(unknown?.code == .unknownMemberId)
        let joined = try await broker.joinGroup(JoinGroupRequest(groupId: "g", clientId: "c", protocols: protocols))
        let otherType = await #expect(throws: BrokerError.self) {
            try await broker.joinGroup(
                JoinGroupRequest(groupId: "g", clientId: "d", protocolType: "connect", protocols: protocols)
            )
        }
        #expect(otherType?.code == .inconsistentGroupProtocol)
        let noCommonProtocol = await #expect(throws: BrokerError.self) {
            try await broker.joinGroup(
                JoinGroupRequest(groupId: "g", clientId: "d", protocols: [GroupProtocol(name: "sticky", metadata: [])])
            )
        }
        #expect(noCommonProtocol?.code == .inconsistentGroupProtocol)
        let staleSync = await #expect(throws: BrokerError.self) {
            try await broker.syncGroup(SyncGroupRequest(groupId: "g", memberId: joined.memberId, generationId: 99))
        }
        #expect(staleSync?.code == .illegalGeneration)
        let unknownHeartbeat = await #expect(throws: BrokerError.self) {
            try await broker.heartbeat(groupId: "g", memberId: "ghost", generationId: 1)
        }
        #expect(unknownHeartbeat?.code == .unknownMemberId)
        try await broker.close()
    }

    // MARK: - Offsets

    @Test func commitsAreCheckedAgainstTheGeneration() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        let membership = member(broker, "a", assignors: [RangeAssignor()])
        let generation = try await membership.join(topics: ["t"])
        let offsets = [tp("t", 0): CommittedOffset(offset: 5, metadata: "m")]

        let results = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                memberId: generation.memberId,
                generationId: generation.generationId,
                offsets: offsets
            )
        )
        #expect(results.committed == [tp("t", 0)])
        #expect(results.failed.isEmpty)
        let stale = await #expect(throws: BrokerError.self) {
            try await broker.commitOffsets(
                OffsetCommitRequest(groupId: "g", memberId: generation.memberId, generationId: 0, offsets: offsets)
            )
        }
        #expect(stale?.code == .illegalGeneration)
        let stranger = await #expect(throws: BrokerError.self) {
            try await broker.commitOffsets(
                OffsetCommitRequest(groupId: "g", memberId: "ghost", generationId: 1, offsets: offsets)
            )
        }
        #expect(stranger?.code == .unknownMemberId)
        // A standalone commit is refused while the group has members.
        let standalone = await #expect(throws: BrokerError.self) {
            try await broker.commitOffsets(OffsetCommitRequest(groupId: "g", offsets: offsets))
        }
        #expect(standalone?.code == .unknownMemberId)

        // Per-partition problems fail only that partition.
        let mixed = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                memberId: generation.memberId,
                generationId: generation.generationId,
                offsets: [
                    tp("t", 1): CommittedOffset(offset: 7),
                    tp("t", 9): CommittedOffset(offset: 1),
                    tp("t", 2): CommittedOffset(offset: -3),
                    tp("t", 3): CommittedOffset(offset: 1, metadata: String(repeating: "m", count: 5000)),
                ]
            )
        )
        #expect(mixed.committed == [tp("t", 1)])
        #expect(mixed.failed[tp("t", 9)]?.code == .unknownTopicOrPartition)
        #expect(mixed.failed[tp("t", 2)]?.code == .invalidRequest)
        #expect(mixed.failed[tp("t", 3)]?.code == .offsetMetadataTooLarge)
        let committed = try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil)
        #expect(committed.mapValues(\.offset) == [tp("t", 0): 5, tp("t", 1): 7])
        #expect(committed[tp("t", 0)]?.metadata == "m")
        try await broker.close()
    }

    @Test func committedOffsetsSurviveARestart() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 3))
        for group in ["g1", "g2", "g3"] {
            _ = try await broker.commitOffsets(
                OffsetCommitRequest(
                    groupId: group,
                    offsets: [
                        tp("t", 0): CommittedOffset(offset: 1), tp("t", 2): CommittedOffset(offset: 4, metadata: group),
                    ]
                )
            )
        }
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(groupId: "g1", offsets: [tp("t", 0): CommittedOffset(offset: 9)])
        )
        try await broker.deleteGroup("g3")
        try await broker.close()

        broker = try await fixture.open()
        #expect(try await broker.listGroups().map(\.groupId) == ["g1", "g2"])
        let g1 = try await broker.fetchCommittedOffsets(groupId: "g1", partitions: nil)
        #expect(g1.mapValues(\.offset) == [tp("t", 0): 9, tp("t", 2): 4])
        #expect(g1[tp("t", 2)]?.metadata == "g1")
        #expect(try await broker.fetchCommittedOffsets(groupId: "g3", partitions: nil).isEmpty)
        try await broker.close()
    }

    @Test func aGroupComesBackEmptyWithItsGenerationAfterARestart() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        let generation = try await member(broker, "a", assignors: [RangeAssignor()]).join(topics: ["t"])
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                memberId: generation.memberId,
                generationId: generation.generationId,
                offsets: [tp("t", 1): CommittedOffset(offset: 12)]
            )
        )
        try await broker.close()

        broker = try await fixture.open()
        let description = try await broker.describeGroup("g")
        #expect(description.state == .empty)
        #expect(description.protocolType == "consumer")
        #expect(description.generationId == generation.generationId)
        #expect(description.members.isEmpty)
        #expect(try await broker.listGroups() == [GroupOverview(groupId: "g", protocolType: "consumer", state: .empty)])
        #expect(
            try await broker.fetchCommittedOffsets(groupId: "g", partitions: [tp("t", 1)])[tp("t", 1)]?.offset == 12
        )
        // The old member is gone; a new one starts the next generation.
        let next = try await member(broker, "b", assignors: [RangeAssignor()]).join(topics: ["t"])
        #expect(next.generationId == generation.generationId + 1)
        try await broker.close()
    }

    @Test func retentionOfAGroupThatHadMembersCountsFromTheRestart() async throws {
        var config = BrokerConfig()
        config.offsetsRetentionMinutes = 1
        let fixture = BrokerFixture(manualClock: true, config: config)
        let clock = try #require(fixture.clock)
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let generation = try await member(broker, "a", assignors: [RangeAssignor()]).join(topics: ["t"])
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                memberId: generation.memberId,
                generationId: generation.generationId,
                offsets: [tp("t", 0): CommittedOffset(offset: 3)]
            )
        )
        try await broker.close()
        // Down for an hour: the group was Stable when the broker stopped, so its offsets are not stale yet.
        clock.advance(by: 3_600_000)
        broker = try await fixture.open()
        await broker.coordinator.expireOffsets()
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).count == 1)
        clock.advance(by: 61_000)
        await broker.coordinator.expireOffsets()
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).isEmpty)
        try await broker.close()
    }

    @Test func creatingASubscribedTopicTriggersARebalance() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let membership = member(broker, "a", assignors: [RangeAssignor()])
        let first = try await membership.join(topics: ["t", "later"])
        #expect(first.assignment == [tp("t", 0)])
        _ = try await broker.createTopic(CreateTopicRequest(name: "later", partitions: 2))
        let error = await #expect(throws: BrokerError.self) {
            try await broker.heartbeat(groupId: "g", memberId: first.memberId, generationId: first.generationId)
        }
        #expect(error?.code == .rebalanceInProgress)
        let second = try await membership.join(topics: ["t", "later"], memberId: first.memberId)
        #expect(second.assignment == [tp("later", 0), tp("later", 1), tp("t", 0)])
        try await broker.close()
    }

    @Test func joinsAfterShutdownFailAtOnce() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        broker.coordinator.shutdown()
        let error = await #expect(throws: BrokerError.self) {
            try await broker.joinGroup(
                JoinGroupRequest(groupId: "g", clientId: "c", protocols: [GroupProtocol(name: "range", metadata: [])])
            )
        }
        #expect(error?.code == .coordinatorNotAvailable)
        try await broker.close()
    }

    @Test func offsetsOfAnEmptyGroupExpireAfterTheRetention() async throws {
        var config = BrokerConfig()
        config.offsetsRetentionMinutes = 1
        let fixture = BrokerFixture(manualClock: true, config: config)
        let clock = try #require(fixture.clock)
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let membership = member(broker, "a", assignors: [RangeAssignor()])
        let generation = try await membership.join(topics: ["t"])
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                memberId: generation.memberId,
                generationId: generation.generationId,
                offsets: [tp("t", 0): CommittedOffset(offset: 3)]
            )
        )
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(groupId: "standalone", offsets: [tp("t", 0): CommittedOffset(offset: 1)])
        )
        // A group with members keeps its offsets however old they are.
        clock.advance(by: 120_000)
        try await broker.heartbeat(groupId: "g", memberId: generation.memberId, generationId: generation.generationId)
        await broker.coordinator.expireOffsets()
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).count == 1)
        #expect(try await broker.fetchCommittedOffsets(groupId: "standalone", partitions: nil).isEmpty)

        try await broker.leaveGroup(groupId: "g", memberId: generation.memberId)
        clock.advance(by: 30_000)
        await broker.coordinator.expireOffsets()
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).count == 1)
        clock.advance(by: 31_000)
        await broker.coordinator.expireOffsets()
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).isEmpty)
        try await broker.close()

        // The expiry was written as tombstones: it holds after a restart.
        broker = try await fixture.open()
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).isEmpty)
        #expect(try await broker.listGroups().isEmpty)
        try await broker.close()
    }

    @Test func groupsWithMembersCannotBeDeleted() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let generation = try await member(broker, "a", assignors: [RangeAssignor()]).join(topics: ["t"])
        let busy = await #expect(throws: BrokerError.self) { try await broker.deleteGroup("g") }
        #expect(busy?.code == .nonEmptyGroup)
        let missing = await #expect(throws: BrokerError.self) { try await broker.deleteGroup("nope") }
        #expect(missing?.code == .groupIdNotFound)
        try await broker.leaveGroup(groupId: "g", memberId: generation.memberId)
        try await broker.deleteGroup("g")
        #expect(try await broker.describeGroup("g").state == .dead)
        try await broker.close()
    }

    @Test func lagIsTheLogEndMinusTheCommittedOffset() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        let generation = try await member(broker, "a", assignors: [RangeAssignor()]).join(topics: ["t"])
        try await broker.produceAll("t", (0..<10).map { ProducerRecord(value: buffer("\($0)"), partition: 0) })
        try await broker.produceAll("t", (0..<4).map { ProducerRecord(value: buffer("\($0)"), partition: 1) })
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                memberId: generation.memberId,
                generationId: generation.generationId,
                offsets: [tp("t", 0): CommittedOffset(offset: 7)]
            )
        )
        let lag = try await broker.groupLag("g")
        #expect(lag.map(\.topicPartition) == [tp("t", 0), tp("t", 1)])
        #expect(lag[0].lag == 3)
        #expect(lag[0].logEndOffset == 10)
        #expect(lag[0].memberId == generation.memberId)
        #expect(lag[1].committedOffset == nil)
        #expect(lag[1].lag == nil)
        #expect(lag[1].logEndOffset == 4)
        await #expect(throws: BrokerError.self) { try await broker.groupLag("unknown") }
        try await broker.close()
    }

    @Test func deletingATopicDeletesItsCommittedOffsets() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        _ = try await broker.createTopic(CreateTopicRequest(name: "u"))
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: "g",
                offsets: [tp("t", 0): CommittedOffset(offset: 1), tp("u", 0): CommittedOffset(offset: 2)]
            )
        )
        try await broker.deleteTopic("t")
        #expect(try await broker.fetchCommittedOffsets(groupId: "g", partitions: nil).keys.map(\.topic) == ["u"])
        try await broker.close()
    }

    @Test func consumerProtocolBytesMatchTheJavaLayout() throws {
        let subscription = ConsumerProtocol.Subscription(topics: ["t"], ownedPartitions: [tp("t", 1)])
        // version 1, [1 topic "t"], null user data, owned [("t", [1])]
        #expect(
            subscription.encoded() == [
                0, 1, 0, 0, 0, 1, 0, 1, 0x74, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 1, 0, 0, 0, 1,
            ]
        )
        #expect(try ConsumerProtocol.Subscription(decoding: subscription.encoded()) == subscription)
        let assignment = ConsumerProtocol.Assignment(partitions: [tp("a", 0), tp("a", 2)])
        #expect(try ConsumerProtocol.Assignment(decoding: assignment.encoded()) == assignment)
        #expect(throws: BrokerError.self) {
            try ConsumerProtocol.Subscription(decoding: [0, 1, 0x7f, 0xff, 0xff, 0xff])
        }
    }
}

@Suite struct CooperativeStickyTests {
    func subscription(_ topics: [String], owned: [TopicPartition] = []) -> ConsumerProtocol.Subscription {
        ConsumerProtocol.Subscription(topics: topics, ownedPartitions: owned)
    }

    @Test func aNewMemberGetsPartitionsOnlyAfterTheirOwnerRevokesThem() {
        let assignor = CooperativeStickyAssignor()
        let all = (0..<6).map { tp("t", $0) }
        let first = assignor.assign(
            partitionsPerTopic: ["t": 6],
            subscriptions: ["a": subscription(["t"], owned: all), "b": subscription(["t"])]
        )
        // a keeps its fair share; the three that move to b are withheld until a gives them up.
        #expect(first["a"] == (0..<3).map { tp("t", $0) })
        #expect(first["b"] == [])
        let second = assignor.assign(
            partitionsPerTopic: ["t": 6],
            subscriptions: ["a": subscription(["t"], owned: first["a"] ?? []), "b": subscription(["t"])]
        )
        #expect(second["a"] == (0..<3).map { tp("t", $0) })
        #expect(second["b"] == (3..<6).map { tp("t", $0) })
    }

    @Test func whenAMemberLeavesTheOthersKeepWhatTheyHad() {
        let assignor = CooperativeStickyAssignor()
        let result = assignor.assign(
            partitionsPerTopic: ["t": 6],
            subscriptions: [
                "a": subscription(["t"], owned: [tp("t", 0), tp("t", 3)]),
                "b": subscription(["t"], owned: [tp("t", 1), tp("t", 4)]),
            ]
        )
        #expect(Set(result["a"] ?? []).isSuperset(of: [tp("t", 0), tp("t", 3)]))
        #expect(Set(result["b"] ?? []).isSuperset(of: [tp("t", 1), tp("t", 4)]))
        #expect(result["a"]?.count == 3 && result["b"]?.count == 3)
        #expect(Set((result["a"] ?? []) + (result["b"] ?? [])).count == 6)
    }

    @Test func differentSubscriptionsAreRespected() {
        let assignor = CooperativeStickyAssignor()
        let result = assignor.assign(
            partitionsPerTopic: ["t": 4, "u": 2],
            subscriptions: ["a": subscription(["t", "u"]), "b": subscription(["u"])]
        )
        #expect((result["b"] ?? []).allSatisfy { $0.topic == "u" })
        #expect((result["a"] ?? []).filter { $0.topic == "t" }.count == 4)
        #expect(Set((result["a"] ?? []) + (result["b"] ?? [])).count == 6)
    }

    @Test func twoMembersHandOverThroughTheCoordinator() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        var a = GroupMembership(broker: broker, groupId: "g", clientId: "a")
        a.assignors = [CooperativeStickyAssignor()]
        var b = GroupMembership(broker: broker, groupId: "g", clientId: "b")
        b.assignors = [CooperativeStickyAssignor()]

        let first = try await a.join(topics: ["t"])
        #expect(first.assignment.count == 6)
        // b joins; a finds out from its heartbeat and rejoins with what it owns; b rejoins when told to.
        async let bFinal: GroupMembership.Generation = {
            var generation = try await b.join(topics: ["t"])
            while generation.assignment.isEmpty {
                do {
                    try await broker.heartbeat(
                        groupId: "g",
                        memberId: generation.memberId,
                        generationId: generation.generationId
                    )
                    await Task.yield()
                } catch let error as BrokerError where error.code == .rebalanceInProgress {
                    generation = try await b.join(topics: ["t"], memberId: generation.memberId)
                }
            }
            return generation
        }()
        var rebalancing = false
        while !rebalancing {
            do {
                try await broker.heartbeat(groupId: "g", memberId: first.memberId, generationId: first.generationId)
                await Task.yield()
            } catch {
                rebalancing = error.code == .rebalanceInProgress
            }
        }
        let aFinal = try await a.join(topics: ["t"], memberId: first.memberId, owned: first.assignment)
        let bGeneration = try await bFinal
        #expect(aFinal.assignment == (0..<3).map { tp("t", $0) })
        #expect(bGeneration.assignment == (3..<6).map { tp("t", $0) })
        #expect(aFinal.generationId == bGeneration.generationId)
        #expect(aFinal.protocolName == "cooperative-sticky")
        try await broker.close()
    }
}
