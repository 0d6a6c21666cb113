import Logging
import NIOCore
import RunnelRecords
import Synchronization

/// Compaction for logs whose `cleanup.policy` includes `compact`: keeps the latest record of every key.
///
/// Kafka's algorithm: the dirty part of the log (from the cleaner checkpoint to the active segment, or to the first
/// segment younger than `min.compaction.lag.ms`) is scanned into a map of key → latest offset; then every
/// non-active segment up to the end of that range is copied without superseded records, in groups that fit
/// `segment.bytes`, into `.cleaned` files that replace the originals through `.swap` renames a crash can complete.
/// Offsets never change: batches keep their base offset and last offset delta, records their offset delta.
/// Tombstones get a delete horizon (`delete.retention.ms`) the first time their batch is copied and disappear in the
/// first cleaning after it. Unlike Kafka, the map holds the keys themselves rather than their MD5 hashes, so a hash
/// collision can never remove a live record; its memory is bounded by `dedupeBufferBytes` all the same.
struct LogCleaner: Sendable {
    /// Memory the key map may use; a dirty range with more distinct keys is cleaned over several rounds.
    var dedupeBufferBytes: Int
    /// Approximate memory of one map entry besides the key bytes.
    static let entryOverhead = 64

    /// How dirty a log is.
    struct Dirtiness: Sendable {
        var firstDirtyOffset: Int64
        var firstUncleanableOffset: Int64
        var cleanBytes: Int
        var cleanableBytes: Int
        var ratio: Double {
            cleanBytes + cleanableBytes == 0 ? 0 : Double(cleanableBytes) / Double(cleanBytes + cleanableBytes)
        }
        var compactionOverdue: Bool
    }

    /// What one cleaning did.
    struct Result: Sendable {
        var startOffset: Int64
        var endOffset: Int64
        var segmentsBefore: Int
        var segmentsAfter: Int
        var bytesBefore: Int
        var bytesAfter: Int
        var recordsRemoved: Int
    }

    /// How dirty `log` is, or `nil` when it is not compacted or has nothing cleanable.
    func dirtiness(of log: PartitionLog, nowMs: Int64) throws(LogError) -> Dirtiness? {
        let (segments, config, logStart, checkpoint) = log.state.withLock {
            ($0.segments, $0.config, $0.logStartOffset, $0.cleanerCheckpoint)
        }
        guard config.cleanupPolicy.contains(.compact), segments.count > 1 else { return nil }
        let firstDirty = max(checkpoint ?? logStart, logStart)
        var firstUncleanable = segments[segments.count - 1].baseOffset
        if config.minCompactionLagMs > 0 {
            // Records younger than min.compaction.lag.ms stay as written: stop before the first segment holding one.
            for (index, segment) in segments.dropLast().enumerated() where segments[index + 1].baseOffset > firstDirty {
                if try segment.largestTimestampForRetention() > nowMs - config.minCompactionLagMs {
                    firstUncleanable = min(firstUncleanable, segment.baseOffset)
                    break
                }
            }
        }
        var clean = 0
        var cleanable = 0
        var overdue = false
        for (index, segment) in segments.dropLast().enumerated() {
            let next = segments[index + 1].baseOffset
            if next <= firstDirty {
                clean += segment.size
            } else if segment.baseOffset < firstUncleanable {
                cleanable += segment.size
                if config.maxCompactionLagMs != .max,
                    nowMs - (try segment.largestTimestampForRetention()) > config.maxCompactionLagMs
                {
                    overdue = true
                }
            }
        }
        guard cleanable > 0, firstDirty < firstUncleanable else { return nil }
        return Dirtiness(
            firstDirtyOffset: firstDirty,
            firstUncleanableOffset: firstUncleanable,
            cleanBytes: clean,
            cleanableBytes: cleanable,
            compactionOverdue: overdue
        )
    }

    /// Whether `log` should be cleaned now: dirty ratio above `min.cleanable.dirty.ratio`, or compaction overdue.
    func isCleanable(_ dirtiness: Dirtiness, config: LogConfig) -> Bool {
        dirtiness.ratio > config.minCleanableDirtyRatio || dirtiness.compactionOverdue
    }

