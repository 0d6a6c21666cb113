import Foundation
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

/// Segments damaged while the server was stopped (after a clean shutdown, so recovery trusts them): every batch is
/// checked as it is read, a bad one is set aside and its offsets answered with CORRUPT_MESSAGE naming them, and
/// every other offset stays readable: none is served twice, none wrongly, none skipped in silence.
@Suite struct CorruptionTests {
    /// 12 batches of 5 records in segments of about 3 batches, shut down cleanly; the batches' positions by segment.
    struct Stored {
        var size: Int
        var baseOffset: Int64
        var lastOffset: Int64
    }

    func cleanLog(
        _ directory: TemporaryDirectory
    ) async throws -> (ends: [Int64], batches: [(base: Int64, position: Int, batch: Stored)]) {
        var config = LogConfig()
        config.segmentBytes = 2000
        let manager = try await openManager(directory, config: config)
        let log = try await manager.createLog(topicPartition())
        var ends: [Int64] = []
        for i in 0..<12 {
            ends.append(try await log.append(try makeBatch(count: 5, prefix: "b\(i)", valueSize: 50)).lastOffset + 1)
        }
        try await manager.close()
        var batches: [(Int64, Int, Stored)] = []
        for base in log.segmentBaseOffsets {
            var reader = try SegmentFileReader(path: segmentPath(directory, base))
            while case .batch(let position, let batch) = try reader.next() {
                let stored = Stored(
                    size: Int(batch.batchLength) + 12,
                    baseOffset: batch.baseOffset,
                    lastOffset: batch.baseOffset + Int64(batch.lastOffsetDelta)
                )
                batches.append((base, position, stored))
            }
        }
        return (ends, batches)
    }

    func segmentPath(_ directory: TemporaryDirectory, _ base: Int64, _ kind: String = "log") -> String {
        directory.file("logs/events-0/" + String(format: "%020lld", base) + "." + kind)
    }

