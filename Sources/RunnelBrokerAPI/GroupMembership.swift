public import RunnelRecords

/// The client side of Kafka's consumer group protocol over any ``Broker``, as a Java consumer runs it: join with a
/// subscription for each supported assignor, run the chosen assignor when elected leader, sync, and start over when
/// the coordinator says a rebalance is in progress. Front ends that host consumers (the REST proxy's consumer
/// instances, sink tasks) use it; it works the same against an embedded broker or a Kafka cluster.
public struct GroupMembership: Sendable {
    public struct Generation: Sendable, Hashable {
        public var memberId: String
        public var generationId: Int32
        public var protocolName: String
        public var isLeader: Bool
        public var assignment: [TopicPartition]

        public init(
            memberId: String,
            generationId: Int32,
            protocolName: String,
            isLeader: Bool,
            assignment: [TopicPartition]
        ) {
            self.memberId = memberId
            self.generationId = generationId
            self.protocolName = protocolName
            self.isLeader = isLeader
            self.assignment = assignment
        }
    }

    public let broker: any Broker
    public let groupId: String
    public let clientId: String
    public var sessionTimeoutMs: Int64 = 45_000
    public var rebalanceTimeoutMs: Int64 = 300_000
    /// In order of preference; the default is the Java consumer's `partition.assignment.strategy`.
    public var assignors: [any PartitionAssignor] = [RangeAssignor(), CooperativeStickyAssignor()]

    public init(broker: any Broker, groupId: String, clientId: String) {
        self.broker = broker
        self.groupId = groupId
        self.clientId = clientId
    }

    /// Joins (or rejoins, with the id of a previous generation) and returns this member's new generation.
    ///
    /// - Parameter owned: the partitions this member holds now (its last assignment), which sticky assignors keep
    ///   where they are. With a cooperative assignor, a member that loses some of them rejoins at once, so the
    ///   generation returned is the one that completes the handover.
    public func join(
        topics: [String],
        memberId: String = "",
        owned: [TopicPartition] = []
    ) async throws(BrokerError) -> Generation {
        var memberId = memberId
        var owned = owned
        while true {
            let subscription = ConsumerProtocol.Subscription(topics: topics.sorted(), ownedPartitions: owned).encoded()
            let joined = try await broker.joinGroup(
                JoinGroupRequest(
                    groupId: groupId,
                    memberId: memberId,
                    clientId: clientId,
                    sessionTimeoutMs: sessionTimeoutMs,
                    rebalanceTimeoutMs: rebalanceTimeoutMs,
                    protocolType: ConsumerProtocol.protocolType,
                    protocols: assignors.map { GroupProtocol(name: $0.name, metadata: subscription) }
                )
            )
            memberId = joined.memberId
            var assignments: [String: [UInt8]] = [:]
            if joined.isLeader {
                assignments = try await assign(joined)
            }
            do {
                let synced = try await broker.syncGroup(
                    SyncGroupRequest(
                        groupId: groupId,
                        memberId: memberId,
                        generationId: joined.generationId,
                        assignments: assignments
                    )
                )
                let assignment = try ConsumerProtocol.Assignment(decoding: synced.assignment)
                let cooperative = assignors.first { $0.name == synced.protocolName }?.isCooperative ?? false
                if cooperative && !Set(owned).isSubset(of: assignment.partitions) {
                    // Partitions were revoked: rejoin so the group can hand them to their new owners.
                    owned = assignment.partitions
                    continue
                }
                return Generation(
                    memberId: memberId,
                    generationId: joined.generationId,
                    protocolName: synced.protocolName,
                    isLeader: joined.isLeader,
                    assignment: assignment.partitions.sorted()
                )
            } catch  where error.code == .rebalanceInProgress || error.code == .illegalGeneration {
                // Another member joined meanwhile: join the next generation.
                continue
            }
        }
    }

    /// The leader's step: every member's partitions under the chosen assignor.
    private func assign(_ joined: JoinGroupResponse) async throws(BrokerError) -> [String: [UInt8]] {
        guard let assignor = assignors.first(where: { $0.name == joined.protocolName }) else {
            throw BrokerError(.inconsistentGroupProtocol, "The group chose an unknown assignor \(joined.protocolName)")
        }
        var subscriptions: [String: ConsumerProtocol.Subscription] = [:]
        for member in joined.members {
            subscriptions[member.memberId] = try ConsumerProtocol.Subscription(decoding: member.metadata)
        }
        var partitionsPerTopic: [String: Int32] = [:]
        for topic in Set(subscriptions.values.flatMap(\.topics)) {
            // Topics that do not exist (yet) get no partitions, as in the Java client.
            if let description = try? await broker.describeTopic(topic) {
                partitionsPerTopic[topic] = Int32(description.partitions.count)
            }
        }
        let assigned = assignor.assign(partitionsPerTopic: partitionsPerTopic, subscriptions: subscriptions)
        return assigned.mapValues { ConsumerProtocol.Assignment(partitions: $0).encoded() }
    }
}
