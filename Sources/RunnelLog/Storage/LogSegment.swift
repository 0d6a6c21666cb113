import Logging
import Metrics
import NIOCore
import RunnelRecords
import Synchronization

/// Segment file names: the base offset zero-padded to 20 digits, then `.log`, `.index` or `.timeindex`, optionally
/// followed by a state suffix (`.cleaned`, `.swap`, `.deleted`).
enum SegmentFileName {
    static let log = ".log"
    static let offsetIndex = ".index"
    static let timeIndex = ".timeindex"
    /// The segment's damaged ranges (``DamagedRange``), when it has any.
    static let quarantine = ".quarantine"

    static func prefix(_ baseOffset: Int64) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// Splits `00000000000000000042.log.swap` into (42, ".log", ".swap").
    static func parse(_ name: String) -> (baseOffset: Int64, kind: String, suffix: String)? {
        guard let dot = name.firstIndex(of: "."), let baseOffset = Int64(name[..<dot]), baseOffset >= 0 else {
            return nil
        }
        let rest = name[dot...]
        for kind in [log, offsetIndex, timeIndex, quarantine] where rest.hasPrefix(kind) {
            let suffix = rest.dropFirst(kind.count)
            if suffix.isEmpty || suffix.hasPrefix(".") { return (baseOffset, kind, String(suffix)) }
        }
        return nil
    }
}

/// One segment of a partition log: a `.log` of record batches from `baseOffset` on, its sparse `.index` and its
/// `.timeindex`.
///
/// The active (last) segment keeps its index entries in memory and writes them to the index files when flushed,
/// sealed or closed; its log file stays open. A sealed segment is read through the shared handle cache, and its index
/// files are validated the first time they are needed: a missing or inconsistent index is rebuilt from the log, never
/// trusted. Every method blocks on file I/O: callers run them on the log's I/O threads.
final class LogSegment: Sendable {
    struct ActiveState {
        var logHandle: FileHandle
        var indexes: SegmentIndexes
        /// The largest timestamp of the first batch: `segment.ms` is measured from it.
        var rollingBasedTimestamp: Int64?
    }

    /// What a sealed segment's validated index files say.
    struct SealedState {
        var offsetEntries: Int
        var timeEntries: Int
        var maxTimestamp: Int64
        var offsetOfMaxTimestamp: Int64
    }

    private struct State {
        var size: Int
        var active: ActiveState?
        /// `nil` for a sealed segment whose index files have not been validated yet.
        var sealed: SealedState?
        var retired = false
        var createdMs: Int64
        /// Bytes were appended since the last fsync of the log file.
        var dirty = false
        /// The log or index files changed since the last ``flush()``.
        var needsFlush = false
        /// Stretches of the log file that hold no valid batch, in order (kept in `<base>.quarantine`).
        var damaged: [DamagedRange] = []
        /// The next segment's base offset: no batch of this one may reach it (Int64.max for the last segment).
        var upperBound = Int64.max

        /// Runs `body` on the active state in place. The state is taken out of the optional first, so its index
        /// arrays stay uniquely referenced and appending to them never copies them.
        mutating func updateActive<T, Failure: Error>(
            _ body: (inout ActiveState) throws(Failure) -> T
        ) throws(Failure) -> T? {
            guard var taken = active else { return nil }
            active = nil
            defer { active = taken }
            return try body(&taken)
        }
    }

    let baseOffset: Int64
    let directory: String
    /// `index.interval.bytes` when the segment was opened; used to build its index.
    let indexIntervalBytes: Int
    private let cache: FileHandleCache
    private let state: Mutex<State>

