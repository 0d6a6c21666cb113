import RunnelRecords

/// Checks and normalises batches before they are appended, as Kafka's `LogValidator` does for one broker:
/// CRC and framing, size limit, record structure, offsets numbered 0...n-1 within the batch, keys on compacted logs,
/// timestamp bounds, `message.timestamp.type` and `compression.type`.
enum LogValidator {
    /// - Parameter checkRecords: whether each batch's CRC and every record (structure, offsets, keys, timestamps) is
    ///   checked; false only for batches this process encoded itself from records it had checked (the broker's
    ///   produce path), which still get the size and header checks and the `compression.type` /
    ///   `message.timestamp.type` handling.
    static func validate(
        _ batches: [RecordBatch],
        config: LogConfig,
        nowMs: Int64,
        checkRecords: Bool = true
    ) throws(LogError) -> [RecordBatch] {
        guard !batches.isEmpty else { throw LogError(.invalidRecord, "an append needs at least one record batch") }
        var validated: [RecordBatch] = []
        validated.reserveCapacity(batches.count)
        for batch in batches {
            validated.append(try validate(batch, config: config, nowMs: nowMs, checkRecords: checkRecords))
        }
        return validated
    }

    private static func validate(
        _ input: RecordBatch,
        config: LogConfig,
        nowMs: Int64,
        checkRecords: Bool
    ) throws(LogError) -> RecordBatch {
        var batch = input
        guard batch.sizeInBytes <= config.maxMessageBytes else {
            throw LogError(
                .recordBatchTooLarge,
                "the record batch is \(batch.sizeInBytes) bytes, larger than max.message.bytes (\(config.maxMessageBytes))"
            )
        }
        if checkRecords { try recordFormat { () throws(RecordError) in try batch.validate() } }
        let header = batch.header
        guard !header.isControl else {
            throw LogError(.invalidRecord, "control batches are written by the broker, not appended by clients")
        }
        guard !header.isTransactional else {
            throw LogError(.invalidRecord, "transactional record batches are not supported")
        }
        guard batch.recordCount > 0 else { throw LogError(.invalidRecord, "the record batch has no records") }
        guard Int64(batch.lastOffsetDelta) == Int64(batch.recordCount) - 1 else {
            throw LogError(
                .invalidRecord,
                "the record batch has \(batch.recordCount) records but last offset delta \(batch.lastOffsetDelta)"
            )
        }
        let codec = try recordFormat { () throws(RecordError) in try batch.compression() }
        var maxTimestamp = header.maxTimestamp
        if checkRecords {
            maxTimestamp = try checkEachRecord(batch, header: header, config: config, nowMs: nowMs)
        }

        if case .codec(let target) = config.compressionType, target != codec {
            var newHeader = header
            newHeader.compression = target
            batch = try recordFormat { () throws(RecordError) in
                try RecordBatch.encode(header: newHeader, records: try batch.records())
            }
            guard batch.sizeInBytes <= config.maxMessageBytes else {
                throw LogError(
                    .recordBatchTooLarge,
                    "the record batch is \(batch.sizeInBytes) bytes after recompression to \(target.name), larger than max.message.bytes (\(config.maxMessageBytes))"
                )
            }
        }
        switch config.messageTimestampType {
        case .createTime: batch.setMaxTimestamp(maxTimestamp, type: .createTime)
        case .logAppendTime: batch.setMaxTimestamp(nowMs, type: .logAppendTime)
        }
        return batch
    }

    /// Walks every record: offsets 0, 1, 2, ..., keys on compacted logs, timestamps within bounds; returns the largest
    /// timestamp.
    private static func checkEachRecord(
        _ batch: RecordBatch,
        header: RecordBatchHeader,
        config: LogConfig,
        nowMs: Int64
    ) throws(LogError) -> Int64 {
        let section = try recordFormat { () throws(RecordError) in try batch.uncompressedRecordsSection() }
        let requireKeys = config.cleanupPolicy.contains(.compact)
        let checkTimestamps = config.messageTimestampType == .createTime
        let baseTimestamp = header.baseTimestamp
        var expectedDelta: Int32 = 0
        var maxTimestamp = Int64.min
        try recordFormat { () throws(RecordError) in
            try RecordBatch.walkRecords(in: section, count: batch.recordCount, batchOffset: 0) {
                fields,
                _ throws(RecordError) in
                guard fields.offsetDelta == expectedDelta else {
                    throw RecordError(
                        .invalidRecord,
                        "record \(expectedDelta) of the batch has offset delta \(fields.offsetDelta); offsets must be 0, 1, 2, ..."
                    )
                }
                expectedDelta += 1
                if requireKeys && fields.keyLength < 0 {
                    throw RecordError(.invalidRecord, "Compacted topic cannot accept message without key")
                }
                let timestamp = baseTimestamp &+ fields.timestampDelta
                if checkTimestamps {
                    if nowMs - timestamp > config.messageTimestampBeforeMaxMs {
                        throw RecordError(
                            .invalidRecord,
                            "timestamp \(timestamp) is more than message.timestamp.before.max.ms (\(config.messageTimestampBeforeMaxMs)) in the past"
                        )
                    }
                    if timestamp - nowMs > config.messageTimestampAfterMaxMs {
                        throw RecordError(
                            .invalidRecord,
                            "timestamp \(timestamp) is more than message.timestamp.after.max.ms (\(config.messageTimestampAfterMaxMs)) in the future"
                        )
                    }
                }
                maxTimestamp = max(maxTimestamp, timestamp)
            }
        }
        return maxTimestamp
    }
}
