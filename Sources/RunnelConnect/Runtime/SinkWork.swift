import Logging
import NIOCore
import RunnelBrokerAPI
import RunnelRecords
import Synchronization

/// Sends records a sink task rejects to the dead letter queue (or fails the task without `errors.tolerance=all`).
final class SinkErrantRecordReporter: ErrantRecordReporter {
    let dlq: DeadLetterQueue?
    let policy: ErrorPolicy
    let logger: Logger
    let connector: String
    let taskId: Int
    /// The fetched partitions of the batch being put (their records in offset order), to find a record's original.
    let originals = Mutex<[TopicPartition: [ConsumerRecord]]>([:])

    init(dlq: DeadLetterQueue?, policy: ErrorPolicy, logger: Logger, connector: String, taskId: Int) {
        self.dlq = dlq
        self.policy = policy
        self.logger = logger
        self.connector = connector
        self.taskId = taskId
    }

    func report(_ record: ConnectRecord, error: ConnectError) async throws(ConnectError) {
        try await handle(
            error,
            stage: .taskPut,
            className: "sink task",
            original: original(of: record),
            tolerated: policy.tolerateAll
        )
    }

    private func original(of record: ConnectRecord) -> ConsumerRecord? {
        guard let partition = record.kafkaPartition, let offset = record.kafkaOffset,
            let tp = try? TopicPartition(topic: record.topic, partition: partition)
        else { return nil }
        return originals.withLock { fetched -> ConsumerRecord? in
            guard let records = fetched[tp] else { return nil }
            var low = 0
            var high = records.count
            while low < high {
                let middle = (low + high) / 2
                if records[middle].offset < offset { low = middle + 1 } else { high = middle }
            }
            return low < records.count && records[low].offset == offset ? records[low] : nil
        }
    }

    /// Logs the failure, sends the original to the DLQ, and throws unless it is tolerated.
    func handle(
        _ error: ConnectError,
        stage: Stage,
        className: String,
        original: ConsumerRecord?,
        tolerated: Bool
    ) async throws(ConnectError) {
        ConnectMetrics.recordError(connector)
        guard tolerated else { throw error }
        if policy.logErrors {
            let record = original.map { "topic=\($0.topic) partition=\($0.partition) offset=\($0.offset)" }
            logger.connectError(
                error,
                stage: stage,
                className: className,
                connector: connector,
                taskId: taskId,
                record: policy.logMessages ? record : nil
            )
        }
        if let dlq, let original {
            try await policy.retrying { () async throws(ConnectError) in
                try await dlq.send(original, stage: stage, className: className, error: error)
            }
        }
    }
}

struct SinkContext: SinkTaskContext {
    let connectorName: String
    let taskId: Int
    let dataDirectory: String
    let logger: Logger
    let errantRecordReporter: any ErrantRecordReporter
}

/// A sink task's loop: be a member of the group `connect-<name>`, fetch, convert, transform and put records, and
/// commit the offsets the task returns from `preCommit` (after it made its data durable) every
/// `offset.flush.interval.ms`, on rebalance and on stop.
final class SinkWork {
    private enum Exit {
        case rejoin
        case stop
    }

    private struct Session {
        var memberId: String
        var generationId: Int32
        var assigned: [TopicPartition]
        var positions: [TopicPartition: Int64] = [:]
        var consumed: [TopicPartition: Int64] = [:]
    }

    let settings: TaskSettings
    let task: any SinkTask
    private let broker: any Broker
    private let group: String
    private let keyConverter: any Converter
    private let valueConverter: any Converter
    private let chain: TransformChain
    private let policy: ErrorPolicy
    private let reporter: SinkErrantRecordReporter
    private let flushInterval: Int64
    private let topicList: [String]
    private let topicRegex: Regex<AnyRegexOutput>?
    private let dlqTopic: String?
    private var membership: GroupMembership
    private var memberId = ""
    private var owned: [TopicPartition] = []
    private var topics: [String: Int] = [:]
    private var knownTopics: Set<String> = []
    /// The next fetch, started while the task puts the previous batch; used when the next request is the same.
    private var readAhead: (request: FetchRequest, task: Task<Result<[FetchedPartition], BrokerError>, Never>)?