    private init(baseOffset: Int64, directory: String, indexIntervalBytes: Int, cache: FileHandleCache, state: State) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.indexIntervalBytes = indexIntervalBytes
        self.cache = cache
        self.state = Mutex(state)
    }

    func path(_ kind: String, suffix: String = "") -> String {
        "\(directory)/\(SegmentFileName.prefix(baseOffset))\(kind)\(suffix)"
    }

    var logPath: String { path(SegmentFileName.log) }

    // MARK: - Creating and opening

    /// Creates an empty active segment (any files of the same name are truncated).
    static func create(
        directory: String,
        baseOffset: Int64,
        cache: FileHandleCache,
        indexIntervalBytes: Int,
        nowMs: Int64
    ) throws(LogError) -> LogSegment {
        let segment = LogSegment(
            baseOffset: baseOffset,
            directory: directory,
            indexIntervalBytes: indexIntervalBytes,
            cache: cache,
            state: State(size: 0, createdMs: nowMs)
        )
        let handle = try FileHandle(path: segment.logPath, mode: .createTruncate)
        _ = try FileHandle(path: segment.path(SegmentFileName.offsetIndex), mode: .createTruncate)
        _ = try FileHandle(path: segment.path(SegmentFileName.timeIndex), mode: .createTruncate)
        segment.state.withLock {
            $0.active = ActiveState(logHandle: handle, indexes: SegmentIndexes(indexIntervalBytes: indexIntervalBytes))
        }
        return segment
    }

    /// A segment already on disk, sealed; its indexes are validated on first use.
    static func existing(
        directory: String,
        baseOffset: Int64,
        cache: FileHandleCache,
        indexIntervalBytes: Int
    ) throws(LogError) -> LogSegment {
        let segment = LogSegment(
            baseOffset: baseOffset,
            directory: directory,
            indexIntervalBytes: indexIntervalBytes,
            cache: cache,
            state: State(size: 0, createdMs: 0)
        )
        let logPath = segment.logPath
        let size = try FileSystem.fileSize(logPath)
        let modified = FileSystem.modificationTimeMs(logPath) ?? 0
        let damaged = QuarantineFile.read(segment.path(SegmentFileName.quarantine))
        segment.state.withLock {
            $0.size = size
            $0.createdMs = modified
            $0.damaged = damaged
        }
        return segment
    }

    /// A sealed segment whose files were just written by this process (a compaction result): its index is known good.
    static func sealed(
        directory: String,
        baseOffset: Int64,
        cache: FileHandleCache,
        indexIntervalBytes: Int,
        size: Int,
        info: SealedState,
        nowMs: Int64
    ) -> LogSegment {
        var state = State(size: size, createdMs: nowMs)
        state.sealed = info
        return LogSegment(
            baseOffset: baseOffset,
            directory: directory,
            indexIntervalBytes: indexIntervalBytes,
            cache: cache,
            state: state
        )
    }

    /// What ``recover(trustedBelow:onBatch:)`` found.
    struct RecoveryOutcome {
        /// Bytes cut off the end because they were not valid batches.
        var truncatedBytes: Int
        /// Why bytes were cut off, for the log line.
        var truncationReason: String?
        /// The offset after the last valid batch (`baseOffset` when the segment is empty).
        var nextOffset: Int64
        /// Bytes re-validated (the part of the segment not covered by a trusted index entry).
        var scannedBytes: Int
        /// Damaged ranges found (set aside, not cut off).
        var damaged: [DamagedRange] = []
    }

    /// Makes this segment active again, validating its batches from the last index entry below `trustedBelow` (or
    /// from the start) and truncating the log at the first batch that is partial, fails its CRC, or goes backwards.
    ///
    /// Index entries at or above `trustedBelow` are discarded and rebuilt by the scan, so the cost is the part of the
    /// segment written since the recovery point, not the segment's size.
    func recover(
        trustedBelow: Int64,
        isLast: Bool,
        onBatch: (ScannedBatch) -> Void = { _ in }
    ) throws(LogError) -> RecoveryOutcome {
        let upperBound = state.withLock { $0.upperBound }
        let handle = try FileHandle(path: logPath, mode: .readWrite)
        let fileSize = try handle.size()
        var indexes = SegmentIndexes(indexIntervalBytes: indexIntervalBytes)

        // The trusted prefix of the index files: below the recovery point, ordered, inside the file.
        indexes.offsets.entries = try readEntries(path(SegmentFileName.offsetIndex), as: OffsetIndexEntry.self) {
            previous,
            entry in
            entry.offset < trustedBelow && entry.offset >= baseOffset && entry.position < fileSize
                && (previous.map { entry.offset > $0.offset && entry.position > $0.position } ?? true)
        }
        var start = 0
        var expectedNextOffset = baseOffset
        if let last = indexes.offsets.last {
            // The entry must point at a valid batch ending at its offset, or nothing in the file is trusted.
            var probe = BatchScanner(handle: handle, from: last.position, end: fileSize, chunkSize: 64 << 10)
            if case .batch(let batch) = try probe.next(verifyChecksum: true), batch.lastOffset == last.offset {
                start = last.position
                expectedNextOffset = batch.baseOffset
            } else {
                indexes.offsets.entries = []
            }
        }
        if let boundary = indexes.offsets.last?.offset {
            indexes.times.entries = try readEntries(path(SegmentFileName.timeIndex), as: TimeIndexEntry.self) {
                previous,
                entry in
                entry.offset <= boundary && entry.offset >= baseOffset
                    && (previous.map { entry.timestamp >= $0.timestamp && entry.offset >= $0.offset } ?? true)
            }
            if let lastTime = indexes.times.last {
                indexes.maxTimestamp = lastTime.timestamp
                indexes.offsetOfMaxTimestamp = lastTime.offset
            }
        }
        indexes.offsets.persisted = indexes.offsets.entries.count
        indexes.times.persisted = indexes.times.entries.count

        // Rescanning from the trusted entry's batch rebuilds the index state exactly: that batch already has its
        // entry, and the interval count restarts from it.
        var rollingBasedTimestamp: Int64?
        var outcome = try indexes.scan(
            handle,
            from: start,
            end: fileSize,
            baseOffset: baseOffset,
            expectedNextOffset: expectedNextOffset,
            upperBound: upperBound
        ) {
            batch in
            if batch.position == 0 { rollingBasedTimestamp = batch.maxTimestamp }
            onBatch(batch)
        }
        // Only the last segment's tail is cut off, and only a tail no valid batch follows (a write a crash tore);
        // damage anywhere else is set aside, and the batches around it are kept.
        var truncationReason: String?
        if isLast, let last = outcome.damaged.last, last.end == fileSize {
            truncationReason = last.reason
            outcome.damaged.removeLast()
            try handle.truncate(to: outcome.validEnd)
        }
        let found = outcome.damaged
        try state.withLock { state throws(LogError) in try quarantine(found, keepingBefore: start, state: &state) }
        if start > 0 {
            // The first batch was not rescanned; read its header for segment.ms.
            var first = BatchScanner(handle: handle, from: 0, end: outcome.validEnd, chunkSize: 4096)
            if case .batch(let batch) = try first.next(verifyChecksum: false) {
                rollingBasedTimestamp = batch.maxTimestamp
            }
        }
        // The index files now hold exactly the trusted prefix; new entries are written on flush.
        try truncateIndexFile(
            SegmentFileName.offsetIndex,
            entries: indexes.offsets.persisted,
            entrySize: OffsetIndexEntry.size
        )
        try truncateIndexFile(
            SegmentFileName.timeIndex,
            entries: indexes.times.persisted,
            entrySize: TimeIndexEntry.size
        )

        let validEnd = truncationReason == nil ? fileSize : outcome.validEnd
        let active = ActiveState(logHandle: handle, indexes: indexes, rollingBasedTimestamp: rollingBasedTimestamp)
        state.withLock {
            $0.size = validEnd
            $0.active = active
            $0.sealed = nil
        }
        cache.evict(logPath)
        return RecoveryOutcome(
            truncatedBytes: fileSize - validEnd,
            truncationReason: truncationReason,
            nextOffset: outcome.nextOffset,
            scannedBytes: fileSize - start,
            damaged: found
        )
    }

    /// Reads the longest prefix of an index file whose entries pass `isValid` (a missing file gives no entries).
    private func readEntries<Entry: IndexEntryCoding>(
        _ path: String,
        as: Entry.Type,
        isValid: (Entry?, Entry) -> Bool
    ) throws(LogError) -> [Entry] {
        guard FileSystem.fileExists(path) else { return [] }
        let handle = try FileHandle(path: path, mode: .readOnly)
        let size = min(try handle.size(), IndexFile.maxFileBytes)
        let count = size / Entry.size
        var entries: [Entry] = []
        var index = 0
        let chunkEntries = 8192
        while index < count {
            let n = min(chunkEntries, count - index)
            let chunk = try handle.read(at: index * Entry.size, count: n * Entry.size)
            let complete = chunk.withUnsafeReadableBytes { raw -> Bool in
                for i in 0..<(raw.count / Entry.size) {
                    let entry = Entry(
                        decoding: UnsafeRawBufferPointer(rebasing: raw[i * Entry.size..<(i + 1) * Entry.size]),
                        baseOffset: baseOffset
                    )
                    guard isValid(entries.last, entry) else { return false }
                    entries.append(entry)
                }
                return raw.count == n * Entry.size
            }
            guard complete else { break }
            index += n
        }
        return entries
    }

    private func truncateIndexFile(_ kind: String, entries: Int, entrySize: Int) throws(LogError) {
        let handle = try FileHandle(path: path(kind), mode: .readWriteCreate)
        try handle.truncate(to: entries * entrySize)
    }

    // MARK: - State

    var size: Int { state.withLock { $0.size } }
    var isActive: Bool { state.withLock { $0.active != nil } }
    var createdMs: Int64 { state.withLock { $0.createdMs } }

    /// The segment's damaged ranges, in order.
    var damaged: [DamagedRange] { state.withLock { $0.damaged } }

    /// Sets the next segment's base offset (the partition log keeps it current as segments roll and are replaced).
    func setUpperBound(_ bound: Int64) {
        state.withLock { $0.upperBound = bound }
    }

    /// The partition this segment belongs to, as its directory is named (for messages: never a server path).
    var partitionName: String { FileSystem.lastComponent(of: directory) }

    /// The error a read of `range`'s offsets gets.
    func damagedError(_ range: DamagedRange) -> LogError {
        LogSegment.corruptReads.increment()
        let after =
            range.nextOffset == Int64.max
            ? "nothing after them is readable in this segment" : "read from offset \(range.nextOffset) to go on"
        return LogError(
            .corruptRecord,
            "\(range.offsetsDescription) of \(partitionName) are damaged on disk and set aside (\(range.reason)); \(after). `runnel check-logs` lists damaged ranges and repairs them."
        )
    }

    /// Records newly found damage (merged with what was known), writes the quarantine file and logs each new range.
    private func quarantine(_ found: [DamagedRange], keepingBefore position: Int, state: inout State) throws(LogError) {
        let kept = state.damaged.filter { $0.position < position }
        let merged = (kept + found).sorted { $0.position < $1.position }
        guard merged != state.damaged else { return }
        let known = Set(state.damaged)
        state.damaged = merged
        try QuarantineFile.write(path(SegmentFileName.quarantine), merged)
        for range in merged where !known.contains(range) {
            LogSegment.damagedRanges.increment()
            LogSegment.logger.error(
                "Damaged log data set aside",
                metadata: [
                    "topicPartition": "\(partitionName)", "segment": "\(baseOffset)",
                    "offsets":
                        "\(range.firstOffset)...\(range.nextOffset == Int64.max ? "" : String(range.nextOffset - 1))",
                    "bytes": "\(range.position)...\(range.end - 1)", "reason": "\(range.reason)",
                ]
            )
        }
    }

    /// Through swift-metrics: damaged ranges found, and reads refused because they asked for damaged offsets.
    static let damagedRanges = Counter(label: "runnel_log_damaged_ranges_total")
    static let corruptReads = Counter(label: "runnel_log_corrupt_reads_total")
    static let logger = Logger(label: "runnel.log")

    /// What the roll decision needs about the active segment.
    struct RollInfo {
        var size: Int
        var offsetEntries: Int
        var timeEntries: Int
        var rollingBasedTimestamp: Int64?
        var createdMs: Int64
    }

    var rollInfo: RollInfo {
        state.withLock {
            RollInfo(
                size: $0.size,
                offsetEntries: $0.active?.indexes.offsets.entries.count ?? 0,
                timeEntries: $0.active?.indexes.times.entries.count ?? 0,
                rollingBasedTimestamp: $0.active?.rollingBasedTimestamp,
                createdMs: $0.createdMs
            )
        }
    }

    /// The largest record timestamp in the segment and the offset of the batch holding it (-1, -1 if none).
    func maxTimestampAndOffset() throws(LogError) -> (timestamp: Int64, offset: Int64) {
        if let indexes = state.withLock({ $0.active.map { ($0.indexes.maxTimestamp, $0.indexes.offsetOfMaxTimestamp) } }
        ) {
            return indexes
        }
        let info = try sealedInfo()
        return (info.maxTimestamp, info.offsetOfMaxTimestamp)
    }

    /// The time retention measures a segment's age from: its largest record timestamp, else its file's mtime.
    func largestTimestampForRetention() throws(LogError) -> Int64 {
        let (timestamp, _) = try maxTimestampAndOffset()
        if timestamp >= 0 { return timestamp }
        return FileSystem.modificationTimeMs(logPath) ?? createdMs
    }

    // MARK: - Writing (the log's writer only)

    /// A batch on its way into the active segment: its bytes, in pieces, and what the indexes need.
    struct OutgoingBatch {
        var pieces: [ByteBuffer]
        var size: Int
        var lastOffset: Int64
        var maxTimestamp: Int64
    }

    /// Appends batches whose offsets are already assigned, in one gathered write.
    func append(_ batches: [OutgoingBatch]) throws(LogError) {
        guard !batches.isEmpty else { return }
        let target = try state.withLock { state throws(LogError) -> (FileHandle, Int) in
            guard let active = state.active else { throw LogError(.storage, "\(logPath) is not the active segment") }
            return (active.logHandle, state.size)
        }
        let (handle, start) = target
        do {
            try handle.write(batches.flatMap(\.pieces), at: start)
        } catch {
            // Leave no partial batch behind for readers or for the next append.
            try? handle.truncate(to: start)
            throw error
        }
        state.withLock { state in
            var position = start
            _ = state.updateActive { active in
                for batch in batches {
                    if active.rollingBasedTimestamp == nil { active.rollingBasedTimestamp = batch.maxTimestamp }
                    active.indexes.add(
                        position: position,
                        size: batch.size,
                        lastOffset: batch.lastOffset,
                        maxTimestamp: batch.maxTimestamp
                    )
                    position += batch.size
                }
            }
            state.size = position
            state.dirty = true
            state.needsFlush = true
        }
    }

    /// fsyncs the log file (group commit); index files are written by ``flush()``.
    func syncLog() throws(LogError) {
        let handle = try state.withLock { state throws(LogError) -> FileHandle? in
            guard state.dirty else { return nil }
            state.dirty = false
            return state.active?.logHandle
        }
        guard let handle else { return }
        do {
            try handle.sync()
        } catch {
            state.withLock { $0.dirty = true }
            throw error
        }
    }

    /// ``flush()`` if anything changed since the last one.
    func flushIfNeeded() throws(LogError) {
        guard state.withLock({ $0.needsFlush }) else { return }
        try flush()
    }

    /// Makes the log and index files durable: fsync the log, write pending index entries, fsync the indexes.
    /// A segment retired (compacted or deleted) before or during the flush is skipped.
    func flush() throws(LogError) {
        let logHandle = state.withLock { state -> FileHandle?? in
            guard !state.retired else { return nil }
            state.dirty = false
            state.needsFlush = false
            return .some(state.active?.logHandle)
        }
        guard let logHandle else { return }
        do {
            if let logHandle {
                try logHandle.sync()
            } else {
                try FileHandle(path: logPath, mode: .readOnly).sync()
            }
            try persistIndexes(finalTimeEntry: false)
            for kind in [SegmentFileName.offsetIndex, SegmentFileName.timeIndex] where FileSystem.fileExists(path(kind))
            {
                try FileHandle(path: path(kind), mode: .readOnly).sync()
            }
        } catch {
            let retired = state.withLock { state -> Bool in
                state.dirty = true
                state.needsFlush = true
                return state.retired
            }
            if !retired { throw error }
        }
    }

    /// Writes the active segment's pending index entries to the index files.
    private func persistIndexes(finalTimeEntry: Bool) throws(LogError) {
        let offsetPath = path(SegmentFileName.offsetIndex)
        let timePath = path(SegmentFileName.timeIndex)
        try state.withLock { state throws(LogError) in
            let present =
                try state.updateActive { active throws(LogError) -> Bool in
                    if finalTimeEntry { active.indexes.appendFinalTimeEntry() }
                    try active.indexes.persist(offsetIndex: offsetPath, timeIndex: timePath, baseOffset: baseOffset)
                    return true
                } ?? false
            if finalTimeEntry && present { state.needsFlush = true }
        }
    }

    /// Turns the active segment into a sealed one: writes the final time-index entry and all index entries.
    func seal() throws(LogError) {
        try persistIndexes(finalTimeEntry: true)
        // Readers now go through the handle cache; the pinned handle stays open for whoever still holds it.
        state.withLock { state in
            guard let active = state.active else { return }
            state.sealed = active.indexes.sealedState
            state.active = nil
        }
    }

    /// Writes the final time-index entry and pending entries (a clean close), keeping the segment active.
    func prepareForClose() throws(LogError) {
        try persistIndexes(finalTimeEntry: true)
    }

    // MARK: - Reading

    /// The handle to read the log file with; throws ``LogError/Code/segmentRetired`` once the segment is gone.
    private func logHandle() throws(LogError) -> FileHandle {
        try state.withLock { state throws(LogError) -> FileHandle in
            guard !state.retired else { throw LogError(.segmentRetired, "\(logPath) was deleted") }
            if let handle = state.active?.logHandle { return handle }
            // Opened under the lock, so a concurrent retirement cannot swap another file in under this path.
            return try cache.handle(for: logPath)
        }
    }

    func read(at position: Int, count: Int) throws(LogError) -> ByteBuffer {
        try logHandle().read(at: position, count: count)
    }

    /// The largest index entry at or below `target`, or the segment start.
    private func lookup(_ target: Int64) throws(LogError) -> OffsetIndexEntry {
        let start = OffsetIndexEntry(offset: baseOffset, position: 0)
        // Searched under the lock: copying the entries out would make the writer's next append copy them all.
        let inMemory = state.withLock { state -> OffsetIndexEntry? in
            guard let entries = state.active?.indexes.offsets.entries else { return nil }
            var low = 0
            var high = entries.count - 1
            var found = start
            while low <= high {
                let middle = (low + high) / 2
                if entries[middle].offset <= target {
                    found = entries[middle]
                    low = middle + 1
                } else {
                    high = middle - 1
                }
            }
            return found
        }
        if let inMemory { return inMemory }
        return try withSealedIndex { info, _ throws(LogError) -> OffsetIndexEntry in
            guard info.offsetEntries > 0 else { return start }
            let handle = try cache.handle(for: path(SegmentFileName.offsetIndex))
            guard
                let i = try IndexFile.lastIndex(
                    count: info.offsetEntries,
                    in: handle,
                    baseOffset: baseOffset,
                    as: OffsetIndexEntry.self,
                    where: { $0.offset <= target }
                )
            else { return start }
            return try IndexFile.entry(i, in: handle, baseOffset: baseOffset, as: OffsetIndexEntry.self)
        }
    }

    /// A batch found for a read, with the last offset of the batch before it when the walk saw it.
    struct FoundBatch {
        var batch: ScannedBatch
        var previousLast: Int64?
    }

    /// The damaged range whose bytes hold `position`, if any.
    private static func range(holding position: Int, in damaged: [DamagedRange]) -> DamagedRange? {
        damaged.first { $0.position <= position && position < $0.end }
    }

    /// The first batch whose last offset is at least `target`, among the bytes below `limit`. Its offsets must
    /// follow the batches before it; known damaged ranges are stepped over, and a read of offsets they made
    /// unreadable fails (CORRUPT_MESSAGE) saying which. Damage found on the way is set aside first (the segment is
    /// scanned once, its indexes rebuilt), then the walk starts again.
    func findBatch(containing target: Int64, limit: Int) throws(LogError) -> FoundBatch? {
        var rescanned = false
        func rescanOrFail(_ reason: String) throws(LogError) {
            guard !rescanned else {
                throw LogError(.corruptRecord, "\(partitionName) segment \(baseOffset): \(reason)")
            }
            try rebuildIndexes()
            rescanned = true
        }
        search: while true {
            let (damaged, upperBound) = state.withLock { ($0.damaged, $0.upperBound) }
            if let range = damaged.first(where: { $0.covers(offset: target) }) { throw damagedError(range) }
            let entry = try lookup(target)
            // From an index entry the target is at most about one index interval away: read headers in chunks of that.
            let chunk = max(8 << 10, 2 * indexIntervalBytes)
            var scanner = BatchScanner(handle: try logHandle(), from: entry.position, end: limit, chunkSize: chunk)
            var sequence = BatchSequence(
                upperBound: upperBound,
                previousLast: entry.position == 0 ? baseOffset - 1 : nil
            )
            if entry.position > 0 {
                // An index entry is trusted only if the batch it points at ends at its offset.
                guard Self.range(holding: entry.position, in: damaged) == nil,
                    case .batch(let first) = try scanner.next(verifyChecksum: false), first.lastOffset == entry.offset
                else {
                    try rescanOrFail("its index disagrees with its log after a rebuild")
                    continue search
                }
                _ = sequence.next(first)
                if first.lastOffset >= target { return FoundBatch(batch: first, previousLast: nil) }
            }
            while true {
                if let range = Self.range(holding: scanner.position, in: damaged) {
                    // Step over what is set aside; the next batch follows the range.
                    guard range.end < limit else { return nil }
                    scanner = BatchScanner(handle: try logHandle(), from: range.end, end: limit, chunkSize: chunk)
                    sequence = BatchSequence(upperBound: upperBound, previousLast: range.nextOffset - 1)
                    continue
                }
                let expected = sequence.expected
                switch try scanner.next(verifyChecksum: false) {
                case .batch(let batch):
                    switch sequence.next(batch) {
                    case .accepted:
                        if batch.lastOffset >= target {
                            return FoundBatch(batch: batch, previousLast: expected.map { $0 - 1 })
                        }
                    case .heldWasDamaged(let range):
                        try rescanOrFail(range.reason)
                        continue search
                    case .outOfOrder(let reason):
                        try rescanOrFail(reason)
                        continue search
                    }
                case .end:
                    return nil
                case .partial(_, let reason), .corrupt(_, let reason):
                    try rescanOrFail(reason)
                    continue search
                }
            }
        }
    }

    /// Reads the complete, valid batches from `found` on, up to `count` bytes (at least the first batch when
    /// `minOneBatch`), below `limit`: each one's CRC, length and magic are checked, and its offsets against its
    /// neighbours'; the bytes of a known damaged range are never included. An invalid first batch is set aside and
    /// its read fails naming the damaged offsets; an invalid later batch ends the read before it (the next read
    /// starts there, and fails).
    func readBatches(from found: FoundBatch, count: Int, limit: Int, minOneBatch: Bool) throws(LogError) -> ByteBuffer {
        let first = found.batch
        let (damaged, upperBound) = state.withLock { ($0.damaged, $0.upperBound) }
        var end = min(limit, damaged.first(where: { $0.position > first.position })?.position ?? limit)
        var wanted = min(count, end - first.position)
        if minOneBatch && wanted < first.size { wanted = first.size }
        guard wanted >= first.size, first.position + first.size <= end else {
            if first.position + first.size > end, end == limit {
                // A length running past what is readable: the batch is damaged.
                try setAsideFirst(
                    found,
                    "batch at position \(first.position) claims \(first.size) bytes, past the end of the segment"
                )
            }
            return ByteBuffer()
        }
        // One header more than asked for, when there is one: the next batch tells whether this one's offsets hold.
        let lookahead = min(RecordBatch.headerSize, end - (first.position + wanted))
        end = first.position + wanted + lookahead
        let bytes = try read(at: first.position, count: wanted + lookahead)
        var sequence = BatchSequence(upperBound: upperBound, previousLast: found.previousLast)
        var accepted: [(start: Int, size: Int)] = []
        var position = 0
        var problem: (batch: Int, reason: String)?
        bytes.withUnsafeReadableBytes { raw in
            while position + RecordBatch.headerSize <= raw.count {
                guard let header = Self.header(raw, at: position, filePosition: first.position + position) else {
                    problem = (accepted.count, "batch at position \(first.position + position) has an invalid header")
                    return
                }
                let complete = position + header.size <= raw.count && position < wanted
                if complete {
                    let stored = Self.uint32(raw, position + RecordBatch.Field.crc)
                    let covered = UnsafeRawBufferPointer(
                        rebasing: raw[(position + RecordBatch.Field.attributes)..<(position + header.size)]
                    )
                    guard stored == CRC32C.checksum(covered) else {
                        problem = (accepted.count, "batch at position \(header.position) fails its CRC")
                        return
                    }
                }
                switch sequence.next(header) {
                case .accepted:
                    break
                case .heldWasDamaged(let range):
                    problem = (accepted.count - 1, range.reason)
                    return
                case .outOfOrder(let reason):
                    problem = (accepted.count, reason)
                    return
                }
                guard complete else { return }
                accepted.append((position, header.size))
                position += header.size
            }
        }
        if let problem {
            if problem.batch <= 0 {
                try setAsideFirst(found, problem.reason)
                return ByteBuffer()
            }
            // The problem is the batch after the last accepted one, or that batch itself: serve what came before.
            let cut =
                problem.batch < accepted.count
                ? accepted[problem.batch].start : (accepted.last.map { $0.start + $0.size } ?? 0)
            return bytes.getSlice(at: bytes.readerIndex, length: cut) ?? ByteBuffer()
        }
        let length = accepted.last.map { $0.start + $0.size } ?? 0
        return bytes.getSlice(at: bytes.readerIndex, length: length) ?? ByteBuffer()
    }

    /// The first batch of a read is damaged: the segment is scanned (its damage set aside), and the read fails
    /// naming the damaged offsets that hold the batch's.
    private func setAsideFirst(_ found: FoundBatch, _ reason: String) throws(LogError) {
        if Self.range(holding: found.batch.position, in: damaged) == nil { try rebuildIndexes() }
        if let range = Self.range(holding: found.batch.position, in: damaged) { throw damagedError(range) }
        throw LogError(.corruptRecord, "\(partitionName) segment \(baseOffset): \(reason)")
    }

    /// The header of the batch at `position` of `raw` (at `filePosition` in the file), when its length and magic
    /// are plausible.
    private static func header(_ raw: UnsafeRawBufferPointer, at position: Int, filePosition: Int) -> ScannedBatch? {
        guard raw[position + RecordBatch.Field.magic] == UInt8(RecordBatch.magicValue) else { return nil }
        let length = Int(Int32(bitPattern: uint32(raw, position + RecordBatch.Field.length)))
        let size = length + RecordBatch.logOverhead
        guard size >= RecordBatch.headerSize else { return nil }
        let base = Int64(bitPattern: BigEndian.uint64(raw, position))
        let delta = Int32(bitPattern: uint32(raw, position + RecordBatch.Field.lastOffsetDelta))
        let count = Int32(bitPattern: uint32(raw, position + RecordBatch.Field.recordCount))
        guard delta >= 0, count >= 0 else { return nil }
        let maxTimestampAt = position + RecordBatch.Field.maxTimestamp
        let maxTimestamp = Int64(bitPattern: BigEndian.uint64(raw, maxTimestampAt))
        return ScannedBatch(
            position: filePosition,
            size: size,
            baseOffset: base,
            lastOffset: base &+ Int64(delta),
            maxTimestamp: maxTimestamp,
            partitionLeaderEpoch: Int32(bitPattern: uint32(raw, position + RecordBatch.Field.partitionLeaderEpoch)),
            recordCount: count
        )
    }

    private static func uint32(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 { BigEndian.uint32(raw, at) }

    /// The earliest record with a timestamp at or after `target`, among the bytes below `limit`.
    func findOffset(forTimestamp target: Int64, limit: Int) throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        // The largest time-index entry strictly below the target: every record up to its offset is older.
        var after: Int64?
        let inMemory = state.withLock { state -> Int64?? in
            guard let entries = state.active?.indexes.times.entries else { return nil }
            return .some(entries.last(where: { $0.timestamp < target })?.offset)
        }
        if let inMemory {
            after = inMemory
        } else {
            after = try withSealedIndex { info, _ throws(LogError) -> Int64? in
                guard info.timeEntries > 0 else { return nil }
                let handle = try cache.handle(for: path(SegmentFileName.timeIndex))
                guard
                    let i = try IndexFile.lastIndex(
                        count: info.timeEntries,
                        in: handle,
                        baseOffset: baseOffset,
                        as: TimeIndexEntry.self,
                        where: { $0.timestamp < target }
                    )
                else { return nil }
                return try IndexFile.entry(i, in: handle, baseOffset: baseOffset, as: TimeIndexEntry.self).offset
            }
        }
        let startOffset = (after ?? baseOffset - 1) + 1
        let found: FoundBatch?
        do {
            found = try findBatch(containing: startOffset, limit: limit)
        } catch  where error.code == .corruptRecord {
            // The offsets to start from are damaged: look from the first offset after the damage.
            guard let range = damaged.first(where: { $0.covers(offset: startOffset) }), range.end < limit else {
                return nil
            }
            found = try findBatch(containing: range.nextOffset, limit: limit)
        }
        guard let first = found?.batch else { return nil }
        let damaged = self.damaged
        var scanner = BatchScanner(handle: try logHandle(), from: first.position, end: limit)
        while true {
            if let range = Self.range(holding: scanner.position, in: damaged) {
                guard range.end < limit else { return nil }
                scanner = BatchScanner(handle: try logHandle(), from: range.end, end: limit)
                continue
            }
            switch try scanner.next(verifyChecksum: false) {
            case .batch(let scanned):
                guard scanned.maxTimestamp >= target else { continue }
                let batch = try scanner.batch(scanned)
                let records = try recordFormat { () throws(RecordError) in try batch.records() }
                for record in records where record.timestamp >= target && record.offset >= startOffset {
                    return (record.offset, record.timestamp)
                }
            case .end, .partial:
                return nil
            case .corrupt(let position, let reason):
                throw LogError(.corruptRecord, "\(logPath) at position \(position): \(reason)")
            }
        }
    }

    // MARK: - Sealed index validation

    /// The validated index of a sealed segment, validating (or rebuilding) it first if needed.
    func sealedInfo() throws(LogError) -> SealedState {
        try withSealedIndex { info, _ throws(LogError) in info }
    }

    /// Runs `body` under the segment lock with the sealed index validated.
    private func withSealedIndex<T>(_ body: (SealedState, Int) throws(LogError) -> T) throws(LogError) -> T {
        try state.withLock { state throws(LogError) -> T in
            guard !state.retired else { throw LogError(.segmentRetired, "\(logPath) was deleted") }
            if let info = state.sealed { return try body(info, state.size) }
            var size = state.size
            let info = try validateOrRebuild(size: &size, state: &state)
            state.size = size
            state.sealed = info
            return try body(info, state.size)
        }
    }

    private func validateOrRebuild(size: inout Int, state: inout State) throws(LogError) -> SealedState {
        let logSize = size
        let offsetPath = path(SegmentFileName.offsetIndex)
        let timePath = path(SegmentFileName.timeIndex)
        if FileSystem.fileExists(offsetPath), FileSystem.fileExists(timePath),
            let offsets = try IndexFile.validate(
                try FileHandle(path: offsetPath, mode: .readOnly),
                baseOffset: baseOffset,
                as: OffsetIndexEntry.self,
                isValidSuccessor: { previous, entry in
                    entry.offset >= self.baseOffset && entry.offset - self.baseOffset <= Int64(Int32.max)
                        && entry.position >= 0 && entry.position < logSize
                        && (previous.map { entry.offset > $0.offset && entry.position > $0.position } ?? true)
                }
            ),
            let times = try IndexFile.validate(
                try FileHandle(path: timePath, mode: .readOnly),
                baseOffset: baseOffset,
                as: TimeIndexEntry.self,
                isValidSuccessor: { previous, entry in
                    entry.offset >= self.baseOffset && entry.offset - self.baseOffset <= Int64(Int32.max)
                        && (previous.map { entry.timestamp >= $0.timestamp && entry.offset >= $0.offset } ?? true)
                }
            )
        {
            return SealedState(
                offsetEntries: offsets.count,
                timeEntries: times.count,
                maxTimestamp: times.last?.timestamp ?? -1,
                offsetOfMaxTimestamp: times.last?.offset ?? -1
            )
        }
        return try rebuild(size: &size, state: &state)
    }

    /// Rebuilds both index files of a sealed segment from its log. Damaged stretches are set aside (quarantined),
    /// never cut off: the log file is not changed.
    private func rebuild(size: inout Int, state: inout State) throws(LogError) -> SealedState {
        cache.evict(logPath)
        cache.evict(path(SegmentFileName.offsetIndex))
        cache.evict(path(SegmentFileName.timeIndex))
        let handle = try FileHandle(path: logPath, mode: .readOnly)
        let fileSize = try handle.size()
        var indexes = SegmentIndexes(indexIntervalBytes: indexIntervalBytes)
        let outcome = try indexes.scan(
            handle,
            from: 0,
            end: fileSize,
            baseOffset: baseOffset,
            expectedNextOffset: baseOffset,
            upperBound: state.upperBound
        )
        try quarantine(outcome.damaged, keepingBefore: 0, state: &state)
        indexes.appendFinalTimeEntry()
        try writeIndexFileAtomically(SegmentFileName.offsetIndex, indexes.offsets)
        try writeIndexFileAtomically(SegmentFileName.timeIndex, indexes.times)
        size = fileSize
        return indexes.sealedState
    }

    private func writeIndexFileAtomically<Entry: IndexEntryCoding>(
        _ kind: String,
        _ index: IndexBuffer<Entry>
    )
        throws(LogError)
    {
        let temporary = path(kind, suffix: ".tmp")
        var copy = index
        copy.persisted = 0
        let handle = try FileHandle(path: temporary, mode: .createTruncate)
        try copy.persist(to: handle, baseOffset: baseOffset)
        try handle.sync()
        try FileSystem.move(temporary, to: path(kind))
    }

    /// Rebuilds the indexes of a segment whose index disagreed with its log.
    ///
    /// For the active segment the in-memory entries are rebuilt under the segment lock, so the writer's next index
    /// update continues from the rebuilt state; the index files are rewritten on the next flush. The active segment's
    /// log is not truncated here: its bytes are already visible to readers.
    private func rebuildIndexes() throws(LogError) {
        try state.withLock { state throws(LogError) in
            guard !state.retired else { return }
            guard var active = state.active else {
                var size = state.size
                state.sealed = try rebuild(size: &size, state: &state)
                state.size = size
                return
            }
            var indexes = SegmentIndexes(indexIntervalBytes: indexIntervalBytes)
            let outcome = try indexes.scan(
                active.logHandle,
                from: 0,
                end: state.size,
                baseOffset: baseOffset,
                expectedNextOffset: baseOffset
            )
            try quarantine(outcome.damaged, keepingBefore: 0, state: &state)
            try truncateIndexFile(SegmentFileName.offsetIndex, entries: 0, entrySize: OffsetIndexEntry.size)
            try truncateIndexFile(SegmentFileName.timeIndex, entries: 0, entrySize: TimeIndexEntry.size)
            active.indexes = indexes
            state.active = active
            state.needsFlush = true
        }
    }

    // MARK: - Deleting

    /// Marks the segment deleted and renames its files with the `.deleted` suffix; readers that already hold a
    /// handle finish their read, new readers get ``LogError/Code/segmentRetired`` and retry with the new segment list.
    func retire() throws(LogError) {
        try state.withLock { state throws(LogError) in
            guard !state.retired else { return }
            state.retired = true
            state.active = nil
            for kind in [
                SegmentFileName.log, SegmentFileName.offsetIndex, SegmentFileName.timeIndex, SegmentFileName.quarantine,
            ] {
                cache.evict(path(kind))
                if FileSystem.fileExists(path(kind)) {
                    try FileSystem.move(path(kind), to: path(kind, suffix: ".deleted"))
                }
            }
        }
    }

    /// Removes the `.deleted` files of a retired segment.
    func deleteRetiredFiles() throws(LogError) {
        for kind in [
            SegmentFileName.log, SegmentFileName.offsetIndex, SegmentFileName.timeIndex, SegmentFileName.quarantine,
        ] {
            try FileSystem.removeFile(path(kind, suffix: ".deleted"))
        }
    }

    /// Drops the segment's clean pages from the page cache (for cold-read benchmarks).
    func dropCachedPages() throws(LogError) {
        try FileHandle(path: logPath, mode: .readOnly).dropCachedPages()
    }
}
