public import Logging
import NIOCore
import NIOPosix
public import RunnelLog
public import ServiceLifecycle
import Synchronization

/// A single-node Kafka broker over this process's partition logs: the ``Broker`` that `runnel serve` runs.
///
/// Data directory layout: `meta.properties`, `metadata.db` (the topic catalog) and `logs/` (one directory per
/// partition, `__consumer_offsets-<n>` included).
///
/// ```swift
/// let broker = try await EmbeddedBroker.open(.init(dataDirectory: "runnel-data"), logger: logger)
/// _ = try await broker.createTopic(CreateTopicRequest(name: "orders", partitions: 6))
/// let outcomes = try await broker.produce(topic: "orders", records: [ProducerRecord(key: key, value: value)])
/// try await broker.close()
/// ```
public final class EmbeddedBroker: Broker {
    public struct Configuration: Sendable {
        public var dataDirectory: String
        public var config = BrokerConfig()
        public var clock: any LogClock = SystemLogClock()
        /// Threads for blocking log I/O.
        public var ioThreads = 4
        /// The host and port clients are told this broker is at (the Kafka listener, when there is one).
        public var advertisedHost = "127.0.0.1"
        public var advertisedPort = 9092
        /// How often the coordinator expires sessions and rebalance deadlines.
        public var groupTickIntervalMs: Int64 = 100
        /// Log engine intervals (flush checks, checkpoints, retention, cleaner).
        public var flushCheckIntervalMs: Int64 = 100
        public var checkpointIntervalMs: Int64 = 60_000
        public var retentionCheckIntervalMs: Int64 = 300_000
        public var cleanerBackoffMs: Int64 = 15_000

        public init(dataDirectory: String) {
            self.dataDirectory = dataDirectory
        }
    }

    public let configuration: Configuration
    public let logManager: LogManager
    public let clusterId: String
    public var nodeId: Int32 { configuration.config.nodeId }
    let catalog: MetadataCatalog
    let coordinator: GroupCoordinator
    private let topics: TopicTable
    private let directoryLock: DirectoryLock
    private let adminLock = AsyncLock()
    private let partitioner = StickyPartitioner()
    private let logger: Logger
    private var clock: any LogClock { configuration.clock }
    private var brokerDefaults: [String: String] { configuration.config.topicDefaults }

    private init(
        configuration: Configuration,
        logManager: LogManager,
        clusterId: String,
        catalog: MetadataCatalog,
        coordinator: GroupCoordinator,
        topics: TopicTable,
        directoryLock: DirectoryLock,
        logger: Logger
    ) {
        self.directoryLock = directoryLock
        self.configuration = configuration
        self.logManager = logManager
        self.clusterId = clusterId
        self.catalog = catalog
        self.coordinator = coordinator
        self.topics = topics
        self.logger = logger
    }

    // MARK: - Open and close

