import NIOCore
import RunnelRecords

/// A stretch of a segment's log file where no valid batch can be read (a failed CRC, an impossible length, offsets
/// out of order), set aside so the rest of the partition stays readable: reads of the offsets it covered fail with
/// CORRUPT_MESSAGE naming them, reads before and after it are served as usual, and nothing around it is truncated or
/// deleted. `runnel check-logs` lists these ranges, and with `--repair` removes them (or restores a batch whose
/// only damage is its base offset).
public struct DamagedRange: Sendable, Hashable, CustomStringConvertible {
    /// The first damaged byte, and the position of the next valid batch (or the file's end).
    public var position: Int
    public var end: Int
    /// The first offset that cannot be read, and the first one readable after the range.
    public var firstOffset: Int64
    public var nextOffset: Int64
    /// For a batch whose bytes are intact but whose base offset (outside the CRC) was changed: the base offset its
    /// neighbours show it had, which a repair writes back.
    public var correctedBaseOffset: Int64?
    public var reason: String

    public init(
        position: Int,
        end: Int,
        firstOffset: Int64,
        nextOffset: Int64,
        correctedBaseOffset: Int64? = nil,
        reason: String
    ) {
        self.position = position
        self.end = end
        self.firstOffset = firstOffset
        self.nextOffset = nextOffset
        self.correctedBaseOffset = correctedBaseOffset
        self.reason = reason
    }

    /// Whether `offset` is one of the offsets the range made unreadable.
    public func covers(offset: Int64) -> Bool { offset >= firstOffset && offset < nextOffset }

    public var offsetsDescription: String {
        nextOffset == Int64.max ? "offsets \(firstOffset) and after" : "offsets \(firstOffset) to \(nextOffset - 1)"
    }

    public var description: String {
        "\(offsetsDescription) (bytes \(position) to \(end - 1)): \(reason)"
    }
}

/// A damaged range and the segment it is in.
public struct SegmentDamage: Sendable, Hashable {
    /// The segment's base offset.
    public var segment: Int64
    public var range: DamagedRange
}

/// `<base offset>.quarantine`, beside the segment: one line per damaged range,
/// `position end firstOffset nextOffset correctedBase|- reason`.
enum QuarantineFile {
    static func read(_ path: String) -> [DamagedRange] {
        guard FileSystem.fileExists(path), let buffer = try? FileSystem.readFile(path, maxBytes: 1 << 20) else {
            return []
        }
        var ranges: [DamagedRange] = []
        for line in String(buffer: buffer).split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false)
            guard fields.count >= 5, let position = Int(fields[0]), let end = Int(fields[1]),
                let first = Int64(fields[2]), let next = Int64(fields[3])
            else { continue }
            ranges.append(
                DamagedRange(
                    position: position,
                    end: end,
                    firstOffset: first,
                    nextOffset: next,
                    correctedBaseOffset: Int64(fields[4]),
                    reason: fields.count > 5 ? String(fields[5]) : ""
                )
            )
        }
        return ranges.sorted { $0.position < $1.position }
    }

    /// Replaces the file (removes it when there is nothing to say).
    static func write(_ path: String, _ ranges: [DamagedRange]) throws(LogError) {
        guard !ranges.isEmpty else {
            try FileSystem.removeFile(path)
            return
        }
        let text = ranges.map { range in
            let reason = range.reason.replacingNewlines()
            let corrected = range.correctedBaseOffset.map(String.init) ?? "-"
            return "\(range.position) \(range.end) \(range.firstOffset) \(range.nextOffset) \(corrected) \(reason)\n"
        }.joined()
        try FileSystem.writeAtomically(path, contents: text)
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}

/// The order a segment's batches must keep: each starts after the previous one ends, and none reaches the next
/// segment's base offset. It holds back the last batch it accepted until the next one confirms it, so that a batch
/// whose base offset (which its CRC does not cover) was moved can be told from the batch after it: when the next
/// batch starts exactly where the held one would end had it started in order, the held one is the damaged one.
struct BatchSequence {
    /// The first offset the next segment holds (Int64.max for the last segment).
    let upperBound: Int64
    /// The last offset of the last batch confirmed (nil when unknown: reading from the middle of a segment).
    private(set) var confirmedLast: Int64?
    /// The batch accepted last, not yet confirmed, and where it should have started.
    private(set) var held: (batch: ScannedBatch, expected: Int64?)?

    init(upperBound: Int64, previousLast: Int64?) {
        self.upperBound = upperBound
        confirmedLast = previousLast
    }

    enum Verdict {
        /// In order; `confirmed` is the batch it confirms (the one held before), if any.
        case accepted(confirmed: ScannedBatch?)
        /// The held batch was the damaged one (its base offset moved): `range` covers it; this batch is now held.
        case heldWasDamaged(DamagedRange)
        /// This batch is out of order.
        case outOfOrder(reason: String)
    }

