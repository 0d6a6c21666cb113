import Logging
import RunnelRecords

extension PartitionLog {
    /// What the log manager knows about a log from its checkpoint files.
    struct LoadOptions {
        var recoveryPoint: Int64?
        var logStartOffset: Int64?
        var cleanerCheckpoint: Int64?
        /// The previous process wrote the clean-shutdown marker: nothing needs re-validating.
        var cleanShutdown: Bool
    }

    /// What loading found, for the log line and for tests.
    struct LoadReport: Sendable {
        var segments = 0
        var recoveredSegments = 0
        var scannedBytes = 0
        var truncatedBytes = 0
        var deletedSegments = 0
        /// Damaged ranges set aside (``DamagedRange``).
        var damagedRanges = 0
    }

    /// Creates the directory and first segment of a new, empty log.
    static func create(
        topicPartition: TopicPartition,
        directory: String,
        config: LogConfig,
        io: LogIO
    ) throws(LogError) -> PartitionLog {
        try FileSystem.createDirectory(directory)
        let now = io.clock.nowMilliseconds()
        let segment = try LogSegment.create(
            directory: directory,
            baseOffset: 0,
            cache: io.handles,
            indexIntervalBytes: config.indexIntervalBytes,
            nowMs: now
        )
        var epochs = LeaderEpochCache()
        try epochs.write(directory: directory)
        try FileSystem.syncDirectory(directory)
        try FileSystem.syncDirectory(FileSystem.parent(of: directory))
        return PartitionLog(
            topicPartition: topicPartition,
            directory: directory,
            io: io,
            state: State(
                config: config,
                segments: [segment],
                logStartOffset: 0,
                logEndOffset: 0,
                visibleSegmentBase: 0,
                visiblePosition: 0,
                writtenOffset: 0,
                flushedOffset: 0,
                recoveryPoint: 0,
                lastFlushMs: now,
                leaderEpochs: epochs
            )
        )
    }

    /// Opens an existing log directory, recovering it if the previous process did not shut down cleanly.
    ///
    /// As Kafka's `LogLoader`: temporary files are removed, interrupted compaction swaps are completed, and without
    /// the clean-shutdown marker every segment from the one holding the recovery point on is re-validated batch by
    /// batch (size, CRC, offsets), with its indexes rebuilt. Unlike Kafka, damage does not cost what follows it: a
    /// torn tail of the last segment (no valid batch after it) is cut off, any other invalid stretch is set aside as
    /// a ``DamagedRange`` and the valid batches and segments after it are kept.
    static func load(
        topicPartition: TopicPartition,
        directory: String,
        config: LogConfig,
        io: LogIO,
        options: LoadOptions
    ) throws(LogError) -> (PartitionLog, LoadReport) {
        var report = LoadReport()
        var bases = try prepareSegmentFiles(directory: directory)
        let now = io.clock.nowMilliseconds()
        if bases.isEmpty {
            let start = max(options.logStartOffset ?? 0, 0)
            _ = try LogSegment.create(
                directory: directory,
                baseOffset: start,
                cache: io.handles,
                indexIntervalBytes: config.indexIntervalBytes,
                nowMs: now
            )
            bases = [start]
        }
        var segments: [LogSegment] = []
        for base in bases {
            segments.append(
                try LogSegment.existing(
                    directory: directory,
                    baseOffset: base,
                    cache: io.handles,
                    indexIntervalBytes: config.indexIntervalBytes
                )
            )
        }
        PartitionLog.assignUpperBounds(segments)

        var epochs: LeaderEpochCache
        do {
            epochs = try LeaderEpochCache.read(directory: directory) ?? LeaderEpochCache()
        } catch {
            io.logger.warning(
                "Ignoring unreadable leader epoch checkpoint",
                metadata: ["topicPartition": "\(topicPartition)", "error": "\(error)"]
            )
            epochs = LeaderEpochCache()
            epochs.isDirty = true
        }

        // Re-validate from the segment holding the recovery point (after a clean shutdown: only the last segment,
        // and only its tail past the last index entry).
        let checkpoint = options.recoveryPoint ?? 0
        let first: Int
        if options.cleanShutdown {
            first = segments.count - 1
        } else {
            first = segments.lastIndex(where: { $0.baseOffset <= checkpoint }) ?? 0
        }
        var nextOffset = segments[first].baseOffset
        var index = first
        while index < segments.count {
            let segment = segments[index]
            let isLast = index == segments.count - 1
            let outcome = try segment.recover(
                trustedBelow: options.cleanShutdown ? .max : checkpoint,
                isLast: isLast
            ) { batch in
                epochs.assign(epoch: batch.partitionLeaderEpoch, startOffset: batch.baseOffset)
            }
            report.recoveredSegments += 1
            report.scannedBytes += outcome.scannedBytes
            report.truncatedBytes += outcome.truncatedBytes
            report.damagedRanges += outcome.damaged.count
            if isLast { nextOffset = outcome.nextOffset }
            if outcome.truncatedBytes > 0 {
                io.logger.warning(
                    "Truncated a torn write at the end of the log",
                    metadata: [
                        "topicPartition": "\(topicPartition)", "segment": "\(segment.baseOffset)",
                        "bytes": "\(outcome.truncatedBytes)", "reason": "\(outcome.truncationReason ?? "")",
                    ]
                )
            }
            if !isLast { try segment.seal() }
            index += 1
        }

        var logStartOffset = max(options.logStartOffset ?? 0, segments[0].baseOffset)
        if nextOffset < logStartOffset {
            // The log ends below its checkpointed start: nothing in it is readable any more (Kafka deletes it all).
            for segment in segments {
                try segment.retire()
                try segment.deleteRetiredFiles()
                report.deletedSegments += 1
            }
            segments = [
                try LogSegment.create(
                    directory: directory,
                    baseOffset: logStartOffset,
                    cache: io.handles,
                    indexIntervalBytes: config.indexIntervalBytes,
                    nowMs: now
                )
            ]
            nextOffset = logStartOffset
            epochs = LeaderEpochCache()
            epochs.isDirty = true
        }
        logStartOffset = min(logStartOffset, nextOffset)
        epochs.truncate(fromEnd: nextOffset)
        epochs.truncate(fromStart: logStartOffset)
        if epochs.entries.isEmpty && nextOffset > logStartOffset {
            epochs.assign(epoch: 0, startOffset: logStartOffset)
        }
        if epochs.isDirty { try epochs.write(directory: directory) }

        let recoveryPoint = options.cleanShutdown ? nextOffset : min(checkpoint, nextOffset)
        report.segments = segments.count
        let active = segments[segments.count - 1]
        let log = PartitionLog(
            topicPartition: topicPartition,
            directory: directory,
            io: io,
            state: State(
                config: config,
                segments: segments,
                logStartOffset: logStartOffset,
                logEndOffset: nextOffset,
                visibleSegmentBase: active.baseOffset,
                visiblePosition: active.size,
                writtenOffset: nextOffset,
                flushedOffset: recoveryPoint,
                recoveryPoint: recoveryPoint,
                lastFlushMs: now,
                leaderEpochs: epochs,
                cleanerCheckpoint: options.cleanerCheckpoint.map { min(max($0, logStartOffset), nextOffset) }
            )
        )
        return (log, report)
    }

