import Logging
public import RunnelBrokerAPI
import RunnelLog
import RunnelRecords

// MARK: - Cluster and topics

extension EmbeddedBroker {
    public func describeCluster() async throws(BrokerError) -> ClusterDescription {
        ClusterDescription(
            clusterId: clusterId,
            controllerId: nodeId,
            brokers: [
                BrokerNode(nodeId: nodeId, host: configuration.advertisedHost, port: configuration.advertisedPort)
            ]
        )
    }

    public func describeBrokerConfigs(nodeId: Int32) async throws(BrokerError) -> [ConfigEntry] {
        guard nodeId == self.nodeId else { throw BrokerError(.brokerNotAvailable, "There is no broker \(nodeId)") }
        return configuration.config.describe()
    }

    public func listTopics(includeInternal: Bool) async throws(BrokerError) -> [TopicDescription] {
        topics.withLock { Array($0.values) }
            .filter { includeInternal || !$0.stored.isInternal }
            .sorted { $0.stored.name < $1.stored.name }
            .map(describe)
    }

    public func describeTopic(_ name: String) async throws(BrokerError) -> TopicDescription {
        describe(try state(of: name))
    }

    public func createTopic(_ request: CreateTopicRequest) async throws(BrokerError) -> TopicDescription {
        let name = request.name
        try TopicNames.validate(name)
        guard !TopicNames.internalTopics.contains(name) else {
            throw BrokerError(.invalidRequest, "Creation of internal topic \(name) is prohibited.")
        }
        let partitions = request.partitions ?? configuration.config.numPartitions
        guard partitions > 0 else {
            throw BrokerError(.invalidPartitions, "Number of partitions must be larger than 0.")
        }
        guard partitions <= Self.maxPartitionsPerTopic else {
            throw BrokerError(
                .invalidPartitions,
                "Number of partitions \(partitions) is more than this broker allows per topic (\(Self.maxPartitionsPerTopic))."
            )
        }
        let replicationFactor = request.replicationFactor ?? configuration.config.defaultReplicationFactor
        try Self.checkReplicationFactor(replicationFactor)
        for (key, value) in request.configs { try TopicConfigs.validate(key, value) }

        return try await adminLock.withLock { () throws(BrokerError) -> TopicDescription in
            let folded = TopicNames.unifyCollisionChars(name)
            try topics.withLock { topics throws(BrokerError) in
                guard topics[name] == nil else {
                    throw BrokerError(.topicAlreadyExists, "Topic '\(name)' already exists.")
                }
                if let collision = topics.keys.first(where: { TopicNames.unifyCollisionChars($0) == folded }) {
                    throw BrokerError(.invalidTopic, "Topic '\(name)' collides with existing topic: \(collision)")
                }
            }
            let stored = StoredTopic(
                name: name,
                topicId: KafkaUuid.random(),
                partitions: partitions,
                replicationFactor: replicationFactor,
                isInternal: false,
                createdAt: clock.nowMilliseconds(),
                configs: request.configs
            )
            let state = try TopicState(stored: stored, brokerDefaults: brokerDefaults)
            let logConfig = state.logConfig
            try checkRoom(forPartitions: Int(partitions))
            if request.validateOnly { return describe(state) }
            if TopicNames.hasCollisionChars(name) {
                logger.warning(
                    "Topic names with a period ('.') or underscore ('_') could collide; it is best to use either, but not both",
                    metadata: ["topic": "\(name)"]
                )
            }
            try await catalog.insertTopic(stored)
            var created: [TopicPartition] = []
            do throws(LogError) {
                for partition in 0..<partitions {
                    let topicPartition = TopicPartition(checkedTopic: name, partition: partition)
                    _ = try await logManager.createLog(topicPartition, config: logConfig)
                    created.append(topicPartition)
                }
            } catch {
                // All or nothing: undo the partitions made so far and the catalog entry.
                for topicPartition in created { try? await logManager.deleteLog(topicPartition) }
                try? await catalog.deleteTopic(name)
                throw BrokerError(error)
            }
            topics.withLock { $0[name] = state }
            coordinator.topicChanged(name)
            logger.info("Created topic", metadata: ["topic": "\(name)", "partitions": "\(partitions)"])
            return describe(state)
        }
    }

    /// A guard against a typo creating millions of directories.
    static let maxPartitionsPerTopic: Int32 = 10_000

    /// Each partition keeps a file open: refuses partitions the process's open-file limit cannot serve (keeping
    /// room for clients' connections), before anything is created.
    func checkRoom(forPartitions count: Int) throws(BrokerError) {
        let budget = configuration.descriptors
        let available = budget.partitionsAvailable
        guard count <= available else {
            throw BrokerError(
                .policyViolation,
                "This server can hold \(available) more partitions, not \(count): each keeps a file open, and its open-file limit (\(budget.limit)) must leave room for clients' connections. Delete topics, or raise the limit (ulimit -n) and restart."
            )
        }
    }

