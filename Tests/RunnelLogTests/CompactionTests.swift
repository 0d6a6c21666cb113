import Foundation
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

@Suite struct CompactionTests {
    func compactedConfig(segmentBytes: Int = 1500) -> LogConfig {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = segmentBytes
        return config
    }

    /// `rounds` rounds writing keys k0...k(keys-1), value "r<round>-k<key>", one record per batch.
    func writeRounds(
        _ log: PartitionLog,
        rounds: Int,
        keys: Int,
        clock: ManualWallClock,
        compression: CompressionCodec = .none
    ) async throws {
        for round in 0..<rounds {
            for key in 0..<keys {
                var builder = RecordBatchBuilder(compression: compression)
                builder.append(
                    key: buffer("k\(key)"),
                    value: buffer("r\(round)-k\(key)"),
                    timestamp: clock.nowMilliseconds()
                )
                _ = try await log.append(try builder.build())
            }
        }
    }

    @Test(arguments: [CompressionCodec.none, .gzip])
    func keepsTheLatestRecordPerKeyAtItsOriginalOffset(compression: CompressionCodec) async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory, clock: clock, config: compactedConfig())
        let log = try await manager.createLog(topicPartition())
        try await writeRounds(log, rounds: 10, keys: 8, clock: clock, compression: compression)
        let before = try await readAll(log)
        let sizeBefore = log.sizeInBytes
        let activeBase = try #require(log.segmentBaseOffsets.last)
        #expect(log.segmentCount > 3)

        #expect(try await manager.compact(topicPartition()))
        let after = try await readAll(log)
        #expect(log.logEndOffset == 80)
        #expect(log.sizeInBytes < sizeBefore / 2)
        #expect(log.segmentBaseOffsets.last == activeBase, "the active segment is untouched")

        // Below the active segment: one record per key, the newest one, at the offset it was written at.
        let cleaned = after.filter { $0.offset < activeBase }
        var latest: [String: Record] = [:]
        for record in before where record.offset < activeBase { latest[string(record.key)!] = record }
        #expect(cleaned.count == latest.count)
        for record in cleaned {
            let expected = try #require(latest[string(record.key)!])
            #expect(record.offset == expected.offset)
            #expect(string(record.value) == string(expected.value))
            #expect(record.timestamp == expected.timestamp)
        }
        #expect(
            after.filter { $0.offset >= activeBase }.map(\.offset)
                == before.filter { $0.offset >= activeBase }.map(\.offset)
        )
        // Every batch left is still a valid Kafka batch in the original codec.
        let batches = try await RecordBatch.split(log.read(from: 0, maxBytes: 1 << 20).records)
        #expect(batches.allSatisfy { $0.isChecksumValid })
        #expect(try batches.allSatisfy { try $0.compression() == compression })

        // Segments that shrank are merged by the next cleaning (groups up to segment.bytes).
        let segmentsAfterFirst = log.segmentCount
        try await writeRounds(log, rounds: 3, keys: 8, clock: clock, compression: compression)
        #expect(try await manager.compact(topicPartition(), force: true))
        #expect(log.segmentCount < segmentsAfterFirst + 1)
        #expect(log.segmentBaseOffsets.first == 0)
        let final = try await readAll(log)
        try await manager.close()

        let reopened = try await openManager(directory, clock: clock, config: compactedConfig())
        let reopenedLog = try #require(reopened.log(for: topicPartition()))
        #expect(try await readAll(reopenedLog).map(\.offset) == final.map(\.offset))
        #expect(try await readAll(reopenedLog).map { string($0.value) } == final.map { string($0.value) })
        try await reopened.close()
    }

    @Test func honoursTheMinimumDirtyRatio() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = compactedConfig()
        config.minCleanableDirtyRatio = 0.5
        let manager = try await openManager(directory, clock: clock, config: config)
        let log = try await manager.createLog(topicPartition())
        // 120 distinct keys: compaction removes nothing, so the clean part stays large.
        try await writeRounds(log, rounds: 1, keys: 120, clock: clock)
        #expect(try await manager.compactDirtiestLog())
        #expect(log.cleanerCheckpoint == log.segmentBaseOffsets.last)
        let cleanSegments = log.segmentCount - 1

        // One more segment of updates: dirty, but far below half of the log.
        try await writeRounds(log, rounds: 1, keys: 25, clock: clock)
        #expect(log.segmentCount > cleanSegments + 1)
        let cleaner = LogCleaner(dedupeBufferBytes: 1 << 20)
        let dirtiness = try #require(try cleaner.dirtiness(of: log, nowMs: clock.nowMilliseconds()))
        #expect(dirtiness.cleanableBytes > 0)
        #expect(dirtiness.ratio < 0.5)
        #expect(try await manager.compactDirtiestLog() == false)
        #expect(try await manager.compact(topicPartition()) == false)
        #expect(try await manager.compact(topicPartition(), force: true))

        config.minCleanableDirtyRatio = 0.01
        log.updateConfig(config)
        try await writeRounds(log, rounds: 1, keys: 25, clock: clock)
        #expect(try await manager.compactDirtiestLog())
        try await manager.checkpoint()
        let checkpoint = try String(contentsOfFile: directory.file("logs/cleaner-offset-checkpoint"), encoding: .utf8)
        #expect(checkpoint == "0\n1\nevents 0 \(log.cleanerCheckpoint ?? -1)\n")
        try await manager.close()
    }

    @Test func tombstonesSurviveDeleteRetentionThenDisappear() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = compactedConfig(segmentBytes: 400)
        config.deleteRetentionMs = 60_000
        let manager = try await openManager(directory, clock: clock, config: config)
        let log = try await manager.createLog(topicPartition())
        for i in 0..<5 { _ = try await log.append(try makeBatch([("gone", "v\(i)"), ("kept", "v\(i)")])) }
        _ = try await log.append(try makeBatch([("gone", nil)]))
        for i in 0..<6 { _ = try await log.append(try makeBatch([("other\(i)", "x")])) }
        let tombstoneOffset: Int64 = 10

        #expect(try await manager.compact(topicPartition(), force: true))
        var records = try await readAll(log)
        let tombstone = try #require(records.first { $0.offset == tombstoneOffset })
        #expect(tombstone.value == nil)
        #expect(!records.contains { string($0.key) == "gone" && $0.value != nil })
        #expect(records.filter { string($0.key) == "kept" }.map { string($0.value) } == ["v4"])
        let batch = try #require(
            try await RecordBatch.split(log.read(from: tombstoneOffset, maxBytes: 1).records).first
        )
        #expect(batch.header.hasDeleteHorizon)
        #expect(batch.baseTimestamp == clock.nowMilliseconds() + 60_000)
        #expect(tombstone.timestamp == 1_700_000_000_000, "the record keeps its timestamp")

        // Before the horizon the tombstone stays; after it, the next cleaning drops it.
        clock.advance(by: 30_000)
        _ = try await log.append(try makeBatch([("late", "x")]))
        try await log.roll()
        #expect(try await manager.compact(topicPartition(), force: true))
        records = try await readAll(log)
        #expect(records.contains { $0.offset == tombstoneOffset })
        clock.advance(by: 31_000)
        _ = try await log.append(try makeBatch([("later", "x")]))
        try await log.roll()
        #expect(try await manager.compact(topicPartition(), force: true))
        records = try await readAll(log)
        #expect(!records.contains { $0.offset == tombstoneOffset })
        #expect(!records.contains { string($0.key) == "gone" })
        try await manager.close()
    }

    @Test func aSmallKeyMapCleansInSeveralRounds() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory, clock: clock, config: compactedConfig()) {
            $0.cleanerDedupeBufferBytes = 1200
        }
        let log = try await manager.createLog(topicPartition())
        try await writeRounds(log, rounds: 3, keys: 30, clock: clock)
        var rounds = 0
        while try await manager.compact(topicPartition(), force: true), rounds < 20 { rounds += 1 }
        #expect(rounds > 1)
        #expect(log.cleanerCheckpoint == log.segmentBaseOffsets.last)
        let activeBase = try #require(log.segmentBaseOffsets.last)
        let cleaned = try await readAll(log).filter { $0.offset < activeBase }
        #expect(Set(cleaned.map { string($0.key)! }).count == cleaned.count, "one record per key")
        try await manager.close()
    }

    @Test func compactAndDeleteAppliesBoth() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = compactedConfig()
        config.cleanupPolicy = [.compact, .delete]
        config.retentionMs = 3_600_000
        let manager = try await openManager(directory, clock: clock, config: config)
        let log = try await manager.createLog(topicPartition())
        try await writeRounds(log, rounds: 10, keys: 8, clock: clock)
        #expect(try await manager.compact(topicPartition()))
        clock.advance(by: 2 * 3_600_000)
        try await writeRounds(log, rounds: 1, keys: 2, clock: clock)
        #expect(await manager.applyRetention() > 0)
        #expect(log.logStartOffset > 0)
        try await manager.close()
    }

    @Test func theCleanerServiceCompactsTheDirtiestLog() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        let manager = try await openManager(directory, clock: clock, config: compactedConfig()) {
            $0.cleanerBackoffMs = 1000
        }
        let log = try await manager.createLog(topicPartition())
        let plain = try await manager.createLog(topicPartition("plain"), config: LogConfig())
        _ = try await plain.append(try makeBatch(count: 5))
        try await writeRounds(log, rounds: 10, keys: 8, clock: clock)
        let size = log.sizeInBytes
        let service = Task { try await LogCleanerService(manager: manager).run() }
        for _ in 0..<5000 where log.cleanerCheckpoint == nil { try await Task.sleep(for: .milliseconds(2)) }
        #expect(log.cleanerCheckpoint == log.segmentBaseOffsets.last)
        #expect(log.sizeInBytes < size)
        #expect(plain.cleanerCheckpoint == nil)
        while clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        service.cancel()
        try await service.value
        try await manager.close()
    }
}