    init(settings: TaskSettings, task: any SinkTask) throws(ConnectError) {
        self.settings = settings
        self.task = task
        let worker = settings.worker
        let parsed = settings.parsed
        broker = worker.broker
        let pipeline = try settings.pipeline()
        keyConverter = pipeline.keyConverter
        valueConverter = pipeline.valueConverter
        chain = pipeline.chain
        policy = pipeline.policy
        let dlqTopic = parsed.nonEmpty("errors.deadletterqueue.topic.name")
        self.dlqTopic = dlqTopic
        let broker = worker.broker
        let dlq = dlqTopic.map {
            DeadLetterQueue(
                broker: broker,
                topic: $0,
                contextHeaders: parsed.bool("errors.deadletterqueue.context.headers.enable"),
                connector: settings.connector,
                taskId: settings.taskId
            )
        }
        reporter = SinkErrantRecordReporter(
            dlq: dlq,
            policy: policy,
            logger: worker.logger,
            connector: settings.connector,
            taskId: settings.taskId
        )
        flushInterval =
            settings.connectorConfig["offset.flush.interval.ms"].flatMap { Int64($0) }
            ?? worker.configuration.offsetFlushIntervalMs
        group = ConnectWorker.sinkGroup(settings.connector)
        membership = GroupMembership(
            broker: broker,
            groupId: group,
            clientId: "connector-consumer-\(settings.connector)-\(settings.taskId)"
        )
        membership.rebalanceTimeoutMs = 60_000
        topicList = parsed.list("topics")
        topicRegex = parsed.nonEmpty("topics.regex").flatMap { try? Regex($0) }
    }

    /// The subscribed topics that exist, with their partition counts.
    private func resolveTopics() async -> [String: Int] {
        guard let all = try? await broker.listTopics(includeInternal: false) else { return [:] }
        var matched: [String: Int] = [:]
        for topic in all {
            let wanted: Bool
            if let topicRegex {
                wanted = (try? topicRegex.wholeMatch(in: topic.name)) != nil && topic.name != dlqTopic
            } else {
                wanted = topicList.contains(topic.name)
            }
            if wanted { matched[topic.name] = topic.partitions.count }
        }
        return matched
    }

    func run() async throws(ConnectError) {
        try await task.start(
            config: settings.taskConfig,
            context: SinkContext(
                connectorName: settings.connector,
                taskId: settings.taskId,
                dataDirectory: settings.worker.configuration.dataDirectory,
                logger: settings.worker.taskLogger(settings.connector, settings.taskId),
                errantRecordReporter: reporter
            )
        )
        do throws(ConnectError) {
            while !Task.isCancelled {
                guard let generation = await join() else { continue }
                let exit = try await runGeneration(generation)
                if exit == .stop { break }
            }
        } catch {
            await leave()
            throw error
        }
        await leave()
    }

    private func leave() async {
        cancelReadAhead()
        if !memberId.isEmpty { try? await broker.leaveGroup(groupId: group, memberId: memberId) }
        await task.stop()
    }

    private func join() async -> GroupMembership.Generation? {
        topics = await resolveTopics()
        let subscribed = topicRegex == nil ? topicList : topics.keys.sorted()
        do {
            let generation = try await membership.join(topics: subscribed, memberId: memberId, owned: owned)
            memberId = generation.memberId
            owned = generation.assignment
            return generation
        } catch {
            if error.code == .unknownMemberId { memberId = "" }
            _ = await pause(milliseconds: 500)
            return nil
        }
    }

