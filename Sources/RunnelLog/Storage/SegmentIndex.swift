import NIOCore

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

/// Kafka's sparse-index rules: one offset-index entry per `indexIntervalBytes`, one time-index entry when the
/// largest timestamp grows at an offset-index entry.
struct IndexBuilder {
    let indexIntervalBytes: Int
    var bytesSinceLastEntry = 0
    var maxTimestamp: Int64 = -1
    var offsetOfMaxTimestamp: Int64 = -1

    /// Adds a batch written at `position`; returns the entries to add, if any.
    mutating func add(
        position: Int,
        size: Int,
        lastOffset: Int64,
        maxTimestamp batchMaxTimestamp: Int64,
        lastTimeEntry: TimeIndexEntry?
    ) -> (OffsetIndexEntry, TimeIndexEntry?)? {
        if batchMaxTimestamp > maxTimestamp {
            maxTimestamp = batchMaxTimestamp
            offsetOfMaxTimestamp = lastOffset
        }
        var result: (OffsetIndexEntry, TimeIndexEntry?)?
        if bytesSinceLastEntry > indexIntervalBytes {
            result = (OffsetIndexEntry(offset: lastOffset, position: position), timeEntryIfGrown(lastTimeEntry))
            bytesSinceLastEntry = 0
        }
        bytesSinceLastEntry += size
        return result
    }

    /// A time-index entry for the current maximum, if it is larger than the last one written.
    func timeEntryIfGrown(_ last: TimeIndexEntry?) -> TimeIndexEntry? {
        guard maxTimestamp >= 0, offsetOfMaxTimestamp >= 0 else { return nil }
        if let last, last.timestamp >= maxTimestamp { return nil }
        return TimeIndexEntry(timestamp: maxTimestamp, offset: offsetOfMaxTimestamp)
    }
}