    /// Cleans `log` once if it needs it. Blocking: run on an I/O thread.
    func cleanIfNeeded(_ log: PartitionLog, nowMs: Int64, force: Bool = false) throws(LogError) -> Result? {
        try log.maintenance.withLock { _ throws(LogError) -> Result? in
            guard let dirtiness = try dirtiness(of: log, nowMs: nowMs) else { return nil }
            guard force || isCleanable(dirtiness, config: log.config) else { return nil }
            return try clean(log, dirtiness: dirtiness, nowMs: nowMs)
        }
    }

    private func clean(_ log: PartitionLog, dirtiness: Dirtiness, nowMs: Int64) throws(LogError) -> Result {
        let (segments, config) = log.state.withLock { ($0.segments, $0.config) }
        let cleanable = segments.dropLast().filter { $0.baseOffset < dirtiness.firstUncleanableOffset }

        // 1. The latest offset of every key in the dirty range, up to the map's memory budget.
        var map: [[UInt8]: Int64] = [:]
        var mapBytes = 0
        var endOffset = dirtiness.firstDirtyOffset
        buildMap: for (index, segment) in cleanable.enumerated() {
            let segmentEnd = index + 1 < segments.count ? segments[index + 1].baseOffset : Int64.max
            guard segmentEnd > dirtiness.firstDirtyOffset else { continue }
            var full = false
            try forEachBatch(in: segment) { batch throws(LogError) in
                guard !full, batch.lastOffset >= dirtiness.firstDirtyOffset else { return }
                let records = try recordFormat { () throws(RecordError) in try batch.records() }
                var added: [([UInt8], Int64)] = []
                var addedBytes = 0
                for record in records where record.offset >= dirtiness.firstDirtyOffset {
                    guard let key = record.key else { continue }
                    let bytes = Array(key.readableBytesView)
                    if map[bytes] == nil { addedBytes += bytes.count + LogCleaner.entryOverhead }
                    added.append((bytes, record.offset))
                }
                if mapBytes + addedBytes > dedupeBufferBytes && endOffset > dirtiness.firstDirtyOffset {
                    full = true
                    return
                }
                for (key, offset) in added { map[key] = offset }
                mapBytes += addedBytes
                endOffset = batch.nextOffset
            }
            if full { break buildMap }
            endOffset = max(endOffset, min(segmentEnd, dirtiness.firstUncleanableOffset))
        }
        guard endOffset > dirtiness.firstDirtyOffset else {
            throw LogError(
                .storage,
                "the cleaner's key map (\(dedupeBufferBytes) bytes) cannot hold the keys of one batch of \(log.topicPartition)"
            )
        }

        // 2. Rewrite every non-active segment below the end of the mapped range, in groups.
        let toClean = segments.dropLast().filter { $0.baseOffset < endOffset }
        let groups = group(Array(toClean), config: config)
        var removed = 0
        var bytesAfter = 0
        let bytesBefore = toClean.reduce(0) { $0 + $1.size }
        for group in groups {
            let (segment, removedInGroup) = try rewrite(
                group,
                of: log,
                map: map,
                endOffset: endOffset,
                config: config,
                nowMs: nowMs
            )
            removed += removedInGroup
            bytesAfter += segment.size
        }
        log.state.withLock { state in
            state.cleanerCheckpoint = max(state.cleanerCheckpoint ?? 0, endOffset)
        }
        let result = Result(
            startOffset: dirtiness.firstDirtyOffset,
            endOffset: endOffset,
            segmentsBefore: toClean.count,
            segmentsAfter: groups.count,
            bytesBefore: bytesBefore,
            bytesAfter: bytesAfter,
            recordsRemoved: removed
        )
        log.io.logger.info(
            "Compacted log",
            metadata: [
                "topicPartition": "\(log.topicPartition)", "dirtyRange": "\(result.startOffset)..<\(result.endOffset)",
                "segments": "\(result.segmentsBefore) -> \(result.segmentsAfter)",
                "bytes": "\(result.bytesBefore) -> \(result.bytesAfter)", "recordsRemoved": "\(result.recordsRemoved)",
            ]
        )
        return result
    }