    private func runGeneration(_ generation: GroupMembership.Generation) async throws(ConnectError) -> Exit {
        let committed: [TopicPartition: CommittedOffset]
        do {
            committed = try await broker.fetchCommittedOffsets(groupId: group, partitions: generation.assignment)
        } catch {
            throw Producing.map(error)
        }
        var session = Session(
            memberId: memberId,
            generationId: generation.generationId,
            assigned: generation.assignment
        )
        for tp in generation.assignment {
            if let offset = committed[tp]?.offset, offset >= 0 {
                session.positions[tp] = offset
            } else {
                session.positions[tp] = (try? await broker.listOffset(tp, at: .earliest).offset) ?? 0
            }
        }
        try await task.open(generation.assignment, committed: committed)
        // Partitions read for the first time get their starting point committed at once, so that a task that
        // records its own state in the commit (e.g. how much of a file it wrote) has a reference after a crash.
        let uncommitted = generation.assignment.filter { (committed[$0]?.offset ?? -1) < 0 }
        if !uncommitted.isEmpty {
            var start = session
            start.consumed = session.positions.filter { uncommitted.contains($0.key) }
            try await commit(start)
        }

        var lastCommit = ContinuousClock.now
        var lastHeartbeat = ContinuousClock.now
        var lastTopicCheck = ContinuousClock.now
        var exit = Exit.stop
        while !Task.isCancelled {
            if session.assigned.isEmpty {
                if !(await pause(milliseconds: 500)) { break }
            } else {
                try await fetchAndPut(&session)
            }
            let now = ContinuousClock.now
            if now - lastHeartbeat >= .seconds(1) {
                lastHeartbeat = now
                if await heartbeatSaysRejoin(session) {
                    exit = .rejoin
                    break
                }
            }
            if now - lastTopicCheck >= .seconds(3) {
                lastTopicCheck = now
                if await resolveTopics() != topics {
                    exit = .rejoin
                    break
                }
            }
            if !session.consumed.isEmpty && now - lastCommit >= .milliseconds(flushInterval) {
                lastCommit = now
                try await commit(session)
            }
        }
        // Leaving this generation: make the data durable and commit, even when stopping.
        cancelReadAhead()
        if !session.consumed.isEmpty { try await commit(session) }
        try await task.close(session.assigned)
        return Task.isCancelled ? .stop : exit
    }

    private func heartbeatSaysRejoin(_ session: Session) async -> Bool {
        do {
            try await broker.heartbeat(groupId: group, memberId: session.memberId, generationId: session.generationId)
            return false
        } catch {
            if error.code == .unknownMemberId {
                memberId = ""
                owned = []
            }
            return [.rebalanceInProgress, .unknownMemberId, .illegalGeneration].contains(error.code)
        }
    }

    private static func fetchRequest(_ session: Session) -> FetchRequest {
        FetchRequest(
            partitions: session.assigned.map { FetchRequest.Partition($0, offset: session.positions[$0] ?? 0) },
            maxWaitMs: 500,
            minBytes: 1,
            maxBytes: 8 << 20
        )
    }

    private static func startFetch(
        _ broker: any Broker,
        _ request: FetchRequest
    ) -> Task<Result<[FetchedPartition], BrokerError>, Never> {
        Task {
            do throws(BrokerError) {
                return .success(try await broker.fetch(request))
            } catch {
                return .failure(error)
            }
        }
    }

    private func cancelReadAhead() {
        readAhead?.task.cancel()
        readAhead = nil
    }

