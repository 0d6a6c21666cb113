import Dispatch
import Logging
public import NIOCore
public import RunnelRecords
import Synchronization

/// What an append assigned.
public struct AppendResult: Sendable, Hashable {
    /// The offset of the first record appended.
    public var firstOffset: Int64
    /// The offset of the last record appended.
    public var lastOffset: Int64
    /// The broker time stamped on the records for `LogAppendTime` logs; -1 for `CreateTime`.
    public var logAppendTime: Int64
    /// The log start offset after the append.
    public var logStartOffset: Int64
}

/// What a read returned.
public struct LogReadResult: Sendable {
    /// Zero or more complete record batches, the first of which holds the requested offset. The first batch may start
    /// before the requested offset (a reader skips records below it, as Kafka consumers do).
    public var records: ByteBuffer
    public var logStartOffset: Int64
    /// The log end offset (the high watermark on a single node) when the read started.
    public var logEndOffset: Int64
}

/// A partition's log: a directory `<topic>-<partition>/` of segments in Kafka's on-disk format.
///
/// Appends are validated on the caller's task, then handed to a single writer that runs on the engine's I/O threads.
/// The writer drains every append queued while it was busy, writes them, and — when `flush.messages` asks for it —
/// fsyncs once for the whole group before acknowledging any of them (group commit). Readers see only what the writer
/// has published: complete batches, made durable first when the flush policy requires durability before
/// acknowledgement.
public final class PartitionLog: Sendable {
    public let topicPartition: TopicPartition
    /// The log's directory.
    public let directory: String

    let io: LogIO
    let state: Mutex<State>
    /// Serialises retention, compaction and deletion of this log. Only ever taken on I/O threads.
    let maintenance = Mutex(())
    /// Signalled when the appenders the writer waits for have queued their appends.
    private let appendersReturned = DispatchSemaphore(value: 0)

    typealias AppendContinuation = CheckedContinuation<Result<AppendResult, LogError>, Never>

    /// Who waits for an append: its own caller, or a multi-log append collecting every log's result.
    enum AppendCompletion {
        case single(AppendContinuation)
        case member(AppendGroup, Int)

        func resume(returning result: Result<AppendResult, LogError>) {
            switch self {
            case .single(let continuation): continuation.resume(returning: result)
            case .member(let group, let index): group.complete(index, result)
            }
        }
    }
    typealias VoidContinuation = CheckedContinuation<Result<Void, LogError>, Never>

    enum Operation {
        case append([RecordBatch], AppendCompletion)
        /// Roll to a new segment if the active one is not empty.
        case roll(VoidContinuation)
        /// Completes once every operation queued before it has.
        case barrier(VoidContinuation)
    }

    struct Waiter {
        let offset: Int64
        let continuation: CheckedContinuation<Void, Never>
    }

    struct State {
        var config: LogConfig
        /// Ordered by base offset; the last one is the active segment.
        var segments: [LogSegment]
        var logStartOffset: Int64
        /// The log end offset readers see.
        var logEndOffset: Int64
        /// Where the readable bytes end: the segment with this base offset, up to this position.
        var visibleSegmentBase: Int64
        var visiblePosition: Int
        /// The offset after the last batch written to the file (ahead of `logEndOffset` while a group commits).
        var writtenOffset: Int64
        /// Data below this offset has been fsynced.
        var flushedOffset: Int64
        /// Data and index entries below this offset are durable: recovery after a crash starts here.
        var recoveryPoint: Int64
        var unflushedMessages: Int64 = 0
        var lastFlushMs: Int64
        var queue: [Operation] = []
        var writerRunning = false
        var closed = false
        /// Set when an fsync failed: what was written can no longer be trusted to be durable, so appends stop until
        /// the log is reopened (and recovered).
        var failure: LogError?
        var leaderEpochs: LeaderEpochCache
        /// The first offset not yet compacted (Kafka's cleaner checkpoint); `nil` until the first cleaning.
        var cleanerCheckpoint: Int64?
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
        /// fsyncs the writer issued for acknowledgements (one per group of appends).
        var groupCommits = 0
        /// A running average of how long a group commit's fsync takes.
        var syncDurationEstimate: Duration = .microseconds(500)
        /// Set while the writer waits for this many queued operations (see `waitForReleasedAppenders`).
        var awaitedQueueLength: Int?
    }

    init(topicPartition: TopicPartition, directory: String, io: LogIO, state: State) {
        self.topicPartition = topicPartition
        self.directory = directory
        self.io = io
        self.state = Mutex(state)
    }

