import NIOCore
import RunnelRecords

/// The header of a batch found in a `.log` file, with its position.
struct ScannedBatch: Sendable {
    var position: Int
    var size: Int
    var baseOffset: Int64
    var lastOffset: Int64
    var maxTimestamp: Int64
    var partitionLeaderEpoch: Int32
    var recordCount: Int32
    var nextPosition: Int { position + size }
}

/// Walks the batches of a `.log` file in order, reading it in bounded chunks.
///
/// It never trusts a length field for an allocation: a batch larger than the chunk is checked by streaming its CRC,
/// and a length that runs past the end of the file is reported as a partial batch.
struct BatchScanner {
    enum Step {
        case batch(ScannedBatch)
        /// The scan reached `end` exactly.
        case end
        /// Bytes remain, but too few for the batch they start (a torn write at the tail).
        case partial(position: Int, reason: String)
        /// The bytes at `position` are not a valid batch.
        case corrupt(position: Int, reason: String)
    }

    static let defaultChunkSize = 1 << 20

    let handle: FileHandle
    let end: Int
    private(set) var position: Int
    private let chunkSize: Int
    private var chunk = ByteBuffer()
    private var chunkStart = 0

    init(handle: FileHandle, from position: Int = 0, end: Int, chunkSize: Int = BatchScanner.defaultChunkSize) {
        self.handle = handle
        self.position = position
        self.end = end
        self.chunkSize = chunkSize
    }

    /// Makes `[start, start + count)` available in `chunk`; returns false if the file is shorter.
    private mutating func load(_ start: Int, _ count: Int) throws(LogError) -> Bool {
        if start >= chunkStart, start + count <= chunkStart + chunk.readableBytes { return true }
        let length = min(max(count, chunkSize), end - start)
        guard length >= count else { return false }
        chunk = try handle.read(at: start, count: length)
        chunkStart = start
        return chunk.readableBytes >= count
    }

    private func slice(_ start: Int, _ count: Int) -> ByteBuffer? {
        chunk.getSlice(at: chunk.readerIndex + start - chunkStart, length: count)
    }

    /// The next batch's header; with `verifyChecksum`, only batches whose CRC matches are returned.
    mutating func next(verifyChecksum: Bool) throws(LogError) -> Step {
        let remaining = end - position
        if remaining <= 0 { return .end }
        guard remaining >= RecordBatch.headerSize, try load(position, RecordBatch.headerSize),
            let header = slice(position, RecordBatch.headerSize)
        else {
            return .partial(position: position, reason: "\(remaining) trailing bytes are less than a batch header")
        }
        let baseOffset = header.getInteger(at: header.readerIndex, as: Int64.self) ?? 0
        let length = Int(header.getInteger(at: header.readerIndex + RecordBatch.Field.length, as: Int32.self) ?? 0)
        let magic = header.getInteger(at: header.readerIndex + RecordBatch.Field.magic, as: Int8.self) ?? 0
        let size = length + RecordBatch.logOverhead
        guard size >= RecordBatch.headerSize else {
            return .corrupt(position: position, reason: "batch length \(length) is smaller than a v2 batch header")
        }
        guard magic == RecordBatch.magicValue else {
            return .corrupt(position: position, reason: "magic \(magic) is not 2 (only RecordBatch v2 is supported)")
        }
        guard size <= remaining else {
            return .partial(
                position: position,
                reason: "batch at position \(position) claims \(size) bytes but only \(remaining) remain"
            )
        }
        let lastOffsetDelta =
            header.getInteger(at: header.readerIndex + RecordBatch.Field.lastOffsetDelta, as: Int32.self) ?? 0
        let recordCount = header.getInteger(at: header.readerIndex + RecordBatch.Field.recordCount, as: Int32.self) ?? 0
        let scanned = ScannedBatch(
            position: position,
            size: size,
            baseOffset: baseOffset,
            lastOffset: baseOffset &+ Int64(lastOffsetDelta),
            maxTimestamp: header.getInteger(at: header.readerIndex + RecordBatch.Field.maxTimestamp, as: Int64.self)
                ?? -1,
            partitionLeaderEpoch: header.getInteger(
                at: header.readerIndex + RecordBatch.Field.partitionLeaderEpoch,
                as: Int32.self
            ) ?? -1,
            recordCount: recordCount
        )
        if verifyChecksum {
            let stored = header.getInteger(at: header.readerIndex + RecordBatch.Field.crc, as: UInt32.self) ?? 0
            let computed = try checksum(batchAt: position, size: size)
            guard stored == computed else {
                return .corrupt(
                    position: position,
                    reason: "batch at offset \(baseOffset) has CRC \(hex(stored)) but its bytes give \(hex(computed))"
                )
            }
            guard lastOffsetDelta >= 0, recordCount >= 0 else {
                return .corrupt(
                    position: position,
                    reason:
                        "batch at offset \(baseOffset) has record count \(recordCount) and last offset delta \(lastOffsetDelta)"
                )
            }
        }
        position += size
        return .batch(scanned)
    }

    /// The CRC-32C of a batch's covered bytes, streamed through the chunk buffer for batches larger than a chunk.
    private mutating func checksum(batchAt start: Int, size: Int) throws(LogError) -> UInt32 {
        var crc: UInt32 = 0
        var from = start + RecordBatch.Field.crc + 4
        let to = start + size
        while from < to {
            let count = min(to - from, chunkSize)
            guard try load(from, count), let piece = slice(from, count) else {
                throw LogError(.storage, "\(handle.path) is shorter than expected at \(from)")
            }
            crc = piece.withUnsafeReadableBytes { CRC32C.checksum($0, extending: crc) }
            from += count
        }
        return crc
    }

    /// The whole batch at a scanned position (allocates its size, which the file's length already bounds).
    mutating func batch(_ scanned: ScannedBatch) throws(LogError) -> RecordBatch {
        let bytes: ByteBuffer
        if scanned.size <= chunkSize, try load(scanned.position, scanned.size),
            let slice = slice(scanned.position, scanned.size)
        {
            bytes = slice
        } else {
            bytes = try handle.read(at: scanned.position, count: scanned.size)
        }
        return try recordFormat { () throws(RecordError) in try RecordBatch(bytes: bytes) }
    }
}
