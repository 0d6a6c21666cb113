import NIOCore
import RunnelRecords

/// Offline checks of a logs directory (`runnel check-logs`): every batch of every segment is validated as recovery
/// validates them (CRC, length, offsets against neighbours and the next segment), and damaged ranges are listed;
/// ``repair(logsDirectory:)`` then rewrites each damaged segment without them, restoring a batch whose only damage
/// was its base offset. Blocking file I/O: run it in a tool, not on a server's cooperative pool.
public enum LogCheck {
    /// One damaged range of one segment.
    public struct Finding: Sendable, Hashable {
        /// `<topic>-<partition>`.
        public var partition: String
        public var segment: Int64
        public var range: DamagedRange
    }

    /// What a repair did to one segment.
    public struct Repair: Sendable, Hashable {
        public var partition: String
        public var segment: Int64
        /// Bytes dropped, and batches restored (their base offset written back).
        public var droppedBytes: Int
        public var restoredBatches: Int
        /// Offsets no longer in the log (in the dropped bytes).
        public var lostOffsets: [ClosedRange<Int64>]
    }

    /// Every damaged range under `logsDirectory` (`<data-dir>/logs`), by partition and segment.
    public static func scan(logsDirectory: String) throws(LogError) -> [Finding] {
        var findings: [Finding] = []
        for partition in try partitions(logsDirectory) {
            let directory = logsDirectory + "/" + partition
            let bases = try segmentBases(directory)
            for (index, base) in bases.enumerated() {
                let upperBound = index + 1 < bases.count ? bases[index + 1] : Int64.max
                for range in try damage(directory: directory, base: base, upperBound: upperBound) {
                    findings.append(Finding(partition: partition, segment: base, range: range))
                }
            }
        }
        return findings
    }

    /// Rewrites every damaged segment under `logsDirectory` without its damaged ranges (a batch with a known
    /// corrected base offset is kept, with that offset). The caller holds the data directory's lock: no server may
    /// run on it. Each segment is replaced atomically; its indexes are rebuilt by the next start.
    public static func repair(logsDirectory: String) throws(LogError) -> [Repair] {
        var repairs: [Repair] = []
        let findings = try scan(logsDirectory: logsDirectory)
        let bySegment = Dictionary(grouping: findings) { "\($0.partition)/\($0.segment)" }
        for key in bySegment.keys.sorted() {
            guard let group = bySegment[key], let first = group.first else { continue }
            let directory = logsDirectory + "/" + first.partition
            repairs.append(
                try rewrite(directory: directory, partition: first.partition, base: first.segment, group.map(\.range))
            )
        }
        return repairs
    }

    private static func rewrite(
        directory: String,
        partition: String,
        base: Int64,
        _ ranges: [DamagedRange]
    ) throws(LogError) -> Repair {
        let prefix = directory + "/" + SegmentFileName.prefix(base)
        let source = try FileHandle(path: prefix + SegmentFileName.log, mode: .readOnly)
        let size = try source.size()
        let temporary = prefix + SegmentFileName.log + ".repair.tmp"
        let target = try FileHandle(path: temporary, mode: .createTruncate)
        var written = 0
        var from = 0
        var repair = Repair(partition: partition, segment: base, droppedBytes: 0, restoredBatches: 0, lostOffsets: [])
        func copy(_ start: Int, _ end: Int) throws(LogError) {
            var position = start
            while position < end {
                let count = min(end - position, 1 << 20)
                let bytes = try source.read(at: position, count: count)
                try target.write(bytes, at: written)
                written += bytes.readableBytes
                position += count
            }
        }
        for range in ranges.sorted(by: { $0.position < $1.position }) {
            try copy(from, range.position)
            if let corrected = range.correctedBaseOffset {
                // Only the base offset (outside the CRC) was wrong: the batch goes back with the right one.
                var bytes = try source.read(at: range.position, count: range.end - range.position)
                bytes.setInteger(corrected, at: bytes.readerIndex)
                try target.write(bytes, at: written)
                written += bytes.readableBytes
                repair.restoredBatches += 1
            } else {
                repair.droppedBytes += range.end - range.position
                if range.nextOffset > range.firstOffset {
                    let last = range.nextOffset == Int64.max ? Int64.max : range.nextOffset - 1
                    repair.lostOffsets.append(range.firstOffset...last)
                }
            }
            from = range.end
        }
        try copy(from, size)
        try target.sync()
        try FileSystem.move(temporary, to: prefix + SegmentFileName.log)
        // Rebuilt from the repaired log when next needed.
        for kind in [SegmentFileName.offsetIndex, SegmentFileName.timeIndex, SegmentFileName.quarantine] {
            try FileSystem.removeFile(prefix + kind)
        }
        try FileSystem.syncDirectory(directory)
        return repair
    }

    /// The damaged ranges of one segment, validated from its first byte.
    private static func damage(directory: String, base: Int64, upperBound: Int64) throws(LogError) -> [DamagedRange] {
        let handle = try FileHandle(
            path: directory + "/" + SegmentFileName.prefix(base) + SegmentFileName.log,
            mode: .readOnly
        )
        var indexes = SegmentIndexes(indexIntervalBytes: 4096)
        return try indexes.scan(
            handle,
            from: 0,
            end: try handle.size(),
            baseOffset: base,
            expectedNextOffset: base,
            upperBound: upperBound
        ).damaged
    }

    private static func partitions(_ logsDirectory: String) throws(LogError) -> [String] {
        try FileSystem.listDirectory(logsDirectory).filter { name in
            FileSystem.isDirectory(logsDirectory + "/" + name) && (try? TopicPartition(directoryName: name)) != nil
        }.sorted()
    }

    private static func segmentBases(_ directory: String) throws(LogError) -> [Int64] {
        try FileSystem.listDirectory(directory).compactMap { name -> Int64? in
            guard let (base, kind, suffix) = SegmentFileName.parse(name), kind == SegmentFileName.log, suffix.isEmpty
            else { return nil }
            return base
        }.sorted()
    }
}