    // MARK: - Properties

    public var config: LogConfig { state.withLock { $0.config } }
    public var logStartOffset: Int64 { state.withLock { $0.logStartOffset } }
    /// The offset the next record will get; readers can read everything below it.
    public var logEndOffset: Int64 { state.withLock { $0.logEndOffset } }
    /// Offsets below this are durable on disk and will not be re-validated after a crash.
    public var recoveryPoint: Int64 { state.withLock { $0.recoveryPoint } }
    public var segmentCount: Int { state.withLock { $0.segments.count } }
    /// The size of all segment files.
    public var sizeInBytes: Int {
        state.withLock { $0.segments }.reduce(0) { $0 + $1.size }
    }
    /// The base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { state.withLock { $0.segments.map(\.baseOffset) } }

    /// The damaged ranges set aside in this log's segments, in order.
    public var damagedRanges: [SegmentDamage] {
        state.withLock { $0.segments }.flatMap { segment in
            segment.damaged.map { SegmentDamage(segment: segment.baseOffset, range: $0) }
        }
    }
    var cleanerCheckpoint: Int64? { state.withLock { $0.cleanerCheckpoint } }
    /// How many group commits (one fsync for all appends queued together) the writer has done.
    public var groupCommits: Int { state.withLock { $0.groupCommits } }

    /// Applies new topic-level settings; appends, rolls, flushes, retention and compaction use them from now on.
    public func updateConfig(_ config: LogConfig) {
        state.withLock { $0.config = config }
    }

    // MARK: - Appending

    /// Appends one batch (see the variant taking several).
    public func append(_ batch: RecordBatch) async throws(LogError) -> AppendResult {
        try await append([batch])
    }

    /// Appends record batches, assigning them consecutive offsets.
    ///
    /// The batches are validated first (CRC, size against `max.message.bytes`, record structure, keys on compacted
    /// logs, timestamps) and converted per `compression.type` and `message.timestamp.type`. Returns once the batches
    /// are readable — and durable, when `flush.messages` is reached (with `flush.messages=1`, on every append).
    public func append(_ batches: [RecordBatch]) async throws(LogError) -> AppendResult {
        let config = state.withLock { $0.config }
        let validated = try LogValidator.validate(batches, config: config, nowMs: io.clock.nowMilliseconds())
        let result = await withCheckedContinuation { (continuation: AppendContinuation) in
            enqueue(.append(validated, .single(continuation)))
        }
        return try result.get()
    }

    /// Appends batches to several logs of one manager with one hand-off to the I/O threads and one wake-up of the
    /// caller, instead of one of each per log: a produce request that spans partitions costs one thread switch.
    ///
    /// Each log's batches are validated and appended as ``append(_:)-([RecordBatch])`` does; the results come back
    /// in the order of `requests`. Logs whose flush policy fsyncs every append are written on separate I/O threads,
    /// so their fsyncs overlap; the others are written one after another by one thread.
    static func append(
        _ requests: [(log: PartitionLog, batches: [RecordBatch])],
        io: LogIO,
        checkRecords: Bool = true
    ) async -> [Result<AppendResult, LogError>] {
        guard !requests.isEmpty else { return [] }
        let now = io.clock.nowMilliseconds()
        var validated: [Result<[RecordBatch], LogError>] = []
        validated.reserveCapacity(requests.count)
        for (log, batches) in requests {
            let config = log.state.withLock { $0.config }
            validated.append(
                Result { () throws(LogError) in
                    try LogValidator.validate(batches, config: config, nowMs: now, checkRecords: checkRecords)
                }
            )
        }
        return await withCheckedContinuation {
            (continuation: CheckedContinuation<[Result<AppendResult, LogError>], Never>) in
            let group = AppendGroup(count: requests.count, continuation: continuation)
            var idle: [PartitionLog] = []
            for (index, request) in requests.enumerated() {
                switch validated[index] {
                case .failure(let error):
                    group.complete(index, .failure(error))
                case .success(let batches):
                    let operation = Operation.append(batches, .member(group, index))
                    if request.log.queue(operation) { idle.append(request.log) }
                }
            }
            var shared: [PartitionLog] = []
            for log in idle {
                if log.state.withLock({ $0.config.flushMessages }) <= 1 {
                    io.submit { isActive in log.runWriter(poolActive: isActive) }
                } else {
                    shared.append(log)
                }
            }
            if !shared.isEmpty {
                let logs = shared
                io.submit { isActive in
                    for log in logs { log.runWriter(poolActive: isActive) }
                }
            }
        }
    }

