import Foundation
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

@Suite struct LimitsTests {
    @Test func aFullIndexRollsTheSegment() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.indexIntervalBytes = 0  // an index entry for every batch but the first
        config.segmentIndexBytes = 10 * 8  // ten offset entries
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        for _ in 0..<25 { _ = try await log.append(try makeBatch(count: 1)) }
        #expect(log.segmentCount >= 3)
        for base in log.segmentBaseOffsets.dropLast() {
            let index = directory.file("logs/events-0/" + String(format: "%020lld", base) + ".index")
            let size = try #require(FileManager.default.attributesOfItem(atPath: index)[.size] as? Int)
            #expect(size <= config.segmentIndexBytes)
        }
        #expect(try await readAll(log).map(\.offset) == Array(0..<25))
        try await manager.close()
    }

    @Test func openSegmentFilesStayWithinTheCache() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 600
        let manager = try await openManager(directory, config: config) { $0.maxOpenSegmentFiles = 4 }
        for partition in 0..<3 {
            let log = try await manager.createLog(topicPartition("many", Int32(partition)))
            for _ in 0..<40 { _ = try await log.append(try makeBatch(count: 2, valueSize: 100)) }
            #expect(log.segmentCount > 10)
        }
        try await manager.close()
        let reopened = try await openManager(directory, config: config) { $0.maxOpenSegmentFiles = 4 }
        for log in reopened.logs {
            #expect(try await readAll(log, maxBytes: 300).count == 80)
            #expect(reopened.io.handles.count <= 4)
        }
        // 33+ sealed segments were read (two files each); open in this directory are only the three active segments
        // and the cache's handles. (Other tests run in this process too, so only this directory's files count.)
        #expect(try openFiles(under: directory.path) <= 3 + 4)
        try await reopened.close()
    }

    @Test func minCompactionLagKeepsRecentRecordsAsWritten() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 800
        config.minCompactionLagMs = 3_600_000
        let manager = try await openManager(directory, clock: clock, config: config)
        let log = try await manager.createLog(topicPartition())
        for round in 0..<6 {
            for key in 0..<4 {
                _ = try await log.append(try makeBatch([("k\(key)", "r\(round)")], timestamp: clock.nowMilliseconds()))
            }
        }
        #expect(log.segmentCount > 2)
        #expect(
            try await manager.compact(topicPartition(), force: true) == false,
            "every record is younger than the lag"
        )
        clock.advance(by: 2 * 3_600_000)
        #expect(try await manager.compact(topicPartition(), force: true))
        try await manager.close()
    }

    @Test func maxCompactionLagForcesCompactionBelowTheDirtyRatio() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 800
        config.minCleanableDirtyRatio = 0.99
        let manager = try await openManager(directory, clock: clock, config: config)
        let log = try await manager.createLog(topicPartition())
        // Many distinct keys, compacted once: a large clean part.
        for key in 0..<60 {
            _ = try await log.append(try makeBatch([("k\(key)", "v")], timestamp: clock.nowMilliseconds()))
        }
        #expect(try await manager.compact(topicPartition(), force: true))
        for key in 0..<12 {
            _ = try await log.append(try makeBatch([("k\(key)", "w")], timestamp: clock.nowMilliseconds()))
        }
        #expect(try await manager.compactDirtiestLog() == false)
        config.maxCompactionLagMs = 60_000
        log.updateConfig(config)
        #expect(try await manager.compactDirtiestLog() == false, "not overdue yet")
        clock.advance(by: 120_000)
        #expect(try await manager.compactDirtiestLog())
        try await manager.close()
    }

    private func openFiles(under path: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd))?.hasPrefix(path) == true
        }.count
    }
}