    /// Opens the data directory (formatting it on first use), recovers the logs, reconciles them with the catalog,
    /// creates `__consumer_offsets` if needed and loads the committed offsets.
    public static func open(_ configuration: Configuration, logger: Logger) async throws(BrokerError) -> EmbeddedBroker
    {
        let config = configuration.config
        let directory = configuration.dataDirectory
        let (lock, meta, catalog) = try await blocking {
            () throws(BrokerError) -> (DirectoryLock, MetaProperties, MetadataCatalog) in
            let metaPath = directory + "/" + MetaProperties.fileName
            let text: String?
            let lock: DirectoryLock
            do throws(LogError) {
                try MetadataFile.createDirectory(directory)
                lock = try DirectoryLock(directory: directory)
                text = try MetadataFile.read(metaPath)
            } catch {
                throw BrokerError(error)
            }
            let meta: MetaProperties
            if let text {
                meta = try MetaProperties(parsing: text)
                guard meta.nodeId == config.nodeId else {
                    throw BrokerError(
                        .invalidConfig,
                        "Stored node id \(meta.nodeId) in \(metaPath) doesn't match the configured node.id \(config.nodeId)"
                    )
                }
            } else {
                meta = MetaProperties(clusterId: KafkaUuid.random(), nodeId: config.nodeId)
                do throws(LogError) {
                    try MetadataFile.write(metaPath, contents: meta.text)
                } catch {
                    throw BrokerError(error)
                }
            }
            return (lock, meta, try MetadataCatalog.open(path: directory + "/metadata.db"))
        }

        let catalogIsNew = !(try await catalog.isReconciled())
        var states: [String: TopicState] = [:]
        for stored in try await catalog.loadTopics() {
            let logConfig: LogConfig
            do {
                logConfig = try TopicConfigs.logConfig(brokerDefaults: config.topicDefaults, overrides: stored.configs)
            } catch {
                logger.warning(
                    "A stored topic config is no longer valid; using the defaults",
                    metadata: ["topic": "\(stored.name)", "error": "\(error)"]
                )
                logConfig =
                    (try? TopicConfigs.logConfig(brokerDefaults: config.topicDefaults, overrides: [:])) ?? LogConfig()
            }
            states[stored.name] = TopicState(stored: stored, logConfig: logConfig)
        }

        var logConfiguration = LogManager.Configuration(directory: directory + "/logs")
        logConfiguration.defaultConfig = try TopicConfigs.logConfig(
            brokerDefaults: config.topicDefaults,
            overrides: [:]
        )
        logConfiguration.ioThreads = configuration.ioThreads
        logConfiguration.clock = configuration.clock
        logConfiguration.flushCheckIntervalMs = configuration.flushCheckIntervalMs
        logConfiguration.checkpointIntervalMs = configuration.checkpointIntervalMs
        logConfiguration.retentionCheckIntervalMs = configuration.retentionCheckIntervalMs
        logConfiguration.cleanerBackoffMs = configuration.cleanerBackoffMs
        let configs = states.mapValues(\.logConfig)
        let manager: LogManager
        do {
            manager = try await LogManager.open(logConfiguration, logger: logger, configForTopic: { configs[$0] })
        } catch {
            try? catalog.close()
            lock.release()
            throw BrokerError(error)
        }

        do {
            try await reconcile(
                &states,
                manager: manager,
                catalog: catalog,
                adoptOrphans: catalogIsNew,
                config: config,
                clock: configuration.clock,
                logger: logger
            )
            try await Self.ensureOffsetsTopic(
                &states,
                manager: manager,
                catalog: catalog,
                config: config,
                clock: configuration.clock
            )
            try await catalog.markReconciled()
        } catch {
            try? await manager.close()
            try? catalog.close()
            lock.release()
            throw error
        }

        let offsetsPartitions =
            states[TopicNames.consumerOffsets]?.stored.partitions ?? config.offsetsTopicNumPartitions
        let table = TopicTable(states)
        let clock = configuration.clock
        let coordinator = GroupCoordinator(
            settings: .init(
                minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
                maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
                initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
                maxGroupSize: config.groupMaxSize,
                offsetsRetentionMs: config.offsetsRetentionMinutes * 60_000,
                offsetMetadataMaxBytes: config.offsetMetadataMaxBytes,
                offsetsPartitions: offsetsPartitions
            ),
            clock: clock,
            logger: logger,
            partitionCount: { topic in table.withLock { $0[topic]?.stored.partitions } },
            writeOffsets: { partition, records throws(BrokerError) in
                try await appendOffsetsRecords(records, partition: partition, manager: manager, clock: clock)
            }
        )
        let broker = EmbeddedBroker(
            configuration: configuration,
            logManager: manager,
            clusterId: meta.clusterId,
            catalog: catalog,
            coordinator: coordinator,
            topics: table,
            directoryLock: lock,
            logger: logger
        )
        do {
            try await broker.loadOffsets()
        } catch {
            try? await broker.close()
            throw error
        }
        logger.info(
            "Broker started",
            metadata: [
                "clusterId": "\(meta.clusterId)", "nodeId": "\(config.nodeId)", "topics": "\(states.count)",
                "dataDirectory": "\(directory)",
            ]
        )
        return broker
    }