    private func fetchAndPut(_ session: inout Session) async throws(ConnectError) {
        let request = Self.fetchRequest(session)
        let fetched: [FetchedPartition]
        do {
            if let readAhead, readAhead.request == request {
                self.readAhead = nil
                fetched = try await readAhead.task.value.get()
            } else {
                cancelReadAhead()
                fetched = try await broker.fetch(request)
            }
        } catch {
            let mapped = Producing.map(error)
            if mapped.kind != .retriable { throw mapped }
            _ = await pause(milliseconds: 200)
            return
        }
        // A task told to stop puts nothing more: what the fetch returned is read again by the next owner, from
        // the offsets committed on the way out.
        if Task.isCancelled { return }
        if fetched.allSatisfy(\.isEmpty) && fetched.contains(where: { $0.error != nil }) {
            // Only errors (e.g. a deleted topic): the fetch returned at once; do not spin until the rejoin.
            _ = await pause(milliseconds: 100)
        }
        // Move past what was fetched, and fetch what follows while these records are converted and put.
        var progressed = false
        for partition in fetched {
            let tp = partition.topicPartition
            if let error = partition.error {
                if error.code == .offsetOutOfRange {
                    session.positions[tp] = (try? await broker.listOffset(tp, at: .earliest).offset) ?? 0
                }
                // Damaged records are not skipped silently: the task fails, saying which offsets (its status shows
                // it; the partition's offsets can be moved past them with PATCH /connectors/{name}/offsets).
                if error.code == .corruptMessage { throw ConnectError.failure(error.message) }
                continue
            }
            if partition.nextOffset > (session.positions[tp] ?? 0) {
                session.positions[tp] = partition.nextOffset
                session.consumed[tp] = partition.nextOffset
                progressed = true
            }
        }
        if progressed {
            let next = Self.fetchRequest(session)
            readAhead = (next, Self.startFetch(broker, next))
        }
        var batch: [ConnectRecord] = []
        var decoded: [TopicPartition: [ConsumerRecord]] = [:]
        for partition in fetched where partition.error == nil {
            let records: [ConsumerRecord]
            do throws(BrokerError) {
                records = try partition.records()
            } catch {
                throw ConnectError.failure(error.message)
            }
            decoded[partition.topicPartition] = records
            for consumed in records {
                let record: ConnectRecord
                switch convert(consumed) {
                case .record(let converted): record = converted
                case .dropped: continue
                case .failed(let error, let stage, let className):
                    // Logged and sent to the DLQ when tolerated; otherwise the task fails.
                    try await reporter.handle(
                        error,
                        stage: stage,
                        className: className,
                        original: consumed,
                        tolerated: policy.tolerates(error, in: stage)
                    )
                    continue
                }
                batch.append(record)
            }
            let topic = partition.topicPartition.topic
            if !records.isEmpty && !knownTopics.contains(topic) {
                knownTopics.insert(topic)
                await settings.worker.noteActiveTopic(settings.connector, topic)
            }
        }
        let task = self.task
        guard !batch.isEmpty else {
            // Nothing to put: the task still hears that time passed.
            try await task.put([])
            return
        }
        reporter.originals.withLock { $0 = decoded }
        ConnectMetrics.records(settings.connector, .sink, batch.count)
        try await policy.retrying { () async throws(ConnectError) in try await task.put(batch) }
        reporter.originals.withLock { $0 = [:] }
    }

    /// Asks the task to make its data durable, then commits what it returns.
    private func commit(_ session: Session) async throws(ConnectError) {
        let offsets = try await task.preCommit(session.consumed)
        let assigned = Set(session.assigned)
        let toCommit = offsets.filter { assigned.contains($0.key) }
        guard !toCommit.isEmpty else { return }
        let started = ContinuousClock.now
        defer { ConnectMetrics.offsetCommit(settings.connector, since: started) }
        do {
            _ = try await broker.commitOffsets(
                OffsetCommitRequest(
                    groupId: group,
                    memberId: session.memberId,
                    generationId: session.generationId,
                    offsets: toCommit
                )
            )
        } catch {
            // A rebalance under way: the next generation re-reads what was committed.
            let mapped = Producing.map(error)
            if ![.rebalanceInProgress, .unknownMemberId, .illegalGeneration].contains(error.code)
                && mapped.kind != .retriable
            {
                throw mapped
            }
        }
    }

    /// A consumed record converted and transformed: the record, nothing (a transform dropped it), or a failure and
    /// where it happened (handled, asynchronously, by the caller).
    private enum Converted {
        case record(ConnectRecord)
        case dropped
        case failed(ConnectError, stage: Stage, className: String)
    }

    /// Converts and transforms one consumed record, without suspending.
    private func convert(_ consumed: ConsumerRecord) -> Converted {
        let key: (schema: ConnectSchema?, value: ConnectValue)
        let value: (schema: ConnectSchema?, value: ConnectValue)
        do {
            key = try keyConverter.toConnectData(topic: consumed.topic, bytes: consumed.key)
        } catch {
            return .failed(error, stage: .keyConverter, className: ConnectorConfig.className(of: keyConverter))
        }
        do {
            value = try valueConverter.toConnectData(topic: consumed.topic, bytes: consumed.value)
        } catch {
            return .failed(error, stage: .valueConverter, className: ConnectorConfig.className(of: valueConverter))
        }
        let record = ConnectRecord(
            topic: consumed.topic,
            kafkaPartition: consumed.partition,
            keySchema: key.schema,
            key: key.value,
            valueSchema: value.schema,
            value: value.value,
            timestamp: consumed.timestamp,
            headers: consumed.headers.map(ConnectHeader.init),
            kafkaOffset: consumed.offset
        )
        if chain.isEmpty { return .record(record) }
        do {
            guard let transformed = try chain.apply(record) else { return .dropped }
            return .record(transformed)
        } catch {
            return .failed(error.error, stage: .transformation, className: error.className)
        }
    }
}
