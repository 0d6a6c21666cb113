import Logging
import RunnelBrokerAPI
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

/// The group protocol as a value, without threads or clocks: each step's answers are checked as a Kafka client
/// would see them.
@Suite struct GroupMachineTests {
    static func request(
        _ memberId: String = "",
        protocols: [String] = ["range"],
        instance: String? = nil,
        requireKnownMemberId: Bool = false,
        sessionTimeoutMs: Int64 = 10_000,
        rebalanceTimeoutMs: Int64 = 30_000
    ) -> JoinGroupRequest {
        JoinGroupRequest(
            groupId: "g",
            memberId: memberId,
            clientId: "client",
            sessionTimeoutMs: sessionTimeoutMs,
            rebalanceTimeoutMs: rebalanceTimeoutMs,
            protocols: protocols.map { GroupProtocol(name: $0, metadata: Array($0.utf8)) },
            groupInstanceId: instance,
            requireKnownMemberId: requireKnownMemberId
        )
    }

    /// The answers a step gave, by waiter.
    static func joins(
        _ actions: [GroupMachine.Action]
    ) -> [GroupMachine.WaiterID: Result<JoinGroupResponse, BrokerError>] {
        var answers: [GroupMachine.WaiterID: Result<JoinGroupResponse, BrokerError>] = [:]
        for case .answerJoin(let waiter, let result) in actions { answers[waiter] = result }
        return answers
    }

    static func syncs(
        _ actions: [GroupMachine.Action]
    ) -> [GroupMachine.WaiterID: Result<SyncGroupResponse, BrokerError>] {
        var answers: [GroupMachine.WaiterID: Result<SyncGroupResponse, BrokerError>] = [:]
        for case .answerSync(let waiter, let result) in actions { answers[waiter] = result }
        return answers
    }

    static func persisted(_ actions: [GroupMachine.Action]) -> [OffsetsTopicRecord] {
        actions.compactMap { if case .persist(let record) = $0 { record } else { nil } }
    }

    /// Two members through a whole generation: a lone member's join completes at once; a second member's join
    /// waits until the first rejoins; the leader gets every member's metadata, its sync hands out the assignments
    /// and makes the group stable.
    @Test func twoMembersJoinAndSyncAGeneration() throws {
        var group = GroupMachine(id: "g", now: 0)
        let alone = Self.joins(group.join(Self.request(), waiter: 1, newMemberId: "a", now: 0))
        #expect(try alone[1]?.get().generationId == 1)
        #expect(group.state == .completingRebalance)
        #expect(
            Self.joins(group.join(Self.request(), waiter: 2, newMemberId: "b", now: 10))
                .isEmpty
        )
        #expect(group.state == .preparingRebalance)
        // "a" hears REBALANCE_IN_PROGRESS and rejoins with its id: that completes the phase.
        #expect(throws: BrokerError.self) { try group.heartbeat(memberId: "a", generationId: 1, now: 15) }
        let completed = Self.joins(
            group.join(Self.request("a"), waiter: 3, newMemberId: "x", now: 20)
        )
        let leader = try #require(completed[3]).get()
        let follower = try #require(completed[2]).get()
        #expect(leader.generationId == 2 && leader.isLeader && leader.members.map(\.memberId) == ["a", "b"])
        #expect(!follower.isLeader && follower.members.isEmpty && follower.leaderId == "a" && follower.memberId == "b")
        #expect(group.state == .completingRebalance)