    /// Rolls the active segment if it holds any data (as Kafka does before deleting an expired active segment).
    public func roll() async throws(LogError) {
        let result = await withCheckedContinuation { (continuation: VoidContinuation) in
            enqueue(.roll(continuation))
        }
        try result.get()
    }

    private func enqueue(_ operation: Operation) {
        if queue(operation) {
            io.submit { isActive in self.runWriter(poolActive: isActive) }
        }
    }

    /// Queues an operation. Returns true when the log's writer was idle: the caller must then run it (on an I/O
    /// thread), either alone or with other logs' writers.
    func queue(_ operation: Operation) -> Bool {
        enum Action {
            case startWriter
            case queued
            case queuedAndSignal
            case rejected(LogError)
        }
        let action = state.withLock { state -> Action in
            if case .barrier = operation {
                // Barriers are accepted after close: closing waits on one.
            } else if state.closed {
                return .rejected(LogError(.logClosed, "log \(topicPartition) is closed"))
            } else if let failure = state.failure {
                return .rejected(failure)
            }
            state.queue.append(operation)
            if let target = state.awaitedQueueLength, state.queue.count >= target {
                state.awaitedQueueLength = nil
                return .queuedAndSignal
            }
            if state.writerRunning { return .queued }
            state.writerRunning = true
            return .startWriter
        }
        switch action {
        case .startWriter:
            return true
        case .queued:
            return false
        case .queuedAndSignal:
            appendersReturned.signal()
            return false
        case .rejected(let error):
            operation.complete(with: error)
            return false
        }
    }

    /// The writer: drains the queue in groups until it is empty. Runs on an I/O thread, one at a time per log.
    func runWriter(poolActive: Bool) {
        var released = 0
        // Groups to commit without waiting, after a wait that did not pay off.
        var skipWaits = 0
        while true {
            if released > 1 && skipWaits == 0 {
                if !waitForReleasedAppenders(released) { skipWaits = 8 }
            } else if skipWaits > 0 {
                skipWaits -= 1
            }
            let work = state.withLock { state -> ([Operation], LogConfig, Int64, Int32)? in
                guard !state.queue.isEmpty else {
                    state.writerRunning = false
                    return nil
                }
                let operations = state.queue
                state.queue = []
                return (operations, state.config, state.writtenOffset, state.leaderEpochs.latestEpoch)
            }
            guard let (operations, config, startOffset, epoch) = work else { return }
            guard poolActive else {
                for operation in operations {
                    operation.complete(with: LogError(.logClosed, "the log engine has shut down"))
                }
                continue
            }
            released = writeGroup(operations, config: config, startOffset: startOffset, epoch: epoch)
        }
    }

    /// After a group commit released `count` appenders, waits until they have queued their next appends or half an
    /// fsync has passed, whichever comes first.
    ///
    /// Without it, appenders released together come back one by one: the first starts the next fsync alone and the
    /// rest wait for the one after, so N concurrent appenders settle into two cohorts of N/2 per fsync. Waiting a
    /// fraction of an fsync lets one fsync acknowledge all of them (the idea of PostgreSQL's `commit_delay`, bounded
    /// by the measured fsync time instead of a setting). Returns false if they did not all come back in time, so
    /// appenders that pause between appends (network clients) do not make every group wait.
    private func waitForReleasedAppenders(_ count: Int) -> Bool {
        let limit = state.withLock { state -> Duration? in
            guard state.queue.count < count, !state.closed else { return nil }
            state.awaitedQueueLength = count
            return min(state.syncDurationEstimate / 2, .milliseconds(2))
        }
        guard let limit, limit > .zero else { return true }
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        let result = appendersReturned.wait(timeout: .now() + .nanoseconds(Int(nanoseconds)))
        state.withLock { $0.awaitedQueueLength = nil }
        return result == .success
    }