    /// Removes temporary files, completes interrupted swaps, and returns the base offsets of the `.log` files.
    private static func prepareSegmentFiles(directory: String) throws(LogError) -> [Int64] {
        var logs: Set<Int64> = []
        var indexes: [(base: Int64, name: String)] = []
        var swaps: [Int64: [(kind: String, name: String)]] = [:]
        for name in try FileSystem.listDirectory(directory) {
            let path = directory + "/" + name
            if name.hasSuffix(".tmp") {
                try FileSystem.removeFile(path)
                continue
            }
            guard let (base, kind, suffix) = SegmentFileName.parse(name) else { continue }
            switch suffix {
            case "":
                if kind == SegmentFileName.log { logs.insert(base) } else { indexes.append((base, name)) }
            case ".deleted", ".cleaned":
                try FileSystem.removeFile(path)
            case ".swap":
                swaps[base, default: []].append((kind, name))
            default:
                continue
            }
        }

        // A `.log.swap` is a compaction result whose files were all written and synced: finish replacing the
        // segments it covers. Index swaps without a log swap belong to a swap that never committed.
        for (base, files) in swaps.sorted(by: { $0.key < $1.key }) {
            guard files.contains(where: { $0.kind == SegmentFileName.log }) else {
                for file in files { try FileSystem.removeFile(directory + "/" + file.name) }
                continue
            }
            let swapLogPath = "\(directory)/\(SegmentFileName.prefix(base))\(SegmentFileName.log).swap"
            let end = try nextOffset(ofLogFile: swapLogPath) ?? base
            for covered in logs where covered >= base && covered < max(end, base + 1) {
                for kind in [SegmentFileName.log, SegmentFileName.offsetIndex, SegmentFileName.timeIndex] {
                    try FileSystem.removeFile("\(directory)/\(SegmentFileName.prefix(covered))\(kind)")
                }
                logs.remove(covered)
            }
            indexes.removeAll { $0.base >= base && $0.base < max(end, base + 1) }
            for file in files {
                let final = String(file.name.dropLast(".swap".count))
                try FileSystem.move(directory + "/" + file.name, to: directory + "/" + final)
            }
            logs.insert(base)
        }
        for index in indexes where !logs.contains(index.base) {
            try FileSystem.removeFile(directory + "/" + index.name)
        }
        try FileSystem.syncDirectory(directory)
        return logs.sorted()
    }

    /// The offset after the last complete batch of a `.log` file.
    private static func nextOffset(ofLogFile path: String) throws(LogError) -> Int64? {
        let handle = try FileHandle(path: path, mode: .readOnly)
        var scanner = BatchScanner(handle: handle, end: try handle.size())
        var next: Int64?
        while case .batch(let batch) = try scanner.next(verifyChecksum: false) {
            next = batch.lastOffset + 1
        }
        return next
    }
}
