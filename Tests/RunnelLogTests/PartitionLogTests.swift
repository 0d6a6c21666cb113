import Foundation
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Synchronization
import Testing

@testable import RunnelLog

@Suite struct PartitionLogTests {
    @Test func assignsConsecutiveOffsetsAndReadsBackEveryRecord() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory)
        let log = try await manager.createLog(topicPartition())
        var expected: [String] = []
        for round in 0..<20 {
            let result = try await log.append(try makeBatch(count: 5, prefix: "r\(round)"))
            #expect(result.firstOffset == Int64(round * 5))
            #expect(result.lastOffset == Int64(round * 5 + 4))
            #expect(result.logAppendTime == -1)
            expected += (0..<5).map { "r\(round)-\($0)" }
        }
        #expect(log.logStartOffset == 0)
        #expect(log.logEndOffset == 100)
        let records = try await readAll(log, maxBytes: 200)
        #expect(records.map(\.offset) == Array(0..<100))
        #expect(records.map { string($0.value) } == expected)
        try await manager.close()
    }

    @Test func readsStartAtTheBatchHoldingTheOffsetAndRespectMaxBytes() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory)
        let log = try await manager.createLog(topicPartition())
        for _ in 0..<10 { _ = try await log.append(try makeBatch(count: 10, valueSize: 100)) }
        let one = try await RecordBatch.split(log.read(from: 0, maxBytes: 1).records)
        #expect(one.count == 1, "the first batch is returned even when larger than maxBytes")
        let batchSize = one[0].sizeInBytes

        let middle = try await log.read(from: 37, maxBytes: batchSize * 3)
        let batches = try RecordBatch.split(middle.records)
        #expect(batches.map(\.baseOffset) == [30, 40, 50])
        #expect(middle.logEndOffset == 100)
        #expect(middle.logStartOffset == 0)

        let strict = try await log.read(from: 37, maxBytes: 1, minOneBatch: false)
        #expect(strict.records.readableBytes == 0)
        let atEnd = try await log.read(from: 100, maxBytes: 1000)
        #expect(atEnd.records.readableBytes == 0)
        try await manager.close()
    }

    @Test func outOfRangeOffsetsAreErrors() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory)
        let log = try await manager.createLog(topicPartition())
        _ = try await log.append(try makeBatch(count: 3))
        for offset: Int64 in [-1, 4, 1000] {
            let error = await #expect(throws: LogError.self) { try await log.read(from: offset, maxBytes: 100) }
            #expect(error?.code == .offsetOutOfRange)
        }
        try await manager.close()
    }

    @Test func rollsBySegmentBytesWithKafkaFileNames() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4096
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition("orders", 3))
        for _ in 0..<40 { _ = try await log.append(try makeBatch(count: 4, valueSize: 100)) }
        #expect(log.segmentCount >= 4)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.file("logs/orders-3")).sorted()
        for base in log.segmentBaseOffsets {
            let name = String(format: "%020lld", base)
            #expect(files.contains(name + ".log"))
            #expect(files.contains(name + ".index"))
            #expect(files.contains(name + ".timeindex"))
        }
        #expect(files.contains("leader-epoch-checkpoint"))
        for (base, size) in try segmentSizes(directory.file("logs/orders-3")) where base != log.segmentBaseOffsets.last
        {
            #expect(size <= 4096)
        }
        let records = try await readAll(log, maxBytes: 700)
        #expect(records.map(\.offset) == Array(0..<160))
        try await manager.close()
    }

    @Test func anAppendOfSeveralBatchesNeverSpansSegments() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4096
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        _ = try await log.append(try makeBatch(count: 4, valueSize: 300))
        // Three batches that fit in no segment's remaining space: all go to a new segment, together.
        let batches = try (0..<3).map { _ in try makeBatch(count: 2, valueSize: 500) }
        let result = try await log.append(batches)
        #expect(result.firstOffset == 4)
        #expect(log.segmentBaseOffsets == [0, 4])
        // An append larger than segment.bytes goes whole into one (oversized) segment, as in Kafka.
        let large = try (0..<6).map { _ in try makeBatch(count: 2, valueSize: 500) }
        let second = try await log.append(large)
        #expect(log.segmentBaseOffsets == [0, 4, second.firstOffset])
        #expect(try await readAll(log).map(\.offset) == Array(0..<(second.lastOffset + 1)))
        try await manager.close()
    }

    @Test func rollsBySegmentMsOfRecordTime() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentMs = 60_000
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        _ = try await log.append(try makeBatch(count: 1, timestamp: 1_000_000))
        _ = try await log.append(try makeBatch(count: 1, timestamp: 1_030_000))
        #expect(log.segmentCount == 1)
        _ = try await log.append(try makeBatch(count: 1, timestamp: 1_060_001))
        #expect(log.segmentBaseOffsets == [0, 2])
        try await manager.close()
    }

    @Test func sparseIndexLetsEveryOffsetBeFound() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.indexIntervalBytes = 512
        config.segmentBytes = 8 << 10
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        for i in 0..<200 { _ = try await log.append(try makeBatch(count: 1 + i % 3, valueSize: 60)) }
        try await manager.close()

        // Reopen so sealed segments are searched through their index files.
        let reopened = try await openManager(directory, config: config)
        let reopenedLog = try #require(reopened.log(for: topicPartition()))
        #expect(reopenedLog.segmentCount > 1)
        let indexFile = directory.file("logs/events-0/00000000000000000000.index")
        let indexSize = try #require(try FileManager.default.attributesOfItem(atPath: indexFile)[.size] as? Int)
        #expect(indexSize > 0 && indexSize % 8 == 0)
        for offset in stride(from: Int64(0), to: reopenedLog.logEndOffset, by: 1) {
            let result = try await reopenedLog.read(from: offset, maxBytes: 1)
            let batch = try #require(try RecordBatch.split(result.records).first)
            #expect(batch.baseOffset <= offset && offset <= batch.lastOffset, "offset \(offset)")
        }
        try await reopened.close()
    }

    @Test func findsOffsetsByTimestamp() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 2048
        config.indexIntervalBytes = 256
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        // Batch i holds records at 10_000 + 100 i + 0..4.
        for i in 0..<50 {
            _ = try await log.append(try makeBatch(count: 5, valueSize: 40, timestamp: 10_000 + Int64(i) * 100))
        }
        #expect(log.segmentCount > 3)
        let exact = try #require(try await log.offset(forTimestamp: 12_302))
        #expect(exact.offset == 23 * 5 + 2)
        #expect(exact.timestamp == 12_302)
        let between = try #require(try await log.offset(forTimestamp: 12_350))
        #expect(between.offset == 24 * 5)
        #expect(between.timestamp == 12_400)
        #expect(try await log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try await log.offset(forTimestamp: 99_999) == nil)
        let max = try #require(try await log.offsetOfMaxTimestamp())
        #expect(max.timestamp == 10_000 + 49 * 100 + 4)
        #expect(max.offset == 249)
        try await manager.close()
    }

    @Test func validatesAppends() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.maxMessageBytes = 2000
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())

        let tooLarge = await #expect(throws: LogError.self) {
            try await log.append(try makeBatch(count: 1, valueSize: 3000))
        }
        #expect(tooLarge?.code == .recordBatchTooLarge)

        var corrupt = try makeBatch(count: 2).bytes
        corrupt.setInteger(UInt8(0xff), at: 70)
        let badCRC = await #expect(throws: LogError.self) { try await log.append(try RecordBatch(bytes: corrupt)) }
        #expect(badCRC?.code == .corruptRecord)

        var header = RecordBatchHeader()
        header.isTransactional = true
        let record = Record(offset: 0, timestamp: 1, key: nil, value: buffer("v"), offsetDelta: 0, timestampDelta: 0)
        let transactional = try RecordBatch.encode(header: header, records: [record])
        await #expect(throws: LogError.self) { try await log.append(transactional) }

        var gap = RecordBatchHeader()
        gap.lastOffsetDelta = 2
        let skipping = try RecordBatch.encode(
            header: gap,
            records: [
                Record(offset: 0, timestamp: 1, key: nil, value: buffer("a"), offsetDelta: 0, timestampDelta: 0),
                Record(offset: 2, timestamp: 1, key: nil, value: buffer("b"), offsetDelta: 2, timestampDelta: 0),
            ]
        )
        let gapError = await #expect(throws: LogError.self) { try await log.append(skipping) }
        #expect(gapError?.code == .invalidRecord)

        #expect(log.logEndOffset == 0, "nothing was appended by rejected batches")
        _ = try await log.append(try makeBatch(count: 1))
        #expect(log.logEndOffset == 1)
        try await manager.close()
    }

    @Test func compactedLogsRequireKeys() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.cleanupPolicy = .compact
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        let error = await #expect(throws: LogError.self) { try await log.append(try makeBatch([(nil, "v")])) }
        #expect(error?.message == "Compacted topic cannot accept message without key")
        _ = try await log.append(try makeBatch([("k", "v")]))
        try await manager.close()
    }

    @Test func appliesLogAppendTimeAndCompressionType() async throws {
        let clock = ManualWallClock(startingAt: 1_750_000_000_000)
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.messageTimestampType = .logAppendTime
        config.compressionType = .codec(.gzip)
        let manager = try await openManager(directory, clock: clock, config: config)
        let log = try await manager.createLog(topicPartition())
        let result = try await log.append(try makeBatch(count: 3, valueSize: 500, timestamp: 5))
        #expect(result.logAppendTime == 1_750_000_000_000)
        let batch = try #require(try await RecordBatch.split(log.read(from: 0, maxBytes: 10_000).records).first)
        #expect(try batch.compression() == .gzip)
        #expect(batch.header.timestampType == .logAppendTime)
        #expect(batch.isChecksumValid)
        #expect(try batch.records().map(\.timestamp) == [1_750_000_000_000, 1_750_000_000_000, 1_750_000_000_000])
        #expect(try batch.records().map { string($0.value)?.prefix(7) } == ["value-0", "value-1", "value-2"])

        log.updateConfig(LogConfig())
        _ = try await log.append(try makeBatch(count: 1, timestamp: 5))
        let plain = try #require(try await RecordBatch.split(log.read(from: 3, maxBytes: 10_000).records).first)
        #expect(try plain.compression() == CompressionCodec.none)
        #expect(try plain.records().first?.timestamp == 5)
        try await manager.close()
    }

    @Test func concurrentAppendersShareFsyncsAndGetDistinctOffsets() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory, config: FlushPolicy.everyAppend.applied(to: LogConfig()))
        let log = try await manager.createLog(topicPartition())
        let results = try await withThrowingTaskGroup(of: [AppendResult].self) { group in
            for appender in 0..<16 {
                group.addTask {
                    var results: [AppendResult] = []
                    for i in 0..<25 {
                        results.append(try await log.append(try makeBatch(count: 2, prefix: "a\(appender)-\(i)")))
                    }
                    return results
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(results.count == 400)
        let offsets = results.flatMap { [$0.firstOffset, $0.lastOffset] }
        #expect(Set(offsets).count == 800)
        #expect(results.allSatisfy { $0.lastOffset == $0.firstOffset + 1 })
        #expect(log.logEndOffset == 800)
        // Every acknowledged append was fsynced, in fewer fsyncs than appends.
        #expect(log.state.withLock { $0.flushedOffset } == 800)
        #expect(log.groupCommits > 0 && log.groupCommits < 400)
        let records = try await readAll(log, maxBytes: 1 << 20)
        #expect(records.map(\.offset) == Array(0..<800))
        try await manager.close()
    }

    @Test func waitersWakeWhenDataArrivesAndOnCancellation() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory)
        let log = try await manager.createLog(topicPartition())
        // The waiter sees data when it wakes: it did not return before the append.
        let waiter = Task { () -> Int64 in
            await log.waitForData(after: 0)
            return log.logEndOffset
        }
        try await Task.sleep(for: .milliseconds(20))
        _ = try await log.append(try makeBatch(count: 2))
        #expect(await waiter.value == 2)
        // Data already there: returns at once.
        await log.waitForData(after: 0)

        let waiting = Task { await log.waitForData(after: 10) }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        await waiting.value
        #expect(log.state.withLock { $0.waiters.isEmpty })
        try await manager.close()
    }

    @Test func deletingALogRemovesItsFiles() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory)
        let log = try await manager.createLog(topicPartition("gone"))
        _ = try await log.append(try makeBatch(count: 3))
        try await manager.deleteLog(topicPartition("gone"))
        #expect(manager.log(for: topicPartition("gone")) == nil)
        await #expect(throws: LogError.self) { try await log.append(try makeBatch(count: 1)) }
        for _ in 0..<1000
        where try FileManager.default.contentsOfDirectory(atPath: directory.file("logs")).contains(where: {
            $0.hasPrefix("gone-0")
        }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.file("logs"))
        #expect(!left.contains(where: { $0.hasPrefix("gone-0") }))
        let again = try await manager.createLog(topicPartition("gone"))
        #expect(again.logEndOffset == 0)
        try await manager.close()
        let reopened = try await openManager(directory)
        #expect(reopened.log(for: topicPartition("gone"))?.logEndOffset == 0)
        try await reopened.close()
    }

    @Test func createRejectsDuplicatesAndBadNames() async throws {
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory)
        _ = try await manager.createLog(topicPartition())
        let duplicate = await #expect(throws: LogError.self) { try await manager.createLog(topicPartition()) }
        #expect(duplicate?.code == .logAlreadyExists)
        for name in ["", ".", "..", "a/b", "with space", String(repeating: "x", count: 250), "ü"] {
            #expect(throws: RecordError.self) { try TopicPartition(topic: name, partition: 0) }
        }
        #expect(throws: RecordError.self) { try TopicPartition(topic: "ok", partition: -1) }
        #expect(
            try TopicPartition(directoryName: "my-topic-name-12")
                == TopicPartition(topic: "my-topic-name", partition: 12)
        )
        try await manager.close()
    }

    private func segmentSizes(_ directory: String) throws -> [(Int64, Int)] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.map { name in
            let size = try FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int ?? 0
            return (Int64(name.prefix(20))!, size)
        }
    }
}