    /// Writes a group of operations: batches go to the active segment in one gathered write per segment (rolling
    /// as needed), then one fsync for the group if the flush policy asks for it, then the results are published.
    /// Returns how many appends a group commit acknowledged (0 when nothing was fsynced).
    private func writeGroup(_ operations: [Operation], config: LogConfig, startOffset: Int64, epoch: Int32) -> Int {
        let now = io.clock.nowMilliseconds()
        var nextOffset = startOffset
        var results = [Result<AppendResult?, LogError>](repeating: .success(nil), count: operations.count)
        var touched: [LogSegment] = []
        var rolled: [Int64] = []
        // Batches not yet written to the active segment, and the operations they belong to.
        var pending: [LogSegment.OutgoingBatch] = []
        var pendingBytes = 0
        var pendingOwners: [Int] = []
        var writtenOffset = startOffset
        var current = 0

        func writePending(to segment: LogSegment) throws(LogError) {
            guard !pending.isEmpty else { return }
            try segment.append(pending)
            if !touched.contains(where: { $0 === segment }) { touched.append(segment) }
            pending.removeAll(keepingCapacity: true)
            pendingOwners.removeAll(keepingCapacity: true)
            pendingBytes = 0
            writtenOffset = nextOffset
        }

        do {
            var active = try activeSegment()
            for (index, operation) in operations.enumerated() {
                current = index
                switch operation {
                case .append(let batches, _):
                    let firstOffset = nextOffset
                    // As in Kafka, an append never spans segments: the roll is decided once, for all its batches,
                    // so a failed roll leaves none of them written.
                    let whole = LogSegment.OutgoingBatch(
                        pieces: [],
                        size: batches.reduce(0) { $0 + $1.sizeInBytes },
                        lastOffset: nextOffset + batches.reduce(Int64(0)) { $0 + Int64($1.lastOffsetDelta) + 1 } - 1,
                        maxTimestamp: batches.map(\.maxTimestamp).max() ?? -1
                    )
                    if shouldRoll(
                        active,
                        pending: pendingBytes,
                        pendingBatches: pending.count + batches.count - 1,
                        adding: whole,
                        config: config,
                        nowMs: now
                    ) {
                        try writePending(to: active)
                        active = try rollSegment(at: nextOffset, config: config, nowMs: now)
                        rolled.append(active.baseOffset)
                    }
                    for batch in batches {
                        // The offset and epoch are set in a copy of the header only: the batch is not copied.
                        let (prefix, rest) = batch.parts(baseOffset: nextOffset, partitionLeaderEpoch: epoch)
                        let outgoing = LogSegment.OutgoingBatch(
                            pieces: [prefix, rest],
                            size: batch.sizeInBytes,
                            lastOffset: nextOffset + Int64(batch.lastOffsetDelta),
                            maxTimestamp: batch.maxTimestamp
                        )
                        pending.append(outgoing)
                        pendingOwners.append(index)
                        pendingBytes += outgoing.size
                        nextOffset = outgoing.lastOffset + 1
                    }
                    let logAppendTime =
                        config.messageTimestampType == .logAppendTime ? batches.last?.maxTimestamp ?? -1 : -1
                    results[index] = .success(
                        AppendResult(
                            firstOffset: firstOffset,
                            lastOffset: nextOffset - 1,
                            logAppendTime: logAppendTime,
                            logStartOffset: 0
                        )
                    )
                case .roll:
                    try writePending(to: active)
                    if active.size > 0 {
                        active = try rollSegment(at: nextOffset, config: config, nowMs: now)
                        rolled.append(active.baseOffset)
                    }
                case .barrier:
                    break
                }
            }
            try writePending(to: active)
        } catch {
            // Operations whose batches were not all written fail; what was written before them stays.
            let firstFailed = pendingOwners.first.map { min($0, current) } ?? current
            for index in firstFailed..<operations.count { results[index] = .failure(error) }
            nextOffset = writtenOffset
            io.logger.error("Append failed", metadata: ["topicPartition": "\(topicPartition)", "error": "\(error)"])
        }

        var appendedMessages: Int64 = 0
        var appends = 0
        for (operation, result) in zip(operations, results) {
            if case .append(let batches, _) = operation, case .success = result {
                appendedMessages += batches.reduce(0) { $0 + Int64($1.recordCount) }
                appends += 1
            }
        }

        // Group commit: one fsync per touched segment acknowledges every append of the group.
        let unflushed = state.withLock { state -> Int64 in
            state.writtenOffset = nextOffset
            state.unflushedMessages += appendedMessages
            return state.unflushedMessages
        }
        var syncFailure: LogError?
        let mustSync = appendedMessages > 0 && unflushed >= config.flushMessages
        if mustSync {
            let started = ContinuousClock.now
            do {
                for segment in touched { try segment.syncLog() }
            } catch {
                syncFailure = error
                io.logger.critical(
                    "fsync failed; the log refuses appends until it is reopened",
                    metadata: ["topicPartition": "\(topicPartition)", "error": "\(error)"]
                )
            }
            let elapsed = ContinuousClock.now - started
            state.withLock { $0.syncDurationEstimate = ($0.syncDurationEstimate * 7 + elapsed) / 8 }
        }

        let (woken, logStartOffset) = publish(
            nextOffset: nextOffset,
            synced: mustSync && syncFailure == nil,
            failure: syncFailure
        )
        for waiter in woken { waiter.continuation.resume() }
        for (operation, result) in zip(operations, results) {
            switch (operation, result) {
            case (.append(_, let completion), .success(let appended)):
                if let syncFailure {
                    completion.resume(returning: .failure(syncFailure))
                } else if var appended {
                    appended.logStartOffset = logStartOffset
                    completion.resume(returning: .success(appended))
                }
            case (.append(_, let completion), .failure(let error)):
                completion.resume(returning: .failure(error))
            case (.roll(let continuation), .success), (.barrier(let continuation), .success):
                continuation.resume(returning: .success(()))
            case (.roll(let continuation), .failure(let error)), (.barrier(let continuation), .failure(let error)):
                continuation.resume(returning: .failure(error))
            }
        }
        for base in rolled { scheduleFlush(upTo: base) }
        return mustSync && syncFailure == nil ? appends : 0
    }

