import Foundation
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

/// Foundation's file handle (the engine has its own `FileHandle`).
typealias SystemFileHandle = Foundation.FileHandle

@Suite struct RecoveryTests {
    func logDirectory(_ directory: TemporaryDirectory, _ name: String = "events-0") -> String {
        directory.file("logs/\(name)")
    }

    func segmentFile(_ directory: TemporaryDirectory, _ base: Int64, _ kind: String = "log") -> String {
        logDirectory(directory) + "/" + String(format: "%020lld", base) + "." + kind
    }

    func fileSize(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    func truncate(_ path: String, to size: Int) throws {
        let handle = try #require(SystemFileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
    }

    func flipByte(_ path: String, at position: Int) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[position] ^= 0x5a
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Appends `batches` batches of 5 records to a fresh log and stops without a clean shutdown.
    func crashAfterAppending(
        _ directory: TemporaryDirectory,
        batches: Int,
        config: LogConfig = LogConfig(),
        checkpointAfter: Int? = nil
    ) async throws -> [Int64] {
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        var ends: [Int64] = []
        for i in 0..<batches {
            ends.append(try await log.append(try makeBatch(count: 5, prefix: "b\(i)", valueSize: 50)).lastOffset + 1)
            if i + 1 == checkpointAfter {
                // The recovery point moves with flushes (here explicit; the flush policy does it in a server).
                try await log.flush()
                try await manager.checkpoint()
            }
        }
        await manager.stopWithoutShutdown()
        #expect(!FileManager.default.fileExists(atPath: directory.file("logs/.kafka_cleanshutdown")))
        return ends
    }

    @Test func aTornTailIsTruncatedToTheLastCompleteBatch() async throws {
        let directory = TemporaryDirectory()
        let ends = try await crashAfterAppending(directory, batches: 10)
        let path = segmentFile(directory, 0)
        let size = try fileSize(path)
        try truncate(path, to: size - 17)

        let manager = try await openManager(directory)
        #expect(!manager.openReport.cleanShutdown)
        #expect(manager.openReport.truncatedBytes > 0)
        let log = try #require(manager.log(for: topicPartition()))
        #expect(log.logEndOffset == ends[8])
        let records = try await readAll(log)
        #expect(records.map(\.offset) == Array(0..<ends[8]))
        let next = try await log.append(try makeBatch(count: 1))
        #expect(next.firstOffset == ends[8])
        try await manager.close()
    }

    /// Kafka truncates at the first bad batch and deletes every later segment; here the bad batch alone is set
    /// aside (quarantined, in a `.quarantine` file beside its segment), and every offset before and after it stays.
    @Test func aFlippedByteAfterACrashSetsAsideItsBatchAndKeepsEverythingElse() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 2000
        let ends = try await crashAfterAppending(directory, batches: 30, config: config)
        let bases = try FileManager.default.contentsOfDirectory(atPath: logDirectory(directory))
            .filter { $0.hasSuffix(".log") }.compactMap { Int64($0.prefix(20)) }.sorted()
        #expect(bases.count >= 4)
        // Damage the second batch of the second segment.
        let damaged = bases[1]
        var reader = try SegmentFileReader(path: segmentFile(directory, damaged))
        guard case .batch = try reader.next(), case .batch(let position, let second) = try reader.next() else {
            Issue.record("expected two batches")
            return
        }
        try flipByte(segmentFile(directory, damaged), at: position + 70)

        let manager = try await openManager(directory, config: config)
        let log = try #require(manager.log(for: topicPartition()))
        #expect(log.logEndOffset == ends.last)
        #expect(log.segmentBaseOffsets == bases)
        #expect(FileManager.default.fileExists(atPath: segmentFile(directory, damaged, "quarantine")))
        let lost = Set(second.baseOffset...second.lastOffset)
        #expect(try await readAll(log, to: second.baseOffset).map(\.offset) == Array(0..<second.baseOffset))
        #expect(
            try await readAll(log, from: second.lastOffset + 1).map(\.offset)
                == Array((second.lastOffset + 1)..<(ends.last ?? 0))
        )
        do {
            _ = try await log.read(from: second.baseOffset + 1, maxBytes: 4096)
            Issue.record("a damaged offset was served")
        } catch {
            #expect(error.code == .corruptRecord)
            #expect(error.message.contains("offsets \(second.baseOffset) to \(second.lastOffset) of events-0"))
            #expect(error.message.contains("read from offset \(second.lastOffset + 1)"))
            #expect(!error.message.contains("/"), "no server path in \(error.message)")
        }
        #expect(lost.count == 5)
        try await manager.close()

