import Dispatch
import Logging
import NIOCore
import RunnelRecords
import Synchronization

// Reading a partition log: batches from an offset, offsets by timestamp, waiting for data.
extension PartitionLog {
    // MARK: - Reading

    /// Reads complete batches starting with the one that holds `offset`, up to `maxBytes`.
    ///
    /// - Parameters:
    ///   - minOneBatch: return the first batch even if it is larger than `maxBytes`, so a reader always progresses
    ///     (Kafka's fetch behaviour).
    /// - Throws: ``LogError/Code/offsetOutOfRange`` below the log start offset or above the log end offset.
    public func read(
        from offset: Int64,
        maxBytes: Int,
        minOneBatch: Bool = true
    ) async throws(LogError) -> LogReadResult {
        try await io.run { () throws(LogError) in
            try self.readBlocking(from: offset, maxBytes: maxBytes, minOneBatch: minOneBatch)
        }
    }

    private struct ReadView {
        var segments: [LogSegment]
        var logStartOffset: Int64
        var logEndOffset: Int64
        var visibleSegmentBase: Int64
        var visiblePosition: Int
    }

    private func readView() -> ReadView {
        state.withLock {
            ReadView(
                segments: $0.segments,
                logStartOffset: $0.logStartOffset,
                logEndOffset: $0.logEndOffset,
                visibleSegmentBase: $0.visibleSegmentBase,
                visiblePosition: $0.visiblePosition
            )
        }
    }

    /// Runs `body` on a consistent view, retrying when a segment is deleted or replaced under it.
    private func withReadView<T>(_ body: (ReadView) throws(LogError) -> T) throws(LogError) -> T {
        var attempts = 0
        while true {
            do {
                return try body(readView())
            } catch  where error.code == .segmentRetired && attempts < 16 {
                attempts += 1
            }
        }
    }

    /// The readable end of `segment` in `view` (0 for a segment the writer has not published yet).
    private func readableLimit(_ segment: LogSegment, _ view: ReadView) -> Int {
        if segment.baseOffset < view.visibleSegmentBase { return segment.size }
        if segment.baseOffset == view.visibleSegmentBase { return view.visiblePosition }
        return 0
    }

    /// The index in `segments` of the segment that can hold `offset`.
    private func segmentIndex(for offset: Int64, in segments: [LogSegment]) -> Int? {
        var low = 0
        var high = segments.count - 1
        var found: Int?
        while low <= high {
            let middle = (low + high) / 2
            if segments[middle].baseOffset <= offset {
                found = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return found
    }

    func readBlocking(from offset: Int64, maxBytes: Int, minOneBatch: Bool) throws(LogError) -> LogReadResult {
        try withReadView { view throws(LogError) -> LogReadResult in
            guard offset >= view.logStartOffset, offset <= view.logEndOffset else {
                throw LogError(
                    .offsetOutOfRange,
                    "offset \(offset) is out of range for \(topicPartition): the log holds \(view.logStartOffset) to \(view.logEndOffset)"
                )
            }
            var records = ByteBuffer()
            if offset < view.logEndOffset, var index = segmentIndex(for: offset, in: view.segments) {
                var target = offset
                while index < view.segments.count {
                    let segment = view.segments[index]
                    let limit = readableLimit(segment, view)
                    do throws(LogError) {
                        if limit > 0, let found = try segment.findBatch(containing: target, limit: limit) {
                            let room = max(maxBytes - records.readableBytes, 0)
                            let first = records.readableBytes == 0 && minOneBatch
                            guard first || found.batch.size <= room else { break }
                            // Every batch is checked (CRC, length, offsets) before it is served.
                            let bytes = try segment.readBatches(
                                from: found,
                                count: room,
                                limit: limit,
                                minOneBatch: first
                            )
                            if records.readableBytes == 0 {
                                records = bytes
                            } else {
                                records.writeImmutableBuffer(bytes)
                            }
                            // Stop when the byte budget, or damage, cut this segment short.
                            if found.batch.position + bytes.readableBytes < limit { break }
                        }
                    } catch {
                        // What comes before the damage is answered; the read that starts at it reports it.
                        guard error.code == .corruptRecord && records.readableBytes > 0 else { throw error }
                        break
                    }
                    index += 1
                    if index < view.segments.count { target = view.segments[index].baseOffset }
                }
            }
            return LogReadResult(records: records, logStartOffset: view.logStartOffset, logEndOffset: view.logEndOffset)
        }
    }

    /// The earliest offset whose record timestamp is at or after `timestamp` (Kafka's ListOffsets by time), with
    /// that record's timestamp; `nil` when every record is older.
    public func offset(forTimestamp timestamp: Int64) async throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        try await io.run { () throws(LogError) -> (offset: Int64, timestamp: Int64)? in
            try self.withReadView { view throws(LogError) -> (offset: Int64, timestamp: Int64)? in
                for segment in view.segments {
                    let limit = self.readableLimit(segment, view)
                    guard limit > 0 else { break }
                    guard try segment.maxTimestampAndOffset().timestamp >= timestamp else { continue }
                    if let found = try segment.findOffset(forTimestamp: timestamp, limit: limit),
                        found.offset >= view.logStartOffset
                    {
                        return found
                    }
                }
                return nil
            }
        }
    }

    /// The offset and timestamp of the record with the largest timestamp (Kafka's `MAX_TIMESTAMP` spec); the offset
    /// is that of the last record of its batch, as in Kafka. `nil` for an empty log.
    public func offsetOfMaxTimestamp() async throws(LogError) -> (offset: Int64, timestamp: Int64)? {
        try await io.run { () throws(LogError) -> (offset: Int64, timestamp: Int64)? in
            try self.withReadView { view throws(LogError) -> (offset: Int64, timestamp: Int64)? in
                var best: (offset: Int64, timestamp: Int64)?
                for segment in view.segments where self.readableLimit(segment, view) > 0 {
                    let (timestamp, offset) = try segment.maxTimestampAndOffset()
                    let isReadable = offset >= view.logStartOffset && offset < view.logEndOffset
                    if timestamp >= 0, isReadable, timestamp > (best?.timestamp ?? -1) {
                        best = (offset, timestamp)
                    }
                }
                return best
            }
        }
    }

    /// Suspends until the log end offset is above `offset` (data after `offset` arrived), or the task is cancelled.
    ///
    /// Long-polling readers combine this with a timeout; waiting costs nothing until the writer publishes.
    public func waitForData(after offset: Int64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.logEndOffset > offset || state.closed || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(offset: offset, continuation: continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }
}