    /// Makes the written data readable and wakes the readers waiting for it.
    private func publish(nextOffset: Int64, synced: Bool, failure: LogError?) -> ([Waiter], Int64) {
        state.withLock { state -> ([Waiter], Int64) in
            if let active = state.segments.last {
                state.visibleSegmentBase = active.baseOffset
                state.visiblePosition = active.size
            }
            if nextOffset > state.logEndOffset {
                state.leaderEpochs.assign(epoch: state.leaderEpochs.latestEpoch, startOffset: state.logEndOffset)
            }
            state.logEndOffset = nextOffset
            if synced {
                state.flushedOffset = nextOffset
                state.unflushedMessages = 0
                state.groupCommits += 1
            }
            if let failure { state.failure = failure }
            var woken: [Waiter] = []
            if !state.waiters.isEmpty {
                for (id, waiter) in state.waiters where waiter.offset < nextOffset {
                    woken.append(waiter)
                    state.waiters.removeValue(forKey: id)
                }
            }
            return (woken, state.logStartOffset)
        }
    }

    private func activeSegment() throws(LogError) -> LogSegment {
        guard let active = state.withLock({ $0.segments.last }) else {
            throw LogError(.storage, "log \(topicPartition) has no active segment")
        }
        return active
    }

    /// Kafka's roll rules: the segment would outgrow `segment.bytes`; its first record is older than `segment.ms`
    /// (minus jitter) by record time; an index is full; or the offset no longer fits the index's 32-bit delta.
    private func shouldRoll(
        _ segment: LogSegment,
        pending: Int,
        pendingBatches: Int,
        adding batch: LogSegment.OutgoingBatch,
        config: LogConfig,
        nowMs: Int64
    ) -> Bool {
        var info = segment.rollInfo
        // Batches of this group not yet written count as if they were (an upper bound for the index entries).
        info.size += pending
        info.offsetEntries += pendingBatches
        info.timeEntries += pendingBatches
        guard info.size > 0 else { return false }
        if info.size > config.segmentBytes - batch.size { return true }
        let age: Int64
        if let first = info.rollingBasedTimestamp, first >= 0 {
            age = batch.maxTimestamp - first
        } else {
            age = nowMs - info.createdMs
        }
        if age > config.segmentMs - config.segmentJitterMs { return true }
        if info.offsetEntries >= config.segmentIndexBytes / OffsetIndexEntry.size { return true }
        if info.timeEntries >= config.segmentIndexBytes / TimeIndexEntry.size - 1 { return true }
        if batch.lastOffset - segment.baseOffset > Int64(Int32.max) { return true }
        return false
    }

    /// Tells each segment where the next one starts (the last: nowhere).
    static func assignUpperBounds(_ segments: [LogSegment]) {
        for (index, segment) in segments.enumerated() {
            segment.setUpperBound(index + 1 < segments.count ? segments[index + 1].baseOffset : Int64.max)
        }
    }

