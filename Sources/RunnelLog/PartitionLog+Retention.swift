import Dispatch
import Logging
import NIOCore
import RunnelRecords
import Synchronization

// Retention and compaction of a partition log: the log start offset, deleting and replacing segments.
extension PartitionLog {
    // MARK: - Log start offset and retention

    /// Moves the log start offset forward (Kafka's DeleteRecords); whole segments below it are deleted by the next
    /// retention pass. Offsets below it are no longer readable.
    public func advanceLogStartOffset(to offset: Int64) throws(LogError) {
        try state.withLock { state throws(LogError) in
            guard offset <= state.logEndOffset else {
                throw LogError(
                    .offsetOutOfRange,
                    "cannot move the log start offset of \(topicPartition) to \(offset), past the log end offset \(state.logEndOffset)"
                )
            }
            if offset > state.logStartOffset {
                state.logStartOffset = offset
                state.leaderEpochs.truncate(fromStart: offset)
            }
        }
    }

    /// Deletes the segments that `retention.ms`, `retention.bytes` or the log start offset make obsolete (whole
    /// non-active segments only; an expired active segment is rolled first). Returns how many were deleted.
    @discardableResult
    public func applyRetention() async throws(LogError) -> Int {
        let now = io.clock.nowMilliseconds()
        let (config, active) = state.withLock { ($0.config, $0.segments.last) }
        if config.cleanupPolicy.contains(.delete), config.retentionMs >= 0, let active, active.size > 0 {
            // Kafka rolls the active segment only when every segment has expired. The active segment is checked
            // first, in memory; the sealed ones (whose timestamps may need reading) only when it has expired.
            let (timestamp, _) = try active.maxTimestampAndOffset()
            if timestamp >= 0, now - timestamp > config.retentionMs {
                let sealedExpired = try await io.run { () throws(LogError) -> Bool in
                    for segment in self.state.withLock({ $0.segments }).dropLast() {
                        if now - (try segment.largestTimestampForRetention()) <= config.retentionMs { return false }
                    }
                    return true
                }
                if sealedExpired { try await roll() }
            }
        }
        return try await io.run { () throws(LogError) -> Int in try self.deleteObsoleteSegments(nowMs: now) }
    }

    private func deleteObsoleteSegments(nowMs: Int64) throws(LogError) -> Int {
        try maintenance.withLock { _ throws(LogError) -> Int in
            let (segments, config, logStartOffset) = state.withLock { ($0.segments, $0.config, $0.logStartOffset) }
            let candidates = Array(segments.dropLast())
            var deletable = 0
            var reason = "log start offset"
            if config.cleanupPolicy.contains(.delete) {
                if config.retentionMs >= 0 {
                    var expired = 0
                    while expired < candidates.count,
                        nowMs - (try candidates[expired].largestTimestampForRetention()) > config.retentionMs
                    {
                        expired += 1
                    }
                    if expired > deletable {
                        deletable = expired
                        reason = "retention.ms"
                    }
                }
                if config.retentionBytes >= 0 {
                    var excess = Int64(segments.reduce(0) { $0 + $1.size }) - config.retentionBytes
                    var oversize = 0
                    while oversize < candidates.count, excess - Int64(candidates[oversize].size) >= 0 {
                        excess -= Int64(candidates[oversize].size)
                        oversize += 1
                    }
                    if oversize > deletable {
                        deletable = oversize
                        reason = "retention.bytes"
                    }
                }
            }
            var belowStart = 0
            while belowStart < candidates.count, segments[belowStart + 1].baseOffset <= logStartOffset {
                belowStart += 1
            }
            deletable = max(deletable, belowStart)
            guard deletable > 0 else { return 0 }

            let victims = Array(candidates.prefix(deletable))
            let newStart = state.withLock { state -> Int64 in
                state.segments.removeFirst(victims.count)
                if let first = state.segments.first {
                    state.logStartOffset = max(state.logStartOffset, first.baseOffset)
                }
                state.leaderEpochs.truncate(fromStart: state.logStartOffset)
                if let checkpoint = state.cleanerCheckpoint, checkpoint < state.logStartOffset {
                    state.cleanerCheckpoint = state.logStartOffset
                }
                return state.logStartOffset
            }
            for segment in victims {
                try segment.retire()
                try segment.deleteRetiredFiles()
            }
            io.logger.info(
                "Deleted log segments",
                metadata: [
                    "topicPartition": "\(topicPartition)", "segments": "\(victims.count)", "reason": "\(reason)",
                    "logStartOffset": "\(newStart)",
                ]
            )
            return victims.count
        }
    }

    // MARK: - Compaction

    /// Replaces `old` (consecutive sealed segments) with the compacted segment whose files are complete under their
    /// `.swap` names. Called by the cleaner with the maintenance lock held.
    func replaceSegments(
        _ old: [LogSegment],
        withSwapOf baseOffset: Int64,
        size: Int,
        info: LogSegment.SealedState
    ) throws(LogError) -> LogSegment {
        let segment = LogSegment.sealed(
            directory: directory,
            baseOffset: baseOffset,
            cache: io.handles,
            indexIntervalBytes: old[0].indexIntervalBytes,
            size: size,
            info: info,
            nowMs: io.clock.nowMilliseconds()
        )
        do {
            // Under the state lock, so no reader takes a view with some old segments retired and the new one absent.
            try state.withLock { state throws(LogError) in
                guard let start = state.segments.firstIndex(where: { $0 === old[0] }),
                    start + old.count < state.segments.count,
                    zip(state.segments[start..<(start + old.count)], old).allSatisfy({ $0 === $1 })
                else {
                    throw LogError(.storage, "the segments of \(topicPartition) changed while they were compacted")
                }
                for segment in old { try segment.retire() }
                for kind in [SegmentFileName.offsetIndex, SegmentFileName.timeIndex, SegmentFileName.log] {
                    try FileSystem.move(segment.path(kind, suffix: ".swap"), to: segment.path(kind))
                }
                segment.setUpperBound(state.segments[start + old.count].baseOffset)
                state.segments.replaceSubrange(start..<(start + old.count), with: [segment])
            }
        } catch {
            state.withLock { $0.failure = $0.failure ?? error }
            throw error
        }
        try FileSystem.syncDirectory(directory)
        for retired in old { try retired.deleteRetiredFiles() }
        return segment
    }
}