    private static func checkReplicationFactor(_ factor: Int16) throws(BrokerError) {
        guard factor > 0 else {
            throw BrokerError(.invalidReplicationFactor, "Replication factor must be larger than 0.")
        }
        guard factor == 1 else {
            throw BrokerError(
                .invalidReplicationFactor,
                "Replication factor: \(factor) larger than available brokers: 1."
            )
        }
    }

    public func deleteTopic(_ name: String) async throws(BrokerError) {
        guard configuration.config.deleteTopicEnable else {
            throw BrokerError(.invalidRequest, "Topic deletion is disabled (delete.topic.enable=false).")
        }
        guard !TopicNames.internalTopics.contains(name) else {
            throw BrokerError(.invalidRequest, "Deletion of internal topic \(name) is prohibited.")
        }
        try await adminLock.withLock { () throws(BrokerError) in
            let state = try state(of: name)
            // The catalog first: a crash after this point leaves orphan logs, which the next start deletes.
            try await catalog.deleteTopic(name)
            topics.withLock { _ = $0.removeValue(forKey: name) }
            partitioner.reset(topic: name)
            for partition in 0..<state.stored.partitions {
                guard let topicPartition = try? TopicPartition(topic: name, partition: partition) else { continue }
                do {
                    try await logManager.deleteLog(topicPartition)
                } catch {
                    logger.warning(
                        "Deleting a partition's log failed; it will be removed at the next start",
                        metadata: ["topicPartition": "\(topicPartition)", "error": "\(error)"]
                    )
                }
            }
            // Inside the lock: a topic re-created right after must not lose offsets committed for it.
            await coordinator.topicDeleted(name)
            logger.info("Deleted topic", metadata: ["topic": "\(name)"])
        }
    }

    public func createPartitions(topic: String, totalCount: Int32, validateOnly: Bool) async throws(BrokerError) {
        guard !TopicNames.internalTopics.contains(topic) else {
            throw BrokerError(.invalidRequest, "Cannot change the partitions of internal topic \(topic).")
        }
        try await adminLock.withLock { () throws(BrokerError) in
            let state = try state(of: topic)
            let current = state.stored.partitions
            guard totalCount != current else {
                throw BrokerError(.invalidPartitions, "Topic already has \(current) partitions.")
            }
            guard totalCount > current else {
                throw BrokerError(
                    .invalidPartitions,
                    "Topic currently has \(current) partitions, which is higher than the requested \(totalCount)."
                )
            }
            guard totalCount <= Self.maxPartitionsPerTopic else {
                throw BrokerError(
                    .invalidPartitions,
                    "Number of partitions \(totalCount) is more than this broker allows per topic (\(Self.maxPartitionsPerTopic))."
                )
            }
            try checkRoom(forPartitions: Int(totalCount - current))
            if validateOnly { return }
            // The catalog first: the next start creates partitions a crash left out.
            try await catalog.setPartitions(topic, count: totalCount)
            for partition in current..<totalCount {
                do throws(LogError) {
                    let topicPartition = TopicPartition(checkedTopic: topic, partition: partition)
                    if logManager.log(for: topicPartition) == nil {
                        _ = try await logManager.createLog(topicPartition, config: state.logConfig)
                    }
                } catch {
                    throw BrokerError(error)
                }
            }
            let grown = try state.with({ $0.partitions = totalCount }, brokerDefaults: brokerDefaults)
            topics.withLock { $0[topic] = grown }
            partitioner.reset(topic: topic)
            logger.info("Added partitions", metadata: ["topic": "\(topic)", "partitions": "\(totalCount)"])
        }
        coordinator.topicChanged(topic)
    }

    public func describeTopicConfigs(_ name: String) async throws(BrokerError) -> [ConfigEntry] {
        let state = try state(of: name)
        return TopicConfigs.describe(brokerDefaults: brokerDefaults, overrides: state.stored.configs)
    }

    public func alterTopicConfigs(
        _ name: String,
        _ changes: [ConfigChange],
        validateOnly: Bool
    ) async throws(BrokerError) {
        try await adminLock.withLock { () throws(BrokerError) in
            let state = try state(of: name)
            var overrides = state.stored.configs
            for change in changes {
                switch change {
                case .set(let key, let value):
                    try TopicConfigs.validate(key, value)
                    overrides[key] = value
                case .delete(let key):
                    guard TopicConfigs.names.contains(key) else {
                        throw BrokerError(.invalidConfig, "Unknown topic config name: \(key)")
                    }
                    overrides.removeValue(forKey: key)
                }
            }
            let altered = try state.with({ $0.configs = overrides }, brokerDefaults: brokerDefaults)
            if validateOnly { return }
            try await catalog.setConfigs(name, overrides)
            topics.withLock { $0[name] = altered }
            let logConfig = altered.logConfig
            for partition in 0..<state.stored.partitions {
                guard let topicPartition = try? TopicPartition(topic: name, partition: partition) else { continue }
                logManager.log(for: topicPartition)?.updateConfig(logConfig)
            }
            logger.info("Altered topic configs", metadata: ["topic": "\(name)"])
        }
    }
}
