import Logging
import Metrics
import NIOCore
public import RunnelBrokerAPI
import RunnelLog
public import RunnelRecords

// MARK: - Produce, fetch, offsets

extension EmbeddedBroker {
    /// The records of one partition of a produce call, in batches no larger than `max.message.bytes`.
    private struct PartitionAppend {
        var builders: [RecordBatchBuilder] = []
        /// The index in the request of each record, batch by batch, in order.
        var indexes: [Int] = []
        /// Key and value bytes (for the traffic metrics).
        var payloadBytes = 0

        mutating func add(
            _ index: Int,
            of records: ProducerRecords,
            timestamp: Int64,
            size: Int,
            maxBatchBytes: Int,
            expectedBytes: Int
        ) {
            if builders.isEmpty || builders[builders.count - 1].uncompressedSize + size > maxBatchBytes {
                var builder = RecordBatchBuilder()
                builder.reserveCapacity(bytes: min(expectedBytes, maxBatchBytes))
                builders.append(builder)
            }
            let entry = records.entries[index]
            builders[builders.count - 1].append(entry, of: records, timestamp: timestamp)
            indexes.append(index)
            payloadBytes += entry.payloadBytes
        }
    }

    public func produce(
        topic: String,
        records: ProducerRecords,
        options: ProduceOptions = ProduceOptions()
    ) async throws(BrokerError) -> [ProduceOutcome] {
        guard !records.isEmpty else { return [] }
        let started = ContinuousClock.now
        defer { BrokerMetrics.produceDuration.record(duration: ContinuousClock.now - started) }
        let state = try await stateForProduce(topic)
        guard !state.stored.isInternal else {
            throw BrokerError(.invalidTopic, "Producing to the internal topic \(topic) is not allowed")
        }
        let partitions = state.stored.partitions
        let config = state.logConfig
        if let refusal = Self.acksRefusal(options, minInsync: state.minInsyncReplicas) {
            return Array(repeating: .failure(refusal), count: records.count)
        }

        let now = clock.nowMilliseconds()
        var outcomes = [ProduceOutcome?](repeating: nil, count: records.count)
        var appends: [Int32: PartitionAppend] = [:]
        // Keyed records spread evenly; a little headroom saves most regrowths.
        let expectedBytes = records.bytes.readableBytes / Int(partitions) + records.count * 16 / Int(partitions) + 256
        for (index, entry) in records.entries.enumerated() {
            let timestamp = entry.timestamp ?? now
            // Every varint at its longest: an upper bound, exact enough to split batches by.
            let size = records.encodedSize(of: entry, timestampDelta: .max, offsetDelta: .max)
            if RecordBatch.headerSize + size > config.maxMessageBytes {
                // Only the exact size of the record alone in a batch can refuse it.
                let exact = RecordBatch.headerSize + records.encodedSize(of: entry, timestampDelta: 0, offsetDelta: 0)
                guard exact <= config.maxMessageBytes else {
                    outcomes[index] = .failure(
                        BrokerError(
                            .messageTooLarge,
                            "The record is \(exact) bytes in a batch, more than the topic's max.message.bytes (\(config.maxMessageBytes))"
                        )
                    )
                    continue
                }
            }
            if let problem = Self.recordProblem(
                timestamp: timestamp,
                hasKey: entry.key != nil,
                now: now,
                config: config
            ) {
                outcomes[index] = .failure(problem)
                continue
            }
            let partition: Int32
            if let explicit = entry.partition {
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
            } else if entry.key != nil {
                let hash = records.withKeyBytes(of: entry) { $0.map(Murmur2.hash) ?? 0 }
                partition = (hash & 0x7fff_ffff) % partitions
            } else {
                partition = partitioner.partitionForUnkeyed(topic: topic, partitions: partitions, size: size)
            }
            // Mutated in place: a copy out of the dictionary would copy the builders for every record.
            appends[partition, default: PartitionAppend()].add(
                index,
                of: records,
                timestamp: timestamp,
                size: size,
                maxBatchBytes: config.maxMessageBytes,
                expectedBytes: expectedBytes
            )
        }

        // Every partition's batches go to the log engine in one request: one hand-off to the I/O threads.
        var requests: [(log: PartitionLog, batches: [RecordBatch])] = []
        var requestPartitions: [Int32] = []
        var results: [(Int32, Result<AppendResult, BrokerError>)] = []
        for (partition, append) in appends {
            switch prepare(topic, partition, append.builders) {
            case .success(let request):
                requests.append(request)
                requestPartitions.append(partition)
            case .failure(let error):
                results.append((partition, .failure(error)))
            }
        }
        // The batches were encoded here from records checked above (timestamps, keys, sizes): the log skips
        // checking each record again, as it must for a client's batches.
        let appended = await logManager.append(requests, checkRecords: false)
        for (partition, result) in zip(requestPartitions, appended) {
            results.append((partition, result.mapError { BrokerError($0) }))
        }
        let logAppendTime = config.messageTimestampType == .logAppendTime
        for (partition, result) in results {
            guard let append = appends[partition] else { continue }
            switch result {
            case .success(let appended):
                BrokerMetrics.recordIn(topic: topic, messages: append.indexes.count, bytes: append.payloadBytes)
                for (position, index) in append.indexes.enumerated() {
                    let timestamp =
                        logAppendTime ? appended.logAppendTime : (records.entries[index].timestamp ?? now)
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

    public func produce(
        _ partitions: [PartitionBatches],
        options: ProduceOptions = ProduceOptions()
    ) async throws(BrokerError) -> [PartitionProduceResult] {
        let started = ContinuousClock.now
        defer { BrokerMetrics.produceDuration.record(duration: ContinuousClock.now - started) }
        var results: [PartitionProduceResult?] = Array(repeating: nil, count: partitions.count)
        var requests: [(log: PartitionLog, batches: [RecordBatch])] = []
        var requestIndexes: [Int] = []
        var counts: [(records: Int, bytes: Int)] = []
        for (index, partition) in partitions.enumerated() {
            let topicPartition = partition.topicPartition
            do throws(BrokerError) {
                let state = try await stateForProduce(topicPartition.topic)
                guard !state.stored.isInternal else {
                    throw BrokerError(
                        .invalidTopic,
                        "Producing to the internal topic \(topicPartition.topic) is not allowed"
                    )
                }
                if let refusal = Self.acksRefusal(options, minInsync: state.minInsyncReplicas) { throw refusal }
                guard let log = logManager.log(for: topicPartition) else {
                    throw BrokerError.unknownPartition(topicPartition)
                }
                let batches: [RecordBatch]
                do throws(RecordError) {
                    batches = try RecordBatch.split(partition.batches)
                } catch {
                    throw BrokerError(error)
                }
                guard !batches.isEmpty else {
                    throw BrokerError(.invalidRecord, "The produce request holds no record batch for \(topicPartition)")
                }
                requests.append((log, batches))
                requestIndexes.append(index)
                counts.append(
                    (batches.reduce(0) { $0 + Int($1.recordCount) }, partition.batches.readableBytes)
                )
            } catch {
                results[index] = PartitionProduceResult(topicPartition, .failure(error))
            }
        }
        // The log validates each batch (CRC, structure, limits, timestamps, compaction keys) and gives it offsets.
        for ((index, count), result) in zip(zip(requestIndexes, counts), await logManager.append(requests)) {
            let topicPartition = partitions[index].topicPartition
            switch result {
            case .success(let appended):
                BrokerMetrics.recordIn(topic: topicPartition.topic, messages: count.records, bytes: count.bytes)
                results[index] = PartitionProduceResult(
                    topicPartition,
                    .success(
                        AppendedBatches(
                            baseOffset: appended.firstOffset,
                            logAppendTime: appended.logAppendTime,
                            logStartOffset: appended.logStartOffset
                        )
                    )
                )
            case .failure(let error):
                results[index] = PartitionProduceResult(topicPartition, .failure(BrokerError(error)))
            }
        }
        return zip(partitions, results).map { partition, result in
            result
                ?? PartitionProduceResult(
                    partition.topicPartition,
                    .failure(BrokerError(.unknownServerError, "the partition's batches were not appended"))
                )
        }
    }

    /// acks=all on a topic whose `min.insync.replicas` one node cannot meet.
    private static func acksRefusal(_ options: ProduceOptions, minInsync: Int) -> BrokerError? {
        guard options.acks == .all && minInsync > 1 else { return nil }
        return BrokerError(
            .notEnoughReplicas,
            "The topic requires \(minInsync) in-sync replicas (min.insync.replicas) but a partition has 1 on this single-node cluster"
        )
    }

    /// What the log would refuse about this record alone, checked here so that it fails this record and not its whole
    /// batch: a negative timestamp, a timestamp outside `message.timestamp.before/after.max.ms`, a missing key on a
    /// compacted topic.
    static func recordProblem(timestamp: Int64, hasKey: Bool, now: Int64, config: LogConfig) -> BrokerError? {
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
        if !hasKey && config.cleanupPolicy.contains(.compact) {
            return BrokerError(.invalidRecord, "Compacted topic cannot accept message without key")
        }
        return nil
    }

    /// A partition's log and its batches, ready to append.
    private func prepare(
        _ topic: String,
        _ partition: Int32,
        _ builders: [RecordBatchBuilder]
    ) -> Result<(log: PartitionLog, batches: [RecordBatch]), BrokerError> {
        let topicPartition: TopicPartition
        var batches: [RecordBatch] = []
        batches.reserveCapacity(builders.count)
        do throws(RecordError) {
            topicPartition = try TopicPartition(topic: topic, partition: partition)
            for builder in builders { batches.append(try builder.build()) }
        } catch {
            return .failure(BrokerError(error))
        }
        guard let log = logManager.log(for: topicPartition) else {
            return .failure(
                BrokerError.unknownPartition(topicPartition)
            )
        }
        return .success((log, batches))
    }

    /// The topic to produce to, created with the defaults when `auto.create.topics.enable` is on.
    private func stateForProduce(_ topic: String) async throws(BrokerError) -> TopicState {
        if let state = topics.withLock({ $0[topic] }) { return state }
        guard configuration.config.autoCreateTopicsEnable else {
            throw BrokerError.unknownTopic(topic)
        }
        do {
            _ = try await createTopic(CreateTopicRequest(name: topic))
        } catch  where error.code == .topicAlreadyExists {
            // Created concurrently.
        }
        return try state(of: topic)
    }

    public func fetch(_ request: FetchRequest) async throws(BrokerError) -> [FetchedPartition] {
        let started = ContinuousClock.now
        let deadline = clock.nowMilliseconds() + max(0, request.maxWaitMs)
        var logs: [PartitionLog?] = []
        for partition in request.partitions {
            logs.append(logManager.log(for: partition.topicPartition))
        }
        while true {
            let results = await readOnce(request, logs: logs)
            let bytes = results.reduce(0) { $0 + $1.bytes }
            let now = clock.nowMilliseconds()
            // A cancelled caller gets what there is now instead of waiting (its waits would end at once, again
            // and again, until the deadline).
            if bytes >= max(1, request.minBytes) || results.contains(where: { $0.partition.error != nil })
                || now >= deadline || Task.isCancelled
            {
                BrokerMetrics.fetchDuration.record(duration: ContinuousClock.now - started)
                for result in results where result.bytes > 0 {
                    BrokerMetrics.recordOut(topic: result.partition.topicPartition.topic, bytes: result.bytes)
                }
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
        var remaining = min(request.maxBytes, configuration.config.fetchMaxBytes)
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
                            error: BrokerError.unknownPartition(topicPartition),
                            highWatermark: -1,
                            logStartOffset: -1,
                            fetchOffset: partition.offset,
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
                fetchOffset: partition.offset,
                nextOffset: partition.offset
            )
            // Nothing to read at the log end (the common case of a long poll), or no room left: no I/O.
            guard partition.offset != fetched.highWatermark, remaining > 0 || !returnedAny else {
                results.append((fetched, 0))
                continue
            }
            // The bytes about to be read are counted against the fetch memory first (waiting for room), and stay
            // counted with the records until the front end lets go of them.
            let lease: MemoryLease
            do throws(BrokerError) {
                lease = try await fetchMemory.reserve(
                    min(request.maxPartitionBytes, max(remaining, 0), configuration.config.fetchMaxBytes),
                    waitingAtMost: configuration.fetchMemoryWait
                )
            } catch {
                fetched.error = error
                results.append((fetched, 0))
                continue
            }
            fetched.memory = lease
            do {
                let read = try await log.read(
                    from: partition.offset,
                    maxBytes: max(lease.bytes, 0),
                    minOneBatch: !returnedAny
                )
                lease.resize(to: read.records.readableBytes)
                fetched.highWatermark = read.logEndOffset
                fetched.logStartOffset = read.logStartOffset
                let bytes = read.records.readableBytes
                if bytes > 0 {
                    // Served as stored; the log checked every batch. The front end decodes them when it renders.
                    fetched.batches = read.records
                    if let next = RecordBatch.nextOffset(afterBatchesIn: read.records) {
                        fetched.nextOffset = max(fetched.nextOffset, next)
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