    /// Runs blocking work on NIO's shared thread pool, off the cooperative pool.
    private static func blocking<T: Sendable>(
        _ body: @escaping @Sendable () throws(BrokerError) -> T
    ) async throws(BrokerError) -> T {
        let result: Result<T, BrokerError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive { Result { () throws(BrokerError) in try body() } }
        } catch {
            throw BrokerError(.kafkaStorageError, "the I/O thread pool is not running: \(error)")
        }
        return try result.get()
    }

    /// Makes the logs on disk match the catalog: partitions the catalog has but the disk lacks are created (a crash
    /// after a catalog change); logs the catalog does not know are from topics deleted before a crash and are
    /// deleted, unless the catalog itself is new (then they are adopted as topics).
    private static func reconcile(
        _ states: inout [String: TopicState],
        manager: LogManager,
        catalog: MetadataCatalog,
        adoptOrphans: Bool,
        config: BrokerConfig,
        clock: any LogClock,
        logger: Logger
    ) async throws(BrokerError) {
        let existing = Set(manager.logs.map(\.topicPartition))
        var orphans: [String: [Int32]] = [:]
        for topicPartition in existing {
            guard let state = states[topicPartition.topic], topicPartition.partition < state.stored.partitions else {
                orphans[topicPartition.topic, default: []].append(topicPartition.partition)
                continue
            }
        }
        if adoptOrphans {
            for (topic, partitions) in orphans.sorted(by: { $0.key < $1.key }) {
                guard (try? TopicNames.validate(topic)) != nil, states[topic] == nil else { continue }
                let stored = StoredTopic(
                    name: topic,
                    topicId: KafkaUuid.random(),
                    partitions: (partitions.max() ?? 0) + 1,
                    replicationFactor: 1,
                    isInternal: TopicNames.internalTopics.contains(topic),
                    createdAt: clock.nowMilliseconds(),
                    configs: topic == TopicNames.consumerOffsets ? offsetsTopicConfigs(config) : [:]
                )
                try await catalog.insertTopic(stored)
                states[topic] = TopicState(
                    stored: stored,
                    logConfig: try TopicConfigs.logConfig(
                        brokerDefaults: config.topicDefaults,
                        overrides: stored.configs
                    )
                )
                for log in manager.logs where log.topicPartition.topic == topic {
                    log.updateConfig(states[topic]?.logConfig ?? log.config)
                }
                logger.warning(
                    "Adopted logs found without a catalog entry as a topic",
                    metadata: ["topic": "\(topic)", "partitions": "\(stored.partitions)"]
                )
            }
        } else {
            for (topic, partitions) in orphans {
                for partition in partitions {
                    guard let topicPartition = try? TopicPartition(topic: topic, partition: partition) else { continue }
                    logger.warning(
                        "Deleting a log whose topic or partition is not in the catalog (deleted before a crash)",
                        metadata: ["topicPartition": "\(topicPartition)"]
                    )
                    do {
                        try await manager.deleteLog(topicPartition)
                    } catch {
                        throw BrokerError(error)
                    }
                }
            }
        }
        for (name, state) in states.sorted(by: { $0.key < $1.key }) {
            for partition in 0..<state.stored.partitions {
                let topicPartition: TopicPartition
                do {
                    topicPartition = try TopicPartition(topic: name, partition: partition)
                } catch {
                    throw BrokerError(error)
                }
                if manager.log(for: topicPartition) == nil {
                    do {
                        _ = try await manager.createLog(topicPartition, config: state.logConfig)
                    } catch {
                        throw BrokerError(error)
                    }
                }
            }
        }
    }

    private static func offsetsTopicConfigs(_ config: BrokerConfig) -> [String: String] {
        [
            "cleanup.policy": "compact",
            "segment.bytes": String(config.offsetsTopicSegmentBytes),
            "compression.type": "producer",
        ]
    }

    private static func ensureOffsetsTopic(
        _ states: inout [String: TopicState],
        manager: LogManager,
        catalog: MetadataCatalog,
        config: BrokerConfig,
        clock: any LogClock
    ) async throws(BrokerError) {
        guard states[TopicNames.consumerOffsets] == nil else { return }
        let stored = StoredTopic(
            name: TopicNames.consumerOffsets,
            topicId: KafkaUuid.random(),
            partitions: config.offsetsTopicNumPartitions,
            replicationFactor: 1,
            isInternal: true,
            createdAt: clock.nowMilliseconds(),
            configs: offsetsTopicConfigs(config)
        )
        let logConfig = try TopicConfigs.logConfig(brokerDefaults: config.topicDefaults, overrides: stored.configs)
        try await catalog.insertTopic(stored)
        states[stored.name] = TopicState(stored: stored, logConfig: logConfig)
        for partition in 0..<stored.partitions {
            do {
                let topicPartition = try TopicPartition(topic: stored.name, partition: partition)
                if manager.log(for: topicPartition) == nil {
                    _ = try await manager.createLog(topicPartition, config: logConfig)
                }
            } catch {
                throw BrokerError(error)
            }
        }
    }

    /// Writes coordinator records to a partition of `__consumer_offsets`, in one batch.
    private static func appendOffsetsRecords(
        _ records: [OffsetsTopicRecord],
        partition: Int32,
        manager: LogManager,
        clock: any LogClock
    ) async throws(BrokerError) {
        guard !records.isEmpty else { return }
        do {
            let topicPartition = try TopicPartition(topic: TopicNames.consumerOffsets, partition: partition)
            guard let log = manager.log(for: topicPartition) else {
                throw BrokerError(.coordinatorNotAvailable, "The offsets partition \(topicPartition) is not available")
            }
            var builder = RecordBatchBuilder()
            let now = clock.nowMilliseconds()
            for record in records {
                let (key, value) = record.encoded()
                builder.append(
                    key: ByteBuffer(bytes: key),
                    value: value.map { ByteBuffer(bytes: $0) },
                    timestamp: now
                )
            }
            _ = try await log.append(try builder.build())
        } catch let error as LogError {
            throw BrokerError(error)
        } catch let error as BrokerError {
            throw error
        } catch {
            throw BrokerError(.unknownServerError, "\(error)")
        }
    }

    /// Replays `__consumer_offsets` into the coordinator.
    private func loadOffsets() async throws(BrokerError) {
        var loaded = 0
        for log in logManager.logs where log.topicPartition.topic == TopicNames.consumerOffsets {
            var offset = log.logStartOffset
            while offset < log.logEndOffset {
                do {
                    let result = try await log.read(from: offset, maxBytes: 1 << 20)
                    let batches = try RecordBatch.split(result.records)
                    guard let last = batches.last else { break }
                    for batch in batches where !batch.header.isControl {
                        for record in try batch.records() where record.offset >= offset {
                            guard let key = record.key else { continue }
                            let decoded = try OffsetsTopicRecord.decode(
                                key: Array(buffer: key),
                                value: record.value.map { Array(buffer: $0) }
                            )
                            if let decoded {
                                coordinator.load(decoded)
                                loaded += 1
                            }
                        }
                    }
                    offset = last.nextOffset
                } catch let error as LogError {
                    throw BrokerError(error)
                } catch let error as BrokerError {
                    logger.error(
                        "Skipping an unreadable record of __consumer_offsets",
                        metadata: ["partition": "\(log.topicPartition)", "offset": "\(offset)", "error": "\(error)"]
                    )
                    offset += 1
                } catch {
                    throw BrokerError(.kafkaStorageError, "\(error)")
                }
            }
        }
        logger.debug("Loaded committed offsets", metadata: ["records": "\(loaded)"])
    }

    /// The background work of the broker: log flushing and checkpoints, retention, compaction, and the group
    /// coordinator's clock (session expiry, rebalance deadlines, offset expiry). Run them in the server's
    /// `ServiceGroup`.
    public var services: [any Service] {
        [
            LogFlushService(manager: logManager),
            LogRetentionService(manager: logManager),
            LogCleanerService(manager: logManager),
            GroupCoordinatorService(broker: self),
        ]
    }

    /// Shuts down: waiting joins fail, every log is flushed and closed (with the clean-shutdown marker), and the
    /// catalog is closed.
    public func close() async throws(BrokerError) {
        coordinator.shutdown()
        var failure: BrokerError?
        do {
            try await logManager.close()
        } catch {
            failure = BrokerError(error)
        }
        let catalog = self.catalog
        do {
            try await Self.blocking { () throws(BrokerError) in try catalog.close() }
        } catch {
            failure = failure ?? error
        }
        directoryLock.release()
        if let failure { throw failure }
    }

    // MARK: - Topic state

    private func state(of topic: String) throws(BrokerError) -> TopicState {
        guard let state = topics.withLock({ $0[topic] }) else {
            throw BrokerError(.unknownTopicOrPartition, "This server does not host this topic: \(topic)")
        }
        return state
    }

    func partitionCount(_ topic: String) -> Int32? {
        topics.withLock { $0[topic]?.stored.partitions }
    }

    private func log(_ topicPartition: TopicPartition) throws(BrokerError) -> PartitionLog {
        guard let log = logManager.log(for: topicPartition) else {
            throw BrokerError(
                .unknownTopicOrPartition,
                "This server does not host this topic-partition: \(topicPartition)"
            )
        }
        return log
    }

    private func describe(_ state: TopicState) -> TopicDescription {
        let node = nodeId
        return TopicDescription(
            name: state.stored.name,
            topicId: state.stored.topicId,
            isInternal: state.stored.isInternal,
            replicationFactor: state.stored.replicationFactor,
            partitions: (0..<state.stored.partitions).map {
                PartitionDescription(partition: $0, leader: node, replicas: [node], inSyncReplicas: [node])
            },
            configOverrides: state.stored.configs
        )
    }
}

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
        let logConfig = try TopicConfigs.logConfig(brokerDefaults: brokerDefaults, overrides: request.configs)

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
            let state = TopicState(stored: stored, logConfig: logConfig)
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
                    let topicPartition = try TopicPartition(topic: name, partition: partition)
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
            var state = try state(of: topic)
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
            if validateOnly { return }
            // The catalog first: the next start creates partitions a crash left out.
            try await catalog.setPartitions(topic, count: totalCount)
            for partition in current..<totalCount {
                do throws(LogError) {
                    let topicPartition = try TopicPartition(topic: topic, partition: partition)
                    if logManager.log(for: topicPartition) == nil {
                        _ = try await logManager.createLog(topicPartition, config: state.logConfig)
                    }
                } catch {
                    throw BrokerError(error)
                }
            }
            state.stored.partitions = totalCount
            topics.withLock { $0[topic] = state }
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
            var state = try state(of: name)
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
            let logConfig = try TopicConfigs.logConfig(brokerDefaults: brokerDefaults, overrides: overrides)
            if validateOnly { return }
            try await catalog.setConfigs(name, overrides)
            state.stored.configs = overrides
            state.logConfig = logConfig
            topics.withLock { $0[name] = state }
            for partition in 0..<state.stored.partitions {
                guard let topicPartition = try? TopicPartition(topic: name, partition: partition) else { continue }
                logManager.log(for: topicPartition)?.updateConfig(logConfig)
            }
            logger.info("Altered topic configs", metadata: ["topic": "\(name)"])
        }
    }
}

