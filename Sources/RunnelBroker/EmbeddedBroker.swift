public import Logging
import NIOCore
import NIOPosix
public import RunnelBrokerAPI
public import RunnelLog
public import RunnelRecords
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
        public var clock: any WallClock = SystemWallClock()
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
        /// The longest a quota delays an answer; a request that would wait longer is refused.
        public var maxThrottleMs: Int64 = 30_000
        /// Bytes of fetched records held at once by every reader together, until their answers are sent
        /// (``MemoryBudget``).
        public var fetchMemoryBytes = 256 << 20
        /// How long a fetch waits for its share of that memory before it is refused.
        public var fetchMemoryWait: Duration = .seconds(10)
        /// The process's file descriptors, shared by partitions, the segment cache and (in `runnel serve`) the
        /// listeners' connections.
        public var descriptors = DescriptorBudget.unlimited

        public init(dataDirectory: String) {
            self.dataDirectory = dataDirectory
        }
    }

    public let configuration: Configuration
    public let logManager: LogManager
    public let clusterId: String
    public var nodeId: Int32 { configuration.config.nodeId }
    let catalog: MetadataCatalog
    /// The catalog's ACLs and super users. The embedded broker itself enforces nothing (as Kafka without an
    /// authorizer); wrap it in an ``AuthorizingBroker`` to check every operation.
    public let authorizer: Authorizer
    /// The catalog's API keys.
    public let apiKeys: APIKeyStore
    /// The memory fetched records may hold at once, shared by every front end.
    public let fetchMemory: MemoryBudget
    /// The catalog's byte-rate quotas; a ``ThrottlingBroker`` around this broker enforces them.
    public let quotas: Quotas
    let coordinator: GroupCoordinator
    let topics: TopicTable
    private let directoryLock: DirectoryLock
    let adminLock = AsyncLock()
    let partitioner = StickyPartitioner()
    let logger: Logger
    var clock: any WallClock { configuration.clock }
    var brokerDefaults: [String: String] { configuration.config.topicDefaults }

    private init(
        configuration: Configuration,
        logManager: LogManager,
        clusterId: String,
        catalog: MetadataCatalog,
        authorizer: Authorizer,
        quotas: Quotas,
        coordinator: GroupCoordinator,
        topics: TopicTable,
        directoryLock: DirectoryLock,
        logger: Logger
    ) {
        self.authorizer = authorizer
        self.quotas = quotas
        self.apiKeys = APIKeyStore(catalog: catalog, authorizer: authorizer)
        self.fetchMemory = MemoryBudget(limit: configuration.fetchMemoryBytes)
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
                try DataDirectory.create(directory)
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

        let authorizer: Authorizer
        let quotas: Quotas
        let catalogIsNew = !(try await catalog.isReconciled())
        var states: [String: TopicState] = [:]
        for stored in try await catalog.loadTopics() {
            do {
                states[stored.name] = try TopicState(stored: stored, brokerDefaults: config.topicDefaults)
            } catch {
                logger.warning(
                    "A stored topic config is no longer valid; using the defaults",
                    metadata: ["topic": "\(stored.name)", "error": "\(error)"]
                )
                var reset = stored
                reset.configs = [:]
                states[stored.name] = try TopicState(stored: reset, brokerDefaults: config.topicDefaults)
            }
        }

        var logConfiguration = LogManager.Configuration(directory: directory + "/logs")
        logConfiguration.defaultConfig = try TopicConfigs.logConfig(
            brokerDefaults: config.topicDefaults,
            overrides: [:]
        )
        logConfiguration.ioThreads = configuration.ioThreads
        logConfiguration.descriptors = configuration.descriptors
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
            authorizer = try await Authorizer(catalog: catalog)
            quotas = try await Quotas(catalog: catalog, maxThrottleMs: configuration.maxThrottleMs)
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
            authorizer: authorizer,
            quotas: quotas,
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
        try await NIOThreadPool.singleton.run(body) {
            BrokerError(.kafkaStorageError, "the I/O thread pool is not running: \($0)")
        }
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
        clock: any WallClock,
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
                states[topic] = try TopicState(stored: stored, brokerDefaults: config.topicDefaults)
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
        clock: any WallClock
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
        let state = try TopicState(stored: stored, brokerDefaults: config.topicDefaults)
        let logConfig = state.logConfig
        try await catalog.insertTopic(stored)
        states[stored.name] = state
        for partition in 0..<stored.partitions {
            do {
                let topicPartition = TopicPartition(checkedTopic: stored.name, partition: partition)
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
        clock: any WallClock
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

    func state(of topic: String) throws(BrokerError) -> TopicState {
        guard let state = topics.withLock({ $0[topic] }) else {
            throw BrokerError.unknownTopic(topic)
        }
        return state
    }

    func partitionCount(_ topic: String) -> Int32? {
        topics.withLock { $0[topic]?.stored.partitions }
    }

    func log(_ topicPartition: TopicPartition) throws(BrokerError) -> PartitionLog {
        guard let log = logManager.log(for: topicPartition) else {
            throw BrokerError.unknownPartition(topicPartition)
        }
        return log
    }

    func describe(_ state: TopicState) -> TopicDescription {
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

/// A topic and what its configs resolve to (built-in defaults, then broker defaults, then its overrides).
struct TopicState: Sendable {
    let stored: StoredTopic
    let logConfig: LogConfig
    /// `min.insync.replicas`, checked on every `acks=all` produce.
    let minInsyncReplicas: Int

    init(stored: StoredTopic, brokerDefaults: [String: String]) throws(BrokerError) {
        self.stored = stored
        logConfig = try TopicConfigs.logConfig(brokerDefaults: brokerDefaults, overrides: stored.configs)
        let value = TopicConfigs.value("min.insync.replicas", brokerDefaults: brokerDefaults, overrides: stored.configs)
        minInsyncReplicas = value.flatMap { Int($0) } ?? 1
    }

    /// The same topic with other stored settings.
    func with(_ change: (inout StoredTopic) -> Void, brokerDefaults: [String: String]) throws(BrokerError) -> TopicState
    {
        var stored = self.stored
        change(&stored)
        return try TopicState(stored: stored, brokerDefaults: brokerDefaults)
    }
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