    func patch(_ path: String, at position: Int, _ bytes: [UInt8]) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        for (index, byte) in bytes.enumerated() { data[position + index] = byte }
        try data.write(to: URL(fileURLWithPath: path))
    }

    func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    /// Reads the whole log as a consumer that skips damage when told where to go on: the offsets served (each once,
    /// checked to be in order), and the damaged ranges reported.
    func readSkippingDamage(_ log: PartitionLog) async throws -> (offsets: [Int64], damaged: [ClosedRange<Int64>]) {
        var offsets: [Int64] = []
        var damaged: [ClosedRange<Int64>] = []
        var offset = log.logStartOffset
        var steps = 0
        while offset < log.logEndOffset {
            steps += 1
            guard steps < 1000 else {
                Issue.record("the reader does not progress at \(offset)")
                break
            }
            do throws(LogError) {
                let result = try await log.read(from: offset, maxBytes: 700)
                let batches = try recordFormat { () throws(RecordError) in try RecordBatch.split(result.records) }
                guard let last = batches.last else {
                    Issue.record("an empty read at \(offset), before the log end")
                    break
                }
                for batch in batches {
                    #expect(batch.isChecksumValid)
                    offsets += try recordFormat { () throws(RecordError) in try batch.records() }.map(\.offset)
                        .filter { $0 >= offset }
                }
                offset = last.nextOffset
            } catch {
                #expect(error.code == .corruptRecord)
                let numbers = error.message.split(whereSeparator: { !$0.isNumber }).compactMap { Int64($0) }
                // "offsets A to B of events-0 ...; read from offset C to go on"
                guard numbers.count >= 4, let next = numbers.last, next > offset else {
                    Issue.record("cannot tell where to go on from: \(error.message)")
                    break
                }
                damaged.append(numbers[0]...numbers[1])
                #expect(error.message.contains("events-0"))
                #expect(!error.message.contains("/runnel-tests"), "a server path in \(error.message)")
                offset = next
            }
        }
        #expect(
            offsets == offsets.sorted() && Set(offsets).count == offsets.count,
            "offsets served twice or out of order"
        )
        return (offsets, damaged)
    }

    func expectOnly(_ lost: ClosedRange<Int64>, lostFrom log: PartitionLog, total: Int64) async throws {
        let (offsets, damaged) = try await readSkippingDamage(log)
        #expect(offsets == Array(0..<total).filter { !lost.contains($0) })
        #expect(damaged == [lost])
    }

    @Test func aFlippedValueByteIsNeverServed() async throws {
        let directory = TemporaryDirectory()
        let (ends, batches) = try await cleanLog(directory)
        let (base, position, batch) = batches[4]
        var data = try Data(contentsOf: URL(fileURLWithPath: segmentPath(directory, base)))
        data[position + batch.size - 3] ^= 0x01
        try data.write(to: URL(fileURLWithPath: segmentPath(directory, base)))

        let manager = try await openManager(directory)
        let log = try #require(manager.log(for: topicPartition()))
        try await expectOnly(batch.baseOffset...batch.lastOffset, lostFrom: log, total: ends[11])
        #expect(FileManager.default.fileExists(atPath: segmentPath(directory, base, "quarantine")))
        #expect(log.segmentBaseOffsets.count == Set(batches.map(\.base)).count, "no segment deleted")
        try await manager.close()
    }

    @Test(arguments: [Int32.max, 0, 1, -5])
    func aBrokenLengthCostsOnlyItsBatch(length: Int32) async throws {
        let directory = TemporaryDirectory()
        let (ends, batches) = try await cleanLog(directory)
        let (base, position, batch) = batches[4]
        try patch(segmentPath(directory, base), at: position + 8, bigEndian(length))

        let manager = try await openManager(directory)
        let log = try #require(manager.log(for: topicPartition()))
        try await expectOnly(batch.baseOffset...batch.lastOffset, lostFrom: log, total: ends[11])
        try await manager.close()
    }

    @Test(arguments: [-40, 40, 1_000_000])
    func aRewrittenBaseOffsetServesNoOffsetTwiceOrWrongly(shift: Int64) async throws {
        let directory = TemporaryDirectory()
        let (ends, batches) = try await cleanLog(directory)
        // A batch in the middle of its segment, so batches on both sides tell its true place.
        let (base, position, batch) = try #require(
            batches.enumerated().first { index, entry in
                index > 0 && index + 1 < batches.count && batches[index - 1].base == entry.base
                    && batches[index + 1].base == entry.base
            }?.element
        )
        try patch(segmentPath(directory, base), at: position, bigEndian(batch.baseOffset + shift))

        let manager = try await openManager(directory)
        let log = try #require(manager.log(for: topicPartition()))
        try await expectOnly(batch.baseOffset...batch.lastOffset, lostFrom: log, total: ends[11])
        let range = try #require(log.damagedRanges.first?.range)
        #expect(range.correctedBaseOffset == batch.baseOffset, "the batch's true base offset is known")
        try await manager.close()
    }

    /// A sealed segment whose index must be rebuilt, with damage in it: rebuilding sets the damage aside instead of
    /// truncating the segment there.
    @Test func rebuildingAnIndexNeverTruncates() async throws {
        let directory = TemporaryDirectory()
        let (ends, batches) = try await cleanLog(directory)
        let (base, position, batch) = batches[4]
        let size = try #require(
            FileManager.default.attributesOfItem(atPath: segmentPath(directory, base))[.size] as? Int
        )
        var data = try Data(contentsOf: URL(fileURLWithPath: segmentPath(directory, base)))
        data[position + 40] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: segmentPath(directory, base)))
        try FileManager.default.removeItem(atPath: segmentPath(directory, base, "index"))

        let manager = try await openManager(directory)
        let log = try #require(manager.log(for: topicPartition()))
        try await expectOnly(batch.baseOffset...batch.lastOffset, lostFrom: log, total: ends[11])
        #expect(try FileManager.default.attributesOfItem(atPath: segmentPath(directory, base))[.size] as? Int == size)
        try await manager.close()
    }
}