// MARK: - Produce, fetch, offsets

extension EmbeddedBroker {
    /// The records of one partition of a produce call, in batches no larger than `max.message.bytes`.
    private struct PartitionAppend {
        var builders: [RecordBatchBuilder] = []
        /// The index in the request of each record, batch by batch, in order.
        var indexes: [Int] = []

        mutating func add(
            _ record: ProducerRecord,
            timestamp: Int64,
            size: Int,
            index: Int,
            maxBatchBytes: Int,
            expectedRecords: Int
        ) {
            if builders.isEmpty || builders[builders.count - 1].uncompressedSize + size > maxBatchBytes {
                var builder = RecordBatchBuilder()
                builder.reserveCapacity(expectedRecords)
                builders.append(builder)
                indexes.reserveCapacity(expectedRecords)
            }
            builders[builders.count - 1].append(
                key: record.key,
                value: record.value,
                headers: record.headers,
                timestamp: timestamp
            )
            indexes.append(index)
        }
    }

    public func produce(
        topic: String,
        records: [ProducerRecord],
        options: ProduceOptions = ProduceOptions()
    ) async throws(BrokerError) -> [ProduceOutcome] {
        guard !records.isEmpty else { return [] }
        let state = try await stateForProduce(topic)
        guard !state.stored.isInternal else {
            throw BrokerError(.invalidTopic, "Producing to the internal topic \(topic) is not allowed")
        }
        let partitions = state.stored.partitions
        let config = state.logConfig
        let minInsync =
            Int(
                TopicConfigs.value(
                    "min.insync.replicas",
                    brokerDefaults: brokerDefaults,
                    overrides: state.stored.configs
                ) ?? "1"
            ) ?? 1
        if options.acks == .all && minInsync > 1 {
            let error = BrokerError(
                .notEnoughReplicas,
                "The topic requires \(minInsync) in-sync replicas (min.insync.replicas) but a partition has 1 on this single-node cluster"
            )
            return Array(repeating: .failure(error), count: records.count)
        }

        let now = clock.nowMilliseconds()
        var outcomes = [ProduceOutcome?](repeating: nil, count: records.count)
        var appends: [Int32: PartitionAppend] = [:]
        // Keyed records spread evenly; a little headroom saves most regrowths.
        let expectedPerPartition = records.count / Int(partitions) + 8
        for (index, record) in records.enumerated() {
            let timestamp = record.timestamp ?? now
            let size = Self.sizeInBatch(
                record,
                timestamp: timestamp,
                limit: config.maxMessageBytes - RecordBatch.headerSize
            )
            guard RecordBatch.headerSize + size <= config.maxMessageBytes else {
                outcomes[index] = .failure(
                    BrokerError(
                        .messageTooLarge,
                        "The record is \(RecordBatch.headerSize + size) bytes in a batch, more than the topic's max.message.bytes (\(config.maxMessageBytes))"
                    )
                )
                continue
            }
            if let problem = Self.recordProblem(record, timestamp: timestamp, now: now, config: config) {
                outcomes[index] = .failure(problem)
                continue
            }
            let partition: Int32
            if let explicit = record.partition {
                guard explicit >= 0 && explicit < partitions else {
                    outcomes[index] = .failure(
                        BrokerError(
                            .unknownTopicOrPartition,
                            "Partition \(explicit) of topic \(topic) does not exist (the topic has \(partitions) partitions)"
                        )
                    )
                    continue
                }
                partition = explicit
            } else if let key = record.key {
                partition = Murmur2.partition(forKey: key, partitions: partitions)
            } else {
                partition = partitioner.partitionForUnkeyed(topic: topic, partitions: partitions, size: size)
            }
            // Mutated in place: a copy out of the dictionary would copy the builders for every record.
            appends[partition, default: PartitionAppend()].add(
                record,
                timestamp: timestamp,
                size: size,
                index: index,
                maxBatchBytes: config.maxMessageBytes,
                expectedRecords: expectedPerPartition
            )
        }

        // Every partition's batches go to the log engine in one request: one hand-off to the I/O threads.
        var requests: [(log: PartitionLog, batches: [RecordBatch])] = []
        var requestPartitions: [Int32] = []
        var results: [(Int32, Result<AppendResult, BrokerError>)] = []
        for (partition, append) in appends {
            switch prepare(topic, partition, append) {
            case .success(let request):
                requests.append(request)
                requestPartitions.append(partition)
            case .failure(let error):
                results.append((partition, .failure(error)))
            }
        }
        for (partition, result) in zip(requestPartitions, await logManager.append(requests)) {
            results.append((partition, result.mapError { BrokerError($0) }))
        }
        let logAppendTime = config.messageTimestampType == .logAppendTime
        for (partition, result) in results {
            guard let append = appends[partition] else { continue }
            switch result {
            case .success(let appended):
                for (position, index) in append.indexes.enumerated() {
                    let timestamp = logAppendTime ? appended.logAppendTime : (records[index].timestamp ?? now)
                    outcomes[index] = .success(
                        RecordMetadata(
                            partition: partition,
                            offset: appended.firstOffset + Int64(position),
                            timestamp: timestamp,
                            timestampType: logAppendTime ? .logAppendTime : .createTime
                        )
                    )
                }
            case .failure(let error):
                for index in append.indexes { outcomes[index] = .failure(error) }
            }
        }
        return outcomes.map { $0 ?? .failure(BrokerError(.unknownServerError, "the record was not appended")) }
    }