        // Still set aside after a clean restart.
        let again = try await openManager(directory, config: config)
        let reopened = try #require(again.log(for: topicPartition()))
        await #expect(throws: LogError.self) { _ = try await reopened.read(from: second.baseOffset, maxBytes: 4096) }
        try await again.close()
    }

    @Test func garbageAfterTheLastBatchIsCutWithoutTrustingItsLength() async throws {
        let directory = TemporaryDirectory()
        let ends = try await crashAfterAppending(directory, batches: 3)
        let path = segmentFile(directory, 0)
        let handle = try #require(SystemFileHandle(forWritingAtPath: path))
        _ = try handle.seekToEnd()
        // A header claiming a 2 GiB batch, as a torn write can leave behind.
        var forged = ByteBuffer()
        forged.writeInteger(Int64(15))
        forged.writeInteger(Int32.max)
        forged.writeRepeatingByte(0xab, count: 100)
        handle.write(Data(forged.readableBytesView))
        try handle.close()

        let manager = try await openManager(directory)
        let log = try #require(manager.log(for: topicPartition()))
        #expect(log.logEndOffset == ends[2])
        #expect(manager.openReport.truncatedBytes == 112)
        try await manager.close()
    }

    @Test func recoveryRescansOnlyWhatFollowsTheRecoveryPoint() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 64 << 10
        config.indexIntervalBytes = 1024
        let ends = try await crashAfterAppending(directory, batches: 400, config: config, checkpointAfter: 390)
        let checkpoint = try String(
            contentsOfFile: directory.file("logs/recovery-point-offset-checkpoint"),
            encoding: .utf8
        )
        #expect(checkpoint == "0\n1\nevents 0 \(ends[389])\n")

        let manager = try await openManager(directory, config: config)
        let log = try #require(manager.log(for: topicPartition()))
        #expect(log.logEndOffset == ends[399])
        let total = log.sizeInBytes
        let batchSize = total / 400
        // The tail of 10 batches, plus at most one index interval and one batch before the recovery point.
        #expect(manager.openReport.scannedBytes <= 10 * batchSize + 1024 + batchSize)
        #expect(manager.openReport.scannedBytes * 20 < total)
        #expect(try await readAll(log, maxBytes: 1 << 16).count == Int(ends[399]))
        try await manager.close()
    }

    @Test func aMissingOrCorruptRecoveryCheckpointMeansFullRecovery() async throws {
        for content in [nil, "0\n2\nevents 0 5\n", "7\n0\n", "not a checkpoint"] {
            let directory = TemporaryDirectory()
            var config = LogConfig()
            config.segmentBytes = 2000
            let ends = try await crashAfterAppending(directory, batches: 20, config: config, checkpointAfter: 10)
            let path = directory.file("logs/recovery-point-offset-checkpoint")
            if let content {
                try content.write(toFile: path, atomically: true, encoding: .utf8)
            } else {
                try FileManager.default.removeItem(atPath: path)
            }

            let manager = try await openManager(directory, config: config)
            let log = try #require(manager.log(for: topicPartition()))
            #expect(manager.openReport.recoveredSegments == log.segmentCount)
            #expect(manager.openReport.scannedBytes == log.sizeInBytes)
            #expect(log.logEndOffset == ends[19])
            try await manager.close()
        }
    }

    @Test func aMissingOrGarbledIndexIsRebuiltNotTrusted() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4000
        config.indexIntervalBytes = 300
        do {
            let manager = try await openManager(directory, config: config)
            let log = try await manager.createLog(topicPartition())
            for i in 0..<100 {
                _ = try await log.append(
                    try makeBatch(count: 3, prefix: "b\(i)", valueSize: 30, timestamp: 1000 * Int64(i))
                )
            }
            #expect(log.segmentCount >= 5)
            try await manager.close()
        }
        let bases = try FileManager.default.contentsOfDirectory(atPath: logDirectory(directory))
            .filter { $0.hasSuffix(".log") }.compactMap { Int64($0.prefix(20)) }.sorted()
        // Segment 0: index deleted. Segment 1: index full of random bytes. Segment 2 and the active segment: a
        // plausible but wrong position.
        try FileManager.default.removeItem(atPath: segmentFile(directory, bases[0], "index"))
        try FileManager.default.removeItem(atPath: segmentFile(directory, bases[0], "timeindex"))
        let size1 = try fileSize(segmentFile(directory, bases[1], "index"))
        try Data((0..<size1).map { _ in UInt8.random(in: 0...255) }).write(
            to: URL(fileURLWithPath: segmentFile(directory, bases[1], "index"))
        )
        var index2 = try Data(contentsOf: URL(fileURLWithPath: segmentFile(directory, bases[2], "index")))
        #expect(index2.count >= 16)
        index2[7] &+= 3  // first entry's position moves 3 bytes into a batch
        try index2.write(to: URL(fileURLWithPath: segmentFile(directory, bases[2], "index")))
        let activeBase = try #require(bases.last)
        var activeIndex = try Data(contentsOf: URL(fileURLWithPath: segmentFile(directory, activeBase, "index")))
        #expect(activeIndex.count >= 16)
        activeIndex[7] &+= 3
        try activeIndex.write(to: URL(fileURLWithPath: segmentFile(directory, activeBase, "index")))

        let manager = try await openManager(directory, config: config)
        let log = try #require(manager.log(for: topicPartition()))
        for offset in 0..<log.logEndOffset {
            let batch = try #require(try await RecordBatch.split(log.read(from: offset, maxBytes: 1).records).first)
            #expect(batch.baseOffset <= offset && offset <= batch.lastOffset)
        }
        #expect(try await log.offset(forTimestamp: 5000)?.offset == 15)
        #expect(FileManager.default.fileExists(atPath: segmentFile(directory, bases[0], "index")))
        #expect(try await readAll(log).count == 300)
        try await manager.close()
    }

    @Test func leftoverTemporaryFilesAreRemoved() async throws {
        let directory = TemporaryDirectory()
        _ = try await crashAfterAppending(directory, batches: 2)
        let strays = [
            "00000000000000000000.log.cleaned", "00000000000000000000.index.deleted",
            "00000000000000000500.log.deleted",
            "00000000000000000900.index", "00000000000000000900.timeindex", "leader-epoch-checkpoint.tmp",
            "00000000000000000700.index.swap",
        ]
        for name in strays {
            try Data("junk".utf8).write(to: URL(fileURLWithPath: logDirectory(directory) + "/" + name))
        }
        let manager = try await openManager(directory)
        let files = try FileManager.default.contentsOfDirectory(atPath: logDirectory(directory))
        for name in strays { #expect(!files.contains(name), "\(name)") }
        #expect(manager.log(for: topicPartition())?.logEndOffset == 10)
        try await manager.close()
    }

    @Test func aSwapLeftByACrashDuringCompactionIsCompleted() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 1000
        do {
            let manager = try await openManager(directory, config: config)
            let log = try await manager.createLog(topicPartition())
            for i in 0..<12 { _ = try await log.append(try makeBatch(count: 2, prefix: "b\(i)", valueSize: 150)) }
            try await manager.close()
        }
        let bases = try FileManager.default.contentsOfDirectory(atPath: logDirectory(directory))
            .filter { $0.hasSuffix(".log") }.compactMap { Int64($0.prefix(20)) }.sorted()
        #expect(bases.count >= 4)
        // A compaction merged the first two segments: its result was committed as .swap, then the process died.
        var merged = try Data(contentsOf: URL(fileURLWithPath: segmentFile(directory, bases[0])))
        merged += try Data(contentsOf: URL(fileURLWithPath: segmentFile(directory, bases[1])))
        try merged.write(to: URL(fileURLWithPath: segmentFile(directory, bases[0], "log.swap")))
        try FileManager.default.removeItem(atPath: directory.file("logs/.kafka_cleanshutdown"))

        let manager = try await openManager(directory, config: config)
        let log = try #require(manager.log(for: topicPartition()))
        #expect(log.segmentBaseOffsets == [bases[0]] + bases.dropFirst(2))
        #expect(!FileManager.default.fileExists(atPath: segmentFile(directory, bases[1])))
        #expect(!FileManager.default.fileExists(atPath: segmentFile(directory, bases[0], "log.swap")))
        #expect(try await readAll(log).map(\.offset) == Array(0..<24))
        try await manager.close()
    }

    @Test func aCleanShutdownSkipsRecovery() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.segmentBytes = 4000
        do {
            let manager = try await openManager(directory, config: config)
            let log = try await manager.createLog(topicPartition())
            for _ in 0..<100 { _ = try await log.append(try makeBatch(count: 5, valueSize: 50)) }
            try await manager.close()
        }
        #expect(FileManager.default.fileExists(atPath: directory.file("logs/.kafka_cleanshutdown")))
        let manager = try await openManager(directory, config: config)
        #expect(manager.openReport.cleanShutdown)
        #expect(manager.openReport.recoveredSegments == 1)
        let log = try #require(manager.log(for: topicPartition()))
        #expect(manager.openReport.scannedBytes < 4000)
        #expect(log.logEndOffset == 500)
        #expect(!FileManager.default.fileExists(atPath: directory.file("logs/.kafka_cleanshutdown")))
        #expect(try await log.append(try makeBatch(count: 1)).firstOffset == 500)
        try await manager.close()
    }
}