        #expect(
            Self.syncs(group.sync(SyncGroupRequest(groupId: "g", memberId: "b", generationId: 2), waiter: 4, now: 30))
                .isEmpty
        )
        let synced = group.sync(
            SyncGroupRequest(groupId: "g", memberId: "a", generationId: 2, assignments: ["a": [1], "b": [2]]),
            waiter: 5,
            now: 40
        )
        #expect(try Self.syncs(synced)[4]?.get().assignment == [2])
        #expect(try Self.syncs(synced)[5]?.get().assignment == [1])
        #expect(Self.persisted(synced) == [group.storedRecord])
        #expect(group.state == .stable)
        #expect(throws: Never.self) { try group.heartbeat(memberId: "b", generationId: 2, now: 50) }
        #expect(throws: BrokerError.self) { try group.heartbeat(memberId: "b", generationId: 1, now: 50) }
    }

    /// KIP-394: a client that asks learns its member id first, and only its second join makes it a member.
    @Test func aFirstJoinCanBeToldItsMemberIdFirst() throws {
        var group = GroupMachine(id: "g", now: 0)
        let first = Self.joins(
            group.join(
                Self.request(requireKnownMemberId: true),
                waiter: 1,
                newMemberId: "m-1",
                now: 0
            )
        )
        let answer = try #require(first[1]).get()
        #expect(answer.error?.code == .memberIdRequired && answer.memberId == "m-1")
        #expect(group.members.isEmpty && group.pendingMembers.keys.sorted() == ["m-1"])
        let second = Self.joins(
            group.join(Self.request("m-1"), waiter: 2, newMemberId: "unused", now: 5)
        )
        #expect(try second[2]?.get().memberId == "m-1")
        #expect(try second[2]?.get().isLeader == true)
        // An id handed out but never used is forgotten after the session timeout.
        _ = group.join(
            Self.request(requireKnownMemberId: true),
            waiter: 3,
            newMemberId: "m-2",
            now: 10
        )
        _ = group.tick(now: 10 + 10_000)
        #expect(group.pendingMembers.isEmpty)
        let late = Self.joins(
            group.join(Self.request("m-2"), waiter: 4, newMemberId: "unused", now: 20_001)
        )
        #expect(late[4]?.failureCode == .unknownMemberId)
    }

    /// KIP-345: a static member that restarts gets a new id and its old assignment without a rebalance; the old id
    /// is fenced.
    @Test func aStaticMemberComesBackWithoutARebalance() throws {
        var group = GroupMachine(id: "g", now: 0)
        _ = group.join(Self.request(instance: "host-1"), waiter: 1, newMemberId: "a", now: 0)
        _ = group.join(Self.request(instance: "host-2"), waiter: 2, newMemberId: "b", now: 0)
        _ = group.join(
            Self.request("a", instance: "host-1"),
            waiter: 3,
            newMemberId: "x",
            now: 0
        )
        _ = group.sync(SyncGroupRequest(groupId: "g", memberId: "b", generationId: 2), waiter: 4, now: 1)
        _ = group.sync(
            SyncGroupRequest(groupId: "g", memberId: "a", generationId: 2, assignments: ["a": [1], "b": [2]]),
            waiter: 5,
            now: 1
        )
        #expect(group.state == .stable && group.generation == 2)

        // host-2 restarts: no member id, the same instance id.
        let back = Self.joins(
            group.join(
                Self.request(instance: "host-2"),
                waiter: 6,
                newMemberId: "b2",
                now: 100
            )
        )
        let answer = try #require(back[6]).get()
        #expect(answer.memberId == "b2" && answer.generationId == 2 && !answer.isLeader)
        #expect(group.state == .stable && group.generation == 2)
        let synced = Self.syncs(
            group.sync(SyncGroupRequest(groupId: "g", memberId: "b2", generationId: 2), waiter: 7, now: 101)
        )
        #expect(try synced[7]?.get().assignment == [2])
        // The old incarnation is fenced wherever it shows up.
        let stale = Self.joins(
            group.join(
                Self.request("b", instance: "host-2"),
                waiter: 8,
                newMemberId: "y",
                now: 102
            )
        )
        #expect(stale[8]?.failureCode == .fencedInstanceId)
        #expect(throws: BrokerError.self) {
            try group.heartbeat(memberId: "b", generationId: 2, instanceId: "host-2", now: 103)
        }
        #expect(group.members.keys.sorted() == ["a", "b2"])
    }

    /// A member whose session lapses is expired by the clock and the group rebalances; one that does not rejoin
    /// within the rebalance timeout is dropped when the deadline passes.
    @Test func timeoutsDropMembersThatDoNotAnswer() throws {
        var group = GroupMachine(id: "g", now: 0)
        _ = group.join(
            Self.request(rebalanceTimeoutMs: 5_000),
            waiter: 1,
            newMemberId: "a",
            now: 0
        )
        _ = group.join(
            Self.request(rebalanceTimeoutMs: 5_000),
            waiter: 2,
            newMemberId: "b",
            now: 0
        )
        _ = group.join(
            Self.request("a", rebalanceTimeoutMs: 5_000),
            waiter: 3,
            newMemberId: "x",
            now: 0
        )
        _ = group.sync(
            SyncGroupRequest(groupId: "g", memberId: "a", generationId: 2, assignments: [:]),
            waiter: 4,
            now: 0
        )
        #expect(group.state == .stable)

        // "b" stops heartbeating: after its session (10 s) it is expired and "a" must rejoin.
        try group.heartbeat(memberId: "a", generationId: 2, now: 9_000)
        let expired = group.tick(now: 10_000)
        #expect(group.members.keys.sorted() == ["a"] && group.state == .preparingRebalance)
        #expect(expired.contains(.log(.info, "Member session expired", [:])))
        let rebalancing = #expect(throws: BrokerError.self) {
            try group.heartbeat(memberId: "a", generationId: 2, now: 10_001)
        }
        #expect(rebalancing?.code == .rebalanceInProgress)

        // "a" never rejoins: at the rebalance deadline the group is empty, and its record says so.
        #expect(Self.joins(group.tick(now: 14_999)).isEmpty)
        let done = group.tick(now: 15_000)
        #expect(group.state == .empty && group.members.isEmpty)
        #expect(Self.persisted(done) == [group.storedRecord])
    }

    /// The protocol is the one every member supports that most prefer; a member sharing none is refused.
    @Test func theProtocolIsChosenAcrossMembers() throws {
        var group = GroupMachine(id: "g", now: 0)
        _ = group.join(
            Self.request(protocols: ["range", "cooperative-sticky"]),
            waiter: 1,
            newMemberId: "a",
            now: 0
        )
        _ = group.join(
            Self.request(protocols: ["cooperative-sticky", "range"]),
            waiter: 2,
            newMemberId: "b",
            now: 0
        )
        let c = Self.joins(
            group.join(
                Self.request(protocols: ["cooperative-sticky"]),
                waiter: 3,
                newMemberId: "c",
                now: 0
            )
        )
        #expect(c.isEmpty)
        let refused = Self.joins(
            group.join(
                Self.request(protocols: ["roundrobin"]),
                waiter: 4,
                newMemberId: "d",
                now: 0
            )
        )
        #expect(refused[4]?.failureCode == .inconsistentGroupProtocol)
        let completed = Self.joins(
            group.join(
                Self.request("a", protocols: ["range", "cooperative-sticky"]),
                waiter: 5,
                newMemberId: "x",
                now: 0
            )
        )
        #expect(try completed[5]?.get().protocolName == "cooperative-sticky")
        #expect(group.members.count == 3)
    }

    /// Cooperative rounds: a member whose subscription changes rejoins and starts a new generation; the others
    /// rejoin with their ids and keep them.
    @Test func aChangedSubscriptionStartsANewGenerationForEveryone() throws {
        var group = GroupMachine(id: "g", now: 0)
        _ = group.join(
            Self.request(protocols: ["cooperative-sticky"]),
            waiter: 1,
            newMemberId: "a",
            now: 0
        )
        _ = group.join(
            Self.request("a", protocols: ["cooperative-sticky"]),
            waiter: 2,
            newMemberId: "x",
            now: 0
        )
        _ = group.sync(
            SyncGroupRequest(groupId: "g", memberId: "a", generationId: 1, assignments: ["a": [1]]),
            waiter: 3,
            now: 0
        )
        _ = group.join(
            Self.request(protocols: ["cooperative-sticky"]),
            waiter: 4,
            newMemberId: "b",
            now: 1
        )
        #expect(group.state == .preparingRebalance)
        let second = Self.joins(
            group.join(
                Self.request("a", protocols: ["cooperative-sticky"]),
                waiter: 5,
                newMemberId: "x",
                now: 2
            )
        )
        #expect(try second[5]?.get().generationId == 2)
        #expect(try second[4]?.get().memberId == "b")
        // A member's commit is checked against its generation.
        #expect(throws: BrokerError.self) { try group.checkCommit(memberId: "a", generationId: 1, now: 3) }
        #expect(throws: BrokerError.self) { try group.checkCommit(memberId: "a", generationId: 2, now: 3) }  // syncing
        _ = group.sync(
            SyncGroupRequest(groupId: "g", memberId: "a", generationId: 2, assignments: [:]),
            waiter: 6,
            now: 4
        )
        #expect(throws: Never.self) { try group.checkCommit(memberId: "a", generationId: 2, now: 5) }
    }

    /// `group.initial.rebalance.delay.ms` holds an empty group's first rebalance for more members;
    /// `group.max.size` refuses a member beyond it.
    @Test func theInitialDelayAndTheMaximumSize() throws {
        var group = GroupMachine(id: "g", now: 0, settings: .init(initialRebalanceDelayMs: 3_000, maxGroupSize: 2))
        #expect(Self.joins(group.join(Self.request(), waiter: 1, newMemberId: "a", now: 0)).isEmpty)
        #expect(Self.joins(group.join(Self.request(), waiter: 2, newMemberId: "b", now: 1_000)).isEmpty)
        let full = Self.joins(group.join(Self.request(), waiter: 3, newMemberId: "c", now: 1_500))
        #expect(full[3]?.failureCode == .groupMaxSizeReached)
        #expect(Self.joins(group.tick(now: 2_999)).isEmpty)
        let completed = Self.joins(group.tick(now: 3_000))
        #expect(try completed[1]?.get().members.map(\.memberId) == ["a", "b"])
        #expect(try completed[2]?.get().generationId == 1)
        #expect(group.members.count == 2)
    }
}

extension Result where Failure == BrokerError {
    var failureCode: BrokerError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