    /// Seals the active segment and starts a new one at `baseOffset` (writer only).
    private func rollSegment(at baseOffset: Int64, config: LogConfig, nowMs: Int64) throws(LogError) -> LogSegment {
        let old = try activeSegment()
        try old.seal()
        old.setUpperBound(baseOffset)
        let segment = try LogSegment.create(
            directory: directory,
            baseOffset: baseOffset,
            cache: io.handles,
            indexIntervalBytes: config.indexIntervalBytes,
            nowMs: nowMs
        )
        // The new files must survive a power failure as well as the data written into them.
        try FileSystem.syncDirectory(directory)
        state.withLock { $0.segments.append(segment) }
        io.logger.debug(
            "Rolled new log segment",
            metadata: ["topicPartition": "\(topicPartition)", "baseOffset": "\(baseOffset)"]
        )
        return segment
    }

    /// Flushes the sealed segments below `offset` in the background and advances the recovery point to it.
    private func scheduleFlush(upTo offset: Int64) {
        io.submit { isActive in
            guard isActive else { return }
            do {
                try self.flushBlocking(sealedBelow: offset)
            } catch {
                self.io.logger.error(
                    "Flushing rolled segments failed",
                    metadata: ["topicPartition": "\(self.topicPartition)", "error": "\(error)"]
                )
            }
        }
    }

    // MARK: - Flushing

    /// Whether `flush.ms` has passed since the last flush with data still unflushed.
    func needsTimedFlush(nowMs: Int64) -> Bool {
        state.withLock { state in
            state.writtenOffset > state.flushedOffset && state.config.flushMs != .max
                && nowMs - state.lastFlushMs >= state.config.flushMs
        }
    }

    /// Makes everything written so far durable, including index entries, and advances the recovery point.
    public func flush() async throws(LogError) {
        try await io.run { () throws(LogError) in try self.flushBlocking() }
    }

    /// Makes segments durable (log data and index files) and advances the recovery point: every segment, up to what
    /// has been written; or, after a roll, only the sealed segments below `offset`, leaving the active segment to the
    /// flush policy.
    ///
    /// It runs without the maintenance lock, so compaction never delays durability; a segment retired meanwhile
    /// (compacted or deleted) is skipped: its replacement was made durable before it was swapped in.
    func flushBlocking(sealedBelow offset: Int64? = nil) throws(LogError) {
        let (segments, written) = state.withLock { ($0.segments, $0.writtenOffset) }
        let target = offset ?? written
        for segment in segments where offset == nil || (segment.baseOffset < target && !segment.isActive) {
            try segment.flushIfNeeded()
        }
        let now = io.clock.nowMilliseconds()
        state.withLock { state in
            state.flushedOffset = max(state.flushedOffset, target)
            state.recoveryPoint = max(state.recoveryPoint, target)
            guard offset == nil else { return }
            if state.writtenOffset == written { state.unflushedMessages = 0 }
            state.lastFlushMs = now
        }
    }

    // MARK: - Closing

    /// Stops accepting appends, waits for queued ones, and makes everything durable with complete index files.
    func close() async throws(LogError) {
        state.withLock { $0.closed = true }
        let drained = await withCheckedContinuation { (continuation: VoidContinuation) in
            enqueue(.barrier(continuation))
        }
        try drained.get()
        let waiters = state.withLock { state -> [Waiter] in
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume() }
        // A log whose fsync failed is not flushed again: the error makes the shutdown unclean, so the next start
        // re-validates what was written.
        if let failure = state.withLock({ $0.failure }) { throw failure }
        try await io.run { () throws(LogError) in
            try self.flushBlocking()
            try self.activeSegment().prepareForClose()
            try self.activeSegment().flushIfNeeded()
        }
    }

    /// Stops accepting appends and waits for queued ones, without flushing (before the log is deleted).
    func stop() async {
        state.withLock { $0.closed = true }
        _ = await withCheckedContinuation { (continuation: VoidContinuation) in
            enqueue(.barrier(continuation))
        }
        let waiters = state.withLock { state -> [Waiter] in
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Drops the log's pages from the page cache (so a benchmark can read from disk).
    public func dropCachedPages() async throws(LogError) {
        try await io.run { () throws(LogError) in
            for segment in self.state.withLock({ $0.segments }) { try segment.dropCachedPages() }
        }
    }
}

extension PartitionLog.Operation {
    func complete(with error: LogError) {
        switch self {
        case .append(_, let completion): completion.resume(returning: .failure(error))
        case .roll(let continuation), .barrier(let continuation): continuation.resume(returning: .failure(error))
        }
    }
}
