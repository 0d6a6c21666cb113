import NIOCore
import RunnelRecords

/// An `.index` entry: the batch starting at `position` in the `.log` ends at `offset`.
///
/// Entries are sparse (one per `index.interval.bytes` of log), so a lookup gives a position to scan forward from.
/// On disk: relative offset (int32 BE) then position (int32 BE), 8 bytes.
struct OffsetIndexEntry: Equatable, Sendable {
    var offset: Int64
    var position: Int
}

/// A `.timeindex` entry: the largest timestamp in the segment up to and including `offset` is `timestamp`.
/// On disk: timestamp (int64 BE) then relative offset (int32 BE), 12 bytes.
struct TimeIndexEntry: Equatable, Sendable {
    var timestamp: Int64
    var offset: Int64
}

protocol IndexEntryCoding: Equatable, Sendable {
    static var size: Int { get }
    var offset: Int64 { get }
    init(decoding bytes: UnsafeRawBufferPointer, baseOffset: Int64)
    func encode(into buffer: inout ByteBuffer, baseOffset: Int64)
}

@inline(__always)
private func loadBigEndian<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ at: Int, as: T.Type) -> T {
    T(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
}

extension OffsetIndexEntry: IndexEntryCoding {
    static let size = 8

    init(decoding bytes: UnsafeRawBufferPointer, baseOffset: Int64) {
        offset = baseOffset + Int64(loadBigEndian(bytes, 0, as: Int32.self))
        position = Int(loadBigEndian(bytes, 4, as: Int32.self))
    }

    func encode(into buffer: inout ByteBuffer, baseOffset: Int64) {
        buffer.writeInteger(Int32(truncatingIfNeeded: offset - baseOffset))
        buffer.writeInteger(Int32(truncatingIfNeeded: position))
    }
}

extension TimeIndexEntry: IndexEntryCoding {
    static let size = 12

    init(decoding bytes: UnsafeRawBufferPointer, baseOffset: Int64) {
        timestamp = loadBigEndian(bytes, 0, as: Int64.self)
        offset = baseOffset + Int64(loadBigEndian(bytes, 8, as: Int32.self))
    }

    func encode(into buffer: inout ByteBuffer, baseOffset: Int64) {
        buffer.writeInteger(timestamp)
        buffer.writeInteger(Int32(truncatingIfNeeded: offset - baseOffset))
    }
}

/// The index entries of the active segment, kept in memory and written to their file on flush, roll and close.
///
/// `persisted` entries are already in the file; the file never holds entries the memory does not.
struct IndexBuffer<Entry: IndexEntryCoding> {
    var entries: [Entry] = []
    var persisted = 0

    var last: Entry? { entries.last }

    /// Writes the entries not yet in the file (the file is exactly `persisted` entries long before this).
    mutating func persist(to handle: FileHandle, baseOffset: Int64) throws(LogError) {
        guard persisted < entries.count else { return }
        var buffer = ByteBufferAllocator().buffer(capacity: (entries.count - persisted) * Entry.size)
        for entry in entries[persisted...] { entry.encode(into: &buffer, baseOffset: baseOffset) }
        try handle.write(buffer, at: persisted * Entry.size)
        persisted = entries.count
    }
}

/// Reads and searches index files of sealed segments without loading them into memory.
enum IndexFile {
    /// Index files above this size are corrupt (`segment.index.bytes` is capped at 1 GiB in Kafka; ours are far smaller).
    static let maxFileBytes = 1 << 30

    /// Entry `i` of a file.
    static func entry<Entry: IndexEntryCoding>(
        _ i: Int,
        in handle: FileHandle,
        baseOffset: Int64,
        as: Entry.Type
    ) throws(LogError) -> Entry {
        let result: Result<Entry, LogError> = withUnsafeTemporaryAllocation(byteCount: Entry.size, alignment: 8) {
            raw in
            Result { () throws(LogError) in
                let count = try handle.read(into: raw, at: i * Entry.size)
                guard count == Entry.size else {
                    throw LogError(.corruptIndex, "\(handle.path): entry \(i) is past the end of the file")
                }
                return Entry(decoding: UnsafeRawBufferPointer(raw), baseOffset: baseOffset)
            }
        }
        return try result.get()
    }

    /// The index of the last entry for which `isAtOrBelow` holds, assuming it holds for a prefix of the entries.
    static func lastIndex<Entry: IndexEntryCoding>(
        count: Int,
        in handle: FileHandle,
        baseOffset: Int64,
        as: Entry.Type,
        where isAtOrBelow: (Entry) -> Bool
    ) throws(LogError) -> Int? {
        var low = 0
        var high = count - 1
        var found: Int?
        while low <= high {
            let middle = (low + high) / 2
            if isAtOrBelow(try entry(middle, in: handle, baseOffset: baseOffset, as: Entry.self)) {
                found = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return found
    }

    /// Reads all entries of a file in bounded chunks and checks that they can describe the segment.
    ///
    /// - Returns: the entries' count and the last entry, or `nil` if the file is corrupt.
    static func validate<Entry: IndexEntryCoding>(
        _ handle: FileHandle,
        baseOffset: Int64,
        as: Entry.Type,
        isValidSuccessor: (Entry?, Entry) -> Bool
    ) throws(LogError) -> (count: Int, last: Entry?)? {
        let size = try handle.size()
        guard size % Entry.size == 0, size <= maxFileBytes else { return nil }
        let count = size / Entry.size
        let entriesPerChunk = 8192
        var previous: Entry?
        var index = 0
        while index < count {
            let n = min(entriesPerChunk, count - index)
            let chunk = try handle.read(at: index * Entry.size, count: n * Entry.size)
            guard chunk.readableBytes == n * Entry.size else { return nil }
            let valid = chunk.withUnsafeReadableBytes { raw -> Bool in
                for i in 0..<n {
                    let entry = Entry(
                        decoding: UnsafeRawBufferPointer(rebasing: raw[i * Entry.size..<(i + 1) * Entry.size]),
                        baseOffset: baseOffset
                    )
                    guard isValidSuccessor(previous, entry) else { return false }
                    previous = entry
                }
                return true
            }
            guard valid else { return nil }
            index += n
        }
        return (count, previous)
    }
}

/// A segment's offset and time indexes as its batches are added, with Kafka's sparse-index rules: one offset-index
/// entry per `indexIntervalBytes` of log (naming the last offset of the batch that starts at its position; the first
/// batch never gets one), and one time-index entry, at an offset-index entry, when the largest timestamp has grown.
struct SegmentIndexes {
    let indexIntervalBytes: Int
    var offsets = IndexBuffer<OffsetIndexEntry>()
    var times = IndexBuffer<TimeIndexEntry>()
    var bytesSinceLastEntry = 0
    /// The largest record timestamp so far, and the last offset of the batch it was first seen in.
    var maxTimestamp: Int64 = -1
    var offsetOfMaxTimestamp: Int64 = -1

    init(indexIntervalBytes: Int) {
        self.indexIntervalBytes = indexIntervalBytes
    }

    /// Accounts for a batch of `size` bytes written at `position`.
    mutating func add(position: Int, size: Int, lastOffset: Int64, maxTimestamp batchMaxTimestamp: Int64) {
        if batchMaxTimestamp > maxTimestamp {
            maxTimestamp = batchMaxTimestamp
            offsetOfMaxTimestamp = lastOffset
        }
        if bytesSinceLastEntry > indexIntervalBytes {
            offsets.entries.append(OffsetIndexEntry(offset: lastOffset, position: position))
            if let entry = grownTimeEntry { times.entries.append(entry) }
            bytesSinceLastEntry = 0
        }
        bytesSinceLastEntry += size
    }

    mutating func add(_ batch: ScannedBatch) {
        add(position: batch.position, size: batch.size, lastOffset: batch.lastOffset, maxTimestamp: batch.maxTimestamp)
    }

    /// The final time-index entry Kafka writes when a segment is sealed or closed: the largest timestamp, if the
    /// index does not end with it yet.
    mutating func appendFinalTimeEntry() {
        if let entry = grownTimeEntry { times.entries.append(entry) }
    }

    private var grownTimeEntry: TimeIndexEntry? {
        guard maxTimestamp >= 0, offsetOfMaxTimestamp >= 0 else { return nil }
        if let last = times.last, last.timestamp >= maxTimestamp { return nil }
        return TimeIndexEntry(timestamp: maxTimestamp, offset: offsetOfMaxTimestamp)
    }

    /// Writes the entries not yet in the index files (which hold exactly the persisted ones).
    mutating func persist(offsetIndex: String, timeIndex: String, baseOffset: Int64) throws(LogError) {
        if offsets.persisted < offsets.entries.count {
            try offsets.persist(to: FileHandle(path: offsetIndex, mode: .readWriteCreate), baseOffset: baseOffset)
        }
        if times.persisted < times.entries.count {
            try times.persist(to: FileHandle(path: timeIndex, mode: .readWriteCreate), baseOffset: baseOffset)
        }
    }

    /// What a sealed segment with these indexes knows about itself.
    var sealedState: LogSegment.SealedState {
        LogSegment.SealedState(
            offsetEntries: offsets.entries.count,
            timeEntries: times.entries.count,
            maxTimestamp: maxTimestamp,
            offsetOfMaxTimestamp: offsetOfMaxTimestamp
        )
    }

    /// What ``scan(_:from:end:baseOffset:expectedNextOffset:upperBound:onBatch:)`` found.
    struct ScanOutcome {
        /// The position after the last valid batch.
        var validEnd: Int
        /// The offset after the last valid batch.
        var nextOffset: Int64
        /// Why the first damaged range is damaged, if there is one (for log lines).
        var stopReason: String? { damaged.first?.reason }
        /// The stretches of the file that hold no valid batch, in order.
        var damaged: [DamagedRange] = []
    }

    /// Adds every valid batch of `[from, end)` of a segment's log, in order. A stretch that is not a valid batch
    /// (partial, failing its CRC, out of order, not indexable relative to `baseOffset`) is recorded as a
    /// ``DamagedRange`` and skipped: the scan goes on from the next valid batch, so one bad byte never costs the
    /// batches after it. Offsets must lie below `upperBound` (the next segment's base offset).
    mutating func scan(
        _ handle: FileHandle,
        from: Int,
        end: Int,
        baseOffset: Int64,
        expectedNextOffset: Int64,
        upperBound: Int64 = Int64.max,
        onBatch: (ScannedBatch) -> Void = { _ in }
    ) throws(LogError) -> ScanOutcome {
        var sequence = BatchSequence(upperBound: upperBound, previousLast: expectedNextOffset - 1)
        var outcome = ScanOutcome(validEnd: from, nextOffset: expectedNextOffset)
        func commit(_ batch: ScannedBatch) {
            add(batch)
            onBatch(batch)
            outcome.nextOffset = batch.lastOffset + 1
            outcome.validEnd = batch.nextPosition
        }
        var position = from
        while true {
            var scanner = BatchScanner(handle: handle, from: position, end: end)
            var damage: (position: Int, resumeFrom: Int, reason: String, intact: ScannedBatch?)?
            while damage == nil {
                switch try scanner.next(verifyChecksum: true) {
                case .batch(let batch):
                    guard batch.lastOffset - baseOffset <= Int64(Int32.max), batch.baseOffset >= baseOffset else {
                        damage = (
                            batch.position, batch.nextPosition,
                            "batch at position \(batch.position) has offsets \(batch.baseOffset)...\(batch.lastOffset), which a segment based at \(baseOffset) cannot hold",
                            batch
                        )
                        continue
                    }
                    switch sequence.next(batch) {
                    case .accepted(let confirmed):
                        if let confirmed { commit(confirmed) }
                    case .heldWasDamaged(let range):
                        outcome.damaged.append(range)
                    case .outOfOrder(let reason):
                        // Its CRC holds, so its length does: the search for the next batch starts after it.
                        damage = (batch.position, batch.nextPosition, reason, batch)
                    }
                case .end:
                    if let last = sequence.finish() { commit(last) }
                    return outcome
                case .partial(let at, let reason), .corrupt(let at, let reason):
                    damage = (at, at + 1, reason, nil)
                }
            }
            guard let damage else { continue }
            if let last = sequence.finish() { commit(last) }
            let expected = sequence.expected
            let next = try BatchScanner.nextValidBatch(
                handle: handle,
                from: damage.resumeFrom,
                end: end,
                expected: expected,
                upperBound: upperBound
            )
            // An intact batch (its CRC holds) out of order, exactly filling the gap to the next one: only its base
            // offset changed, and its neighbours say what it was.
            var corrected: Int64?
            if let intact = damage.intact, let expected, let next, next.position == intact.nextPosition,
                next.baseOffset == expected + (intact.lastOffset - intact.baseOffset + 1)
            {
                corrected = expected
            }
            outcome.damaged.append(
                DamagedRange(
                    position: damage.position,
                    end: next?.position ?? end,
                    firstOffset: expected ?? baseOffset,
                    nextOffset: next?.baseOffset ?? upperBound,
                    correctedBaseOffset: corrected,
                    reason: damage.reason
                )
            )
            guard let next else { return outcome }
            position = next.position
        }
    }
}
