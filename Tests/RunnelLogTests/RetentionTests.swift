import Foundation
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

@Suite struct RetentionTests {
    static let hour: Int64 = 3_600_000

    /// A log of 2000-byte segments whose batch `i` has record time `start + i` hours.
    func hourlyLog(
        _ directory: TemporaryDirectory,
        clock: ManualWallClock,
        config: LogConfig,
        batches: Int = 20,
        configure: (inout LogManager.Configuration) -> Void = { _ in }
    ) async throws -> (LogManager, PartitionLog) {
        var config = config
        config.segmentBytes = 2000
        let manager = try await openManager(directory, clock: clock, config: config, configure: configure)
        let log = try await manager.createLog(topicPartition())
        let start = clock.nowMilliseconds()
        for i in 0..<batches {
            _ = try await log.append(
                try makeBatch(count: 4, prefix: "h\(i)", valueSize: 100, timestamp: start + Int64(i) * Self.hour)
            )
        }
        return (manager, log)
    }

    @Test func retentionMsDeletesWholeExpiredSegmentsAndAdvancesTheLogStart() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.retentionMs = 5 * Self.hour
        let (manager, log) = try await hourlyLog(directory, clock: clock, config: config)
        let before = log.segmentBaseOffsets
        #expect(before.count >= 5)
        #expect(await manager.applyRetention() == 0, "nothing is older than 5 hours yet")

        clock.advance(by: 12 * Self.hour)
        let deleted = await manager.applyRetention()
        #expect(deleted > 0)
        // Every remaining record is within retention, except those sharing a segment with newer ones.
        let records = try await readAll(log)
        #expect(log.logStartOffset == log.segmentBaseOffsets[0])
        #expect(records.first?.offset == log.logStartOffset)
        #expect(try await log.offset(forTimestamp: 0)?.offset == log.logStartOffset)
        let oldestKept = try #require(records.first?.timestamp)
        #expect(clock.nowMilliseconds() - oldestKept <= 5 * Self.hour + 4 * Self.hour)
        for base in before where base < log.logStartOffset {
            #expect(
                !FileManager.default.fileExists(
                    atPath: directory.file("logs/events-0/" + String(format: "%020lld.log", base))
                )
            )
        }
        let error = await #expect(throws: LogError.self) { try await log.read(from: 0, maxBytes: 100) }
        #expect(error?.code == .offsetOutOfRange)
        try await manager.close()

        let reopened = try await openManager(directory, clock: clock, config: config)
        #expect(reopened.log(for: topicPartition())?.logStartOffset == log.logStartOffset)
        try await reopened.close()
    }

    @Test func anExpiredActiveSegmentIsRolledThenDeleted() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.retentionMs = Self.hour
        let (manager, log) = try await hourlyLog(directory, clock: clock, config: config, batches: 3)
        clock.advance(by: 10 * Self.hour)
        await manager.applyRetention()
        #expect(log.logStartOffset == 12)
        #expect(log.logEndOffset == 12)
        #expect(log.segmentBaseOffsets == [12])
        #expect(try await log.append(try makeBatch(count: 1, timestamp: clock.nowMilliseconds())).firstOffset == 12)
        try await manager.close()
    }

    @Test func retentionBytesKeepsTheLogUnderItsLimit() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.retentionMs = -1
        config.retentionBytes = 5000
        let (manager, log) = try await hourlyLog(directory, clock: clock, config: config, batches: 40)
        #expect(log.sizeInBytes > 10_000)
        await manager.applyRetention()
        #expect(log.sizeInBytes <= 5000 + 2000)
        #expect(log.sizeInBytes > 5000 - 2000)
        #expect(log.logEndOffset == 160)
        try await manager.close()
    }

    @Test func compactOnlyLogsAreNotDeletedByTime() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.retentionMs = Self.hour
        config.cleanupPolicy = .compact
        var keyed = config
        keyed.segmentBytes = 2000
        let manager = try await openManager(directory, clock: clock, config: keyed)
        let log = try await manager.createLog(topicPartition())
        for i in 0..<20 {
            _ = try await log.append(
                try makeBatch(count: 4, keys: 100, valueSize: 100, timestamp: clock.nowMilliseconds() + Int64(i))
            )
        }
        clock.advance(by: 100 * Self.hour)
        #expect(await manager.applyRetention() == 0)
        #expect(log.logStartOffset == 0)
        try await manager.close()
    }

    @Test func deleteRecordsMovesTheStartAndRetentionDropsSegmentsBelowIt() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.retentionMs = -1
        let (manager, log) = try await hourlyLog(directory, clock: clock, config: config)
        let bases = log.segmentBaseOffsets
        try log.advanceLogStartOffset(to: bases[2] + 1)
        #expect(throws: LogError.self) { try log.advanceLogStartOffset(to: 10_000) }
        await #expect(throws: LogError.self) { try await log.read(from: bases[2], maxBytes: 100) }
        #expect(try await log.read(from: bases[2] + 1, maxBytes: 100).records.readableBytes > 0)
        #expect(await manager.applyRetention() == 2)
        #expect(log.segmentBaseOffsets.first == bases[2])
        #expect(log.logStartOffset == bases[2] + 1)
        try await manager.close()
    }

    @Test func theRetentionServiceRunsOnItsInterval() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.retentionMs = Self.hour
        let (manager, log) = try await hourlyLog(directory, clock: clock, config: config) {
            $0.retentionCheckIntervalMs = 60_000
        }
        let service = Task { try await LogRetentionService(manager: manager).run() }
        while clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        clock.advance(by: 48 * Self.hour)
        for _ in 0..<5000 where log.logStartOffset == 0 { try await Task.sleep(for: .milliseconds(2)) }
        #expect(log.logStartOffset > 0)
        service.cancel()
        try await service.value
        try await manager.close()
    }
}