    /// Consecutive segments merged while the result stays within `segment.bytes`, the index size limit and a
    /// 32-bit offset range (Kafka's `groupSegmentsBySize`).
    private func group(_ segments: [LogSegment], config: LogConfig) -> [[LogSegment]] {
        var groups: [[LogSegment]] = []
        var current: [LogSegment] = []
        var size = 0
        for segment in segments {
            let fits =
                !current.isEmpty && size + segment.size <= config.segmentBytes
                && (size + segment.size) / max(1, config.indexIntervalBytes) * OffsetIndexEntry.size
                    <= config.segmentIndexBytes
                && segment.baseOffset - current[0].baseOffset < Int64(Int32.max) / 2
            if !fits && !current.isEmpty {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(segment)
            size += segment.size
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    private func forEachBatch(in segment: LogSegment, _ body: (RecordBatch) throws(LogError) -> Void) throws(LogError) {
        let handle = try FileHandle(path: segment.logPath, mode: .readOnly)
        let damaged = segment.damaged
        var scanner = BatchScanner(handle: handle, end: segment.size)
        while true {
            // What is set aside stays out of the compacted segment (it was unreadable already).
            if let range = damaged.first(where: { $0.position <= scanner.position && scanner.position < $0.end }) {
                scanner = BatchScanner(handle: handle, from: range.end, end: segment.size)
                continue
            }
            switch try scanner.next(verifyChecksum: true) {
            case .batch(let scanned):
                try body(try scanner.batch(scanned))
            case .end:
                return
            case .partial(let position, let reason), .corrupt(let position, let reason):
                throw LogError(
                    .corruptRecord,
                    "\(segment.partitionName) segment \(segment.baseOffset) at position \(position): \(reason); not compacting it"
                )
            }
        }
    }

    /// Copies the retained records of `group` into one new segment and swaps it in.
    private func rewrite(
        _ group: [LogSegment],
        of log: PartitionLog,
        map: [[UInt8]: Int64],
        endOffset: Int64,
        config: LogConfig,
        nowMs: Int64
    ) throws(LogError) -> (LogSegment, Int) {
        var writer = try CleanedSegmentWriter(
            directory: log.directory,
            baseOffset: group[0].baseOffset,
            indexIntervalBytes: config.indexIntervalBytes
        )
        var removed = 0
        var droppedLast: RecordBatch?
        for segment in group {
            try forEachBatch(in: segment) { batch throws(LogError) in
                let (filtered, dropped) = try filter(
                    batch,
                    map: map,
                    endOffset: endOffset,
                    config: config,
                    nowMs: nowMs
                )
                removed += dropped
                if let filtered {
                    try writer.write(filtered)
                    droppedLast = nil
                } else {
                    droppedLast = batch
                }
            }
        }
        if let droppedLast {
            // Keep the group's last batch, emptied, so the segment still ends at the same offset.
            try writer.write(try emptied(droppedLast))
        }
        let (size, info) = try writer.finishAsSwap()
        let segment = try log.replaceSegments(group, withSwapOf: group[0].baseOffset, size: size, info: info)
        return (segment, removed)
    }

    /// The batch without superseded records and expired tombstones; `nil` when nothing is left.
    private func filter(
        _ batch: RecordBatch,
        map: [[UInt8]: Int64],
        endOffset: Int64,
        config: LogConfig,
        nowMs: Int64
    ) throws(LogError) -> (RecordBatch?, Int) {
        let header = batch.header
        let records = try recordFormat { () throws(RecordError) in try batch.records() }
        let horizonPassed = header.hasDeleteHorizon && nowMs >= header.baseTimestamp
        var kept: [Record] = []
        kept.reserveCapacity(records.count)
        var hasTombstones = false
        for record in records {
            if record.offset >= endOffset {
                kept.append(record)
                continue
            }
            guard let key = record.key else { continue }
            if let latest = map[Array(key.readableBytesView)], record.offset < latest { continue }
            if record.value == nil {
                if horizonPassed { continue }
                hasTombstones = true
            }
            kept.append(record)
        }
        let dropped = records.count - kept.count
        guard !kept.isEmpty else { return (nil, dropped) }
        let setHorizon = hasTombstones && !header.hasDeleteHorizon
        if dropped == 0 && !setHorizon { return (batch, 0) }

        var newHeader = header
        if setHorizon {
            // KIP-534: baseTimestamp becomes the delete horizon, record deltas are rebased so timestamps stay.
            let horizon = nowMs + config.deleteRetentionMs
            newHeader.hasDeleteHorizon = true
            newHeader.baseTimestamp = horizon
            for index in kept.indices { kept[index].timestampDelta = kept[index].timestamp &- horizon }
        }
        if newHeader.timestampType == .createTime {
            newHeader.maxTimestamp = kept.map(\.timestamp).max() ?? header.maxTimestamp
        }
        return (
            try recordFormat { () throws(RecordError) in try RecordBatch.encode(header: newHeader, records: kept) },
            dropped
        )
    }

    /// A batch with the same offsets and no records.
    private func emptied(_ batch: RecordBatch) throws(LogError) -> RecordBatch {
        try recordFormat { () throws(RecordError) in try RecordBatch.encode(header: batch.header, records: []) }
    }
}

/// Writes a compacted segment as `.cleaned` files, then renames them to `.swap` once they are complete and durable.
struct CleanedSegmentWriter {
    let directory: String
    let baseOffset: Int64
    private let handle: FileHandle
    private var position = 0
    private var indexes: SegmentIndexes

    init(directory: String, baseOffset: Int64, indexIntervalBytes: Int) throws(LogError) {
        self.directory = directory
        self.baseOffset = baseOffset
        indexes = SegmentIndexes(indexIntervalBytes: indexIntervalBytes)
        handle = try FileHandle(
            path: Self.path(directory, baseOffset, SegmentFileName.log, ".cleaned"),
            mode: .createTruncate
        )
    }

    static func path(_ directory: String, _ baseOffset: Int64, _ kind: String, _ suffix: String) -> String {
        "\(directory)/\(SegmentFileName.prefix(baseOffset))\(kind)\(suffix)"
    }

    mutating func write(_ batch: RecordBatch) throws(LogError) {
        try handle.write(batch.bytes, at: position)
        indexes.add(
            position: position,
            size: batch.sizeInBytes,
            lastOffset: batch.lastOffset,
            maxTimestamp: batch.maxTimestamp
        )
        position += batch.sizeInBytes
    }

    /// Writes the index files, fsyncs everything and renames the files to `.swap` (the log last: its `.swap` name
    /// is what commits the swap for recovery).
    mutating func finishAsSwap() throws(LogError) -> (Int, LogSegment.SealedState) {
        indexes.appendFinalTimeEntry()
        let offsetPath = Self.path(directory, baseOffset, SegmentFileName.offsetIndex, ".cleaned")
        let timePath = Self.path(directory, baseOffset, SegmentFileName.timeIndex, ".cleaned")
        _ = try FileHandle(path: offsetPath, mode: .createTruncate)
        _ = try FileHandle(path: timePath, mode: .createTruncate)
        try indexes.persist(offsetIndex: offsetPath, timeIndex: timePath, baseOffset: baseOffset)
        try handle.sync()
        try FileHandle(path: offsetPath, mode: .readOnly).sync()
        try FileHandle(path: timePath, mode: .readOnly).sync()
        for kind in [SegmentFileName.offsetIndex, SegmentFileName.timeIndex, SegmentFileName.log] {
            try FileSystem.move(
                Self.path(directory, baseOffset, kind, ".cleaned"),
                to: Self.path(directory, baseOffset, kind, ".swap")
            )
        }
        try FileSystem.syncDirectory(directory)
        return (position, indexes.sealedState)
    }
}