    /// What the log would refuse about this record alone, checked here so that it fails this record and not its whole
    /// batch: a negative timestamp, a timestamp outside `message.timestamp.before/after.max.ms`, a missing key on a
    /// compacted topic.
    static func recordProblem(_ record: ProducerRecord, timestamp: Int64, now: Int64, config: LogConfig) -> BrokerError?
    {
        if timestamp < 0 {
            return BrokerError(.invalidTimestamp, "The record's timestamp \(timestamp) is negative")
        }
        if config.messageTimestampType == .createTime {
            if now - timestamp > config.messageTimestampBeforeMaxMs {
                return BrokerError(
                    .invalidTimestamp,
                    "The record's timestamp \(timestamp) is more than message.timestamp.before.max.ms (\(config.messageTimestampBeforeMaxMs)) before the broker's time \(now)"
                )
            }
            if timestamp - now > config.messageTimestampAfterMaxMs {
                return BrokerError(
                    .invalidTimestamp,
                    "The record's timestamp \(timestamp) is more than message.timestamp.after.max.ms (\(config.messageTimestampAfterMaxMs)) after the broker's time \(now)"
                )
            }
        }
        if record.key == nil && config.cleanupPolicy.contains(.compact) {
            return BrokerError(.invalidRecord, "Compacted topic cannot accept message without key")
        }
        return nil
    }