    /// The offset the next batch may start at, at the earliest.
    var expected: Int64? {
        if let held { return held.batch.lastOffset + 1 }
        return confirmedLast.map { $0 + 1 }
    }

    mutating func next(_ batch: ScannedBatch) -> Verdict {
        let expected = self.expected
        let inOrder =
            (expected.map { batch.baseOffset >= $0 } ?? true) && batch.lastOffset >= batch.baseOffset
            && batch.lastOffset < upperBound
        if inOrder {
            let confirmed = held?.batch
            if let confirmed { confirmedLast = confirmed.lastOffset }
            held = (batch, expected)
            return .accepted(confirmed: confirmed)
        }
        if let (previous, previousExpected) = held, let previousExpected, previous.baseOffset > previousExpected,
            batch.baseOffset == previousExpected + (previous.lastOffset - previous.baseOffset + 1),
            batch.lastOffset >= batch.baseOffset, batch.lastOffset < upperBound
        {
            let range = DamagedRange(
                position: previous.position,
                end: previous.nextPosition,
                firstOffset: previousExpected,
                nextOffset: batch.baseOffset,
                correctedBaseOffset: previousExpected,
                reason:
                    "the batch's base offset reads \(previous.baseOffset), but its neighbours show it starts at \(previousExpected)"
            )
            confirmedLast = batch.baseOffset - 1
            held = (batch, batch.baseOffset)
            return .heldWasDamaged(range)
        }
        let bound = upperBound == Int64.max ? "" : " and below \(upperBound)"
        return .outOfOrder(
            reason:
                "batch at position \(batch.position) has offsets \(batch.baseOffset)...\(batch.lastOffset), expected \(expected.map(String.init) ?? "any") or later\(bound)"
        )
    }

    /// Confirms the held batch (the end of the bytes looked at): returns it.
    mutating func finish() -> ScannedBatch? {
        guard let held else { return nil }
        confirmedLast = held.batch.lastOffset
        self.held = nil
        return held.batch
    }
}

extension BatchScanner {
    /// The first position after `from` (and before `end`) where a valid batch that may follow offset `expected`
    /// starts: its header is plausible, its CRC matches, its offsets lie in `[expected, upperBound)`. Every position
    /// is tried (a damaged length leaves no way to know where the next batch begins); only plausible headers cost a
    /// CRC.
    static func nextValidBatch(
        handle: FileHandle,
        from: Int,
        end: Int,
        expected: Int64?,
        upperBound: Int64
    ) throws(LogError) -> ScannedBatch? {
        let window = 1 << 20
        var start = from
        while start + RecordBatch.headerSize <= end {
            let chunk = try handle.read(at: start, count: min(window + RecordBatch.headerSize, end - start))
            let candidates = chunk.readableBytes - RecordBatch.headerSize
            guard candidates >= 0 else { return nil }
            let found: Int? = chunk.withUnsafeReadableBytes { raw -> Int? in
                for index in 0...candidates {
                    guard raw[index + RecordBatch.Field.magic] == UInt8(RecordBatch.magicValue) else { continue }
                    let length = Int(Self.int32(raw, index + RecordBatch.Field.length))
                    let size = length + RecordBatch.logOverhead
                    guard size >= RecordBatch.headerSize, start + index + size <= end else { continue }
                    let delta = Self.int32(raw, index + RecordBatch.Field.lastOffsetDelta)
                    let base = Self.int64(raw, index)
                    guard delta >= 0, base >= (expected ?? 0), base &+ Int64(delta) < upperBound else { continue }
                    return index
                }
                return nil
            }
            if let found {
                var scanner = BatchScanner(handle: handle, from: start + found, end: end, chunkSize: 64 << 10)
                if case .batch(let batch) = try scanner.next(verifyChecksum: true) { return batch }
                // A plausible header with a wrong CRC: look on from the byte after it.
                start += found + 1
                continue
            }
            start += candidates + 1
        }
        return nil
    }

    private static func int32(_ raw: UnsafeRawBufferPointer, _ at: Int) -> Int32 {
        Int32(bitPattern: BigEndian.uint32(raw, at))
    }

    private static func int64(_ raw: UnsafeRawBufferPointer, _ at: Int) -> Int64 {
        Int64(bitPattern: BigEndian.uint64(raw, at))
    }
}

/// Big-endian integers read from raw bytes (the batch header's fields), with no alignment assumed.
enum BigEndian {
    static func uint32(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(raw[at]) << 24 | UInt32(raw[at + 1]) << 16 | UInt32(raw[at + 2]) << 8 | UInt32(raw[at + 3])
    }

    static func uint64(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        UInt64(uint32(raw, at)) << 32 | UInt64(uint32(raw, at + 4))
    }
}