    /// The bytes a record takes in a batch: a cheap upper bound (every varint at its longest), made exact when the
    /// bound passes `limit`, so no record is refused for its bound.
    static func sizeInBatch(_ record: ProducerRecord, timestamp: Int64, limit: Int) -> Int {
        // length, attributes, timestamp delta, offset delta, key and value lengths, header count.
        var bound = 5 + 1 + 10 + 5 + 5 + 5 + 5
        bound += (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
        for header in record.headers { bound += 10 + header.key.utf8.count + (header.value?.readableBytes ?? 0) }
        guard bound > limit else { return bound }
        return Record(
            offset: 0,
            timestamp: timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers,
            offsetDelta: 0,
            timestampDelta: 0
        ).encodedSize
    }

    /// A partition's log and its batches, ready to append.
    private func prepare(
        _ topic: String,
        _ partition: Int32,
        _ append: PartitionAppend
    ) -> Result<(log: PartitionLog, batches: [RecordBatch]), BrokerError> {
        let topicPartition: TopicPartition
        var batches: [RecordBatch] = []
        batches.reserveCapacity(append.builders.count)
        do throws(LogError) {
            topicPartition = try TopicPartition(topic: topic, partition: partition)
            for builder in append.builders { batches.append(try builder.build()) }
        } catch {
            return .failure(BrokerError(error))
        }
        guard let log = logManager.log(for: topicPartition) else {
            return .failure(
                BrokerError(
                    .unknownTopicOrPartition,
                    "This server does not host this topic-partition: \(topicPartition)"
                )
            )
        }
        return .success((log, batches))
    }

    /// The topic to produce to, created with the defaults when `auto.create.topics.enable` is on.
    private func stateForProduce(_ topic: String) async throws(BrokerError) -> TopicState {
        if let state = topics.withLock({ $0[topic] }) { return state }
        guard configuration.config.autoCreateTopicsEnable else {
            throw BrokerError(.unknownTopicOrPartition, "This server does not host this topic: \(topic)")
        }
        do {
            _ = try await createTopic(CreateTopicRequest(name: topic))
        } catch  where error.code == .topicAlreadyExists {
            // Created concurrently.
        }
        return try state(of: topic)
    }

    public func fetch(_ request: FetchRequest) async throws(BrokerError) -> [FetchedPartition] {
        let deadline = clock.nowMilliseconds() + max(0, request.maxWaitMs)
        var logs: [PartitionLog?] = []
        for partition in request.partitions {
            logs.append(logManager.log(for: partition.topicPartition))
        }
        while true {
            let results = await readOnce(request, logs: logs)
            let bytes = results.reduce(0) { $0 + $1.bytes }
            let now = clock.nowMilliseconds()
            if bytes >= max(1, request.minBytes) || results.contains(where: { $0.partition.error != nil })
                || now >= deadline
            {
                return results.map(\.partition)
            }
            // Wait for any partition to grow past what this pass saw, or for the deadline; no polling.
            let waits: [(PartitionLog, Int64)] = zip(logs, zip(request.partitions, results)).compactMap {
                log,
                pair in
                log.map { ($0, max(pair.0.offset, pair.1.partition.highWatermark)) }
            }
            let clock = self.clock
            await withTaskGroup(of: Void.self) { group in
                for (log, offset) in waits {
                    group.addTask { await log.waitForData(after: offset) }
                }
                group.addTask { try? await clock.sleep(milliseconds: deadline - now) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func readOnce(
        _ request: FetchRequest,
        logs: [PartitionLog?]
    ) async -> [(partition: FetchedPartition, bytes: Int)] {
        var remaining = request.maxBytes
        var results: [(partition: FetchedPartition, bytes: Int)] = []
        var returnedAny = false
        for (log, partition) in zip(logs, request.partitions) {
            let topicPartition = partition.topicPartition
            // A log deleted (or closed) since the fetch began answers like a missing one, instead of waking the
            // long poll over and over.
            guard let log, logManager.log(for: topicPartition) === log else {
                results.append(
                    (
                        FetchedPartition(
                            topicPartition: topicPartition,
                            error: BrokerError(
                                .unknownTopicOrPartition,
                                "This server does not host this topic-partition: \(topicPartition)"
                            ),
                            highWatermark: -1,
                            logStartOffset: -1,
                            records: [],
                            nextOffset: partition.offset
                        ), 0
                    )
                )
                continue
            }
            var fetched = FetchedPartition(
                topicPartition: topicPartition,
                error: nil,
                highWatermark: log.logEndOffset,
                logStartOffset: log.logStartOffset,
                records: [],
                nextOffset: partition.offset
            )
            guard remaining > 0 || !returnedAny else {
                results.append((fetched, 0))
                continue
            }
            do {
                let read = try await log.read(
                    from: partition.offset,
                    maxBytes: min(request.maxPartitionBytes, max(remaining, 0)),
                    minOneBatch: !returnedAny
                )
                fetched.highWatermark = read.logEndOffset
                fetched.logStartOffset = read.logStartOffset
                let bytes = read.records.readableBytes
                if bytes > 0 {
                    for batch in try RecordBatch.split(read.records) {
                        fetched.nextOffset = max(fetched.nextOffset, batch.nextOffset)
                        guard !batch.header.isControl else { continue }
                        let timestampType = batch.header.timestampType
                        for record in try batch.records() where record.offset >= partition.offset {
                            fetched.records.append(
                                ConsumerRecord(
                                    topic: topicPartition.topic,
                                    partition: topicPartition.partition,
                                    offset: record.offset,
                                    timestamp: record.timestamp,
                                    timestampType: timestampType,
                                    key: record.key,
                                    value: record.value,
                                    headers: record.headers
                                )
                            )
                        }
                    }
                    remaining -= bytes
                    returnedAny = true
                }
                results.append((fetched, bytes))
            } catch {
                fetched.error = BrokerError(error)
                results.append((fetched, 0))
            }
        }
        return results
    }

    public func listOffset(
        _ topicPartition: TopicPartition,
        at spec: OffsetSpec
    ) async throws(BrokerError)
        -> ListedOffset
    {
        let log = try log(topicPartition)
        switch spec {
        case .earliest:
            return ListedOffset(offset: log.logStartOffset, timestamp: -1)
        case .latest:
            return ListedOffset(offset: log.logEndOffset, timestamp: -1)
        case .timestamp(let timestamp):
            guard timestamp >= 0 else {
                throw BrokerError(.invalidRequest, "The timestamp \(timestamp) is negative")
            }
            do {
                guard let found = try await log.offset(forTimestamp: timestamp) else {
                    return ListedOffset(offset: -1, timestamp: -1)
                }
                return ListedOffset(offset: found.offset, timestamp: found.timestamp)
            } catch {
                throw BrokerError(error)
            }
        case .maxTimestamp:
            do {
                guard let found = try await log.offsetOfMaxTimestamp() else {
                    return ListedOffset(offset: -1, timestamp: -1)
                }
                return ListedOffset(offset: found.offset, timestamp: found.timestamp)
            } catch {
                throw BrokerError(error)
            }
        }
    }
}

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
        guard !groupId.isEmpty else { throw BrokerError(.invalidGroupId, "The group id must not be empty") }
        return coordinator.committedOffsets(groupId: groupId, partitions: partitions)
    }

    public func listGroups() async throws(BrokerError) -> [GroupOverview] {
        coordinator.listGroups()
    }

    public func describeGroup(_ groupId: String) async throws(BrokerError) -> GroupDescription {
        guard !groupId.isEmpty else { throw BrokerError(.invalidGroupId, "The group id must not be empty") }
        return coordinator.describe(groupId, nodeId: nodeId)
    }

    public func deleteGroup(_ groupId: String) async throws(BrokerError) {
        guard !groupId.isEmpty else { throw BrokerError(.invalidGroupId, "The group id must not be empty") }
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

struct TopicState: Sendable {
    var stored: StoredTopic
    var logConfig: LogConfig
}

/// The live topics, shared by the broker and the coordinator's topic lookups.
final class TopicTable: Sendable {
    private let states: Mutex<[String: TopicState]>

    init(_ states: [String: TopicState]) {
        self.states = Mutex(states)
    }

    func withLock<T: Sendable, E: Error>(_ body: (inout [String: TopicState]) throws(E) -> T) throws(E) -> T {
        try states.withLock { (states: inout [String: TopicState]) throws(E) -> T in try body(&states) }
    }
}
