import Foundation
import NIOCore
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@Suite struct DumpLogTests {
    /// A segment of three batches written by the log engine; returns its path.
    func writeSegment(_ directory: TemporaryDirectory) async throws -> String {
        var configuration = LogManager.Configuration(directory: directory.file("logs"))
        configuration.defaultConfig.indexIntervalBytes = 10
        let manager = try await LogManager.open(configuration, logger: quietLogger)
        let log = try await manager.createLog(TopicPartition(topic: "dump", partition: 0))
        for i in 0..<3 {
            var builder = RecordBatchBuilder()
            builder.append(
                key: ByteBuffer(string: "k\(i)"),
                value: ByteBuffer(string: "v\(i)"),
                headers: [RecordHeader(key: "n", value: ByteBuffer(string: "\(i)"))],
                timestamp: 1_000 + Int64(i)
            )
            builder.append(key: nil, value: nil, timestamp: 2_000)
            _ = try await log.append(try builder.build())
        }
        try await manager.close()
        return directory.file("logs/dump-0/00000000000000000000.log")
    }

    @Test func printsBatchesRecordsAndJSON() async throws {
        let directory = TemporaryDirectory()
        let segment = try await writeSegment(directory)
        let batches = try await runnel("dump-log", segment)
        #expect(batches.status == 0)
        #expect(batches.stdoutLines.count == 5)
        #expect(batches.stdoutLines[1] == "Log starting offset: 0")
        #expect(
            batches.stdoutLines[3]
                == "baseOffset: 2 lastOffset: 3 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 84 CreateTime: 2000 size: 84 magic: 2 compresscodec: none crcValid: true"
        )
        let data = try await runnel("dump-log", "--print-data", segment)
        #expect(
            data.stdoutLines.contains(
                "| offset: 2 CreateTime: 1001 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [n] key: k1 payload: v1"
            )
        )
        #expect(
            data.stdoutLines.contains(
                "| offset: 3 CreateTime: 2000 keySize: -1 valueSize: -1 sequence: -1 headerKeys: []"
            )
        )

        let json = try await runnel("dump-log", "--json", segment)
        #expect(json.stdoutLines.count == 6)
        #expect(json.stdoutLines[2] == #"{"headers":{"n":"1"},"key":"k1","offset":2,"timestamp":1001,"value":"v1"}"#)
        #expect(json.stdoutLines[3] == #"{"headers":{},"key":null,"offset":3,"timestamp":2000,"value":null}"#)

        let index = try await runnel("dump-log", segment.replacingOccurrences(of: ".log", with: ".index"))
        #expect(index.status == 0)
        #expect(index.stdoutLines.dropFirst() == ["offset: 3 position: 84", "offset: 5 position: 168"])
        let timeIndex = try await runnel("dump-log", segment.replacingOccurrences(of: ".log", with: ".timeindex"))
        // Kafka's rule: the entry names the last offset of the batch where the largest timestamp was first seen.
        #expect(timeIndex.stdoutLines.dropFirst().first == "timestamp: 2000 offset: 1")
    }

    @Test func failsClearlyOnDamagedFiles() async throws {
        let directory = TemporaryDirectory()
        let segment = try await writeSegment(directory)
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))

        // Each batch is 84 bytes; flip a byte inside the records of the second one.
        #expect(original.count == 3 * 84)
        var flipped = original
        flipped[84 + 70] ^= 0xff
        try flipped.write(to: URL(fileURLWithPath: directory.file("flipped.log")))
        let badCRC = try await runnel("dump-log", "--print-data", directory.file("flipped.log"))
        #expect(badCRC.status == 1)
        #expect(badCRC.stdout.contains("crcValid: false"))
        #expect(badCRC.stderr.contains("1 batch(es) fail their CRC check (base offsets 2)"))
        #expect(!badCRC.stdout.contains("offset: 2 "), "records of a damaged batch are not printed")

        try original.prefix(original.count - 9).write(to: URL(fileURLWithPath: directory.file("truncated.log")))
        let truncated = try await runnel("dump-log", "--json", directory.file("truncated.log"))
        #expect(truncated.status == 1)
        #expect(truncated.stdoutLines.count == 4, "the complete batches before the damage are printed")
        #expect(
            truncated.stderr.contains(
                "corrupt data at position 168: batch at position 168 claims 84 bytes but only 75 remain"
            )
        )

        var huge = original
        huge.replaceSubrange((168 + 8)..<(168 + 12), with: [0x7f, 0xff, 0xff, 0xff])
        try huge.write(to: URL(fileURLWithPath: directory.file("huge.log")))
        let claimed = try await runnel("dump-log", directory.file("huge.log"))
        #expect(claimed.status == 1)
        #expect(claimed.stderr.contains("claims 2147483659 bytes"))

        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory.file("garbage.log")))
        let garbage = try await runnel("dump-log", directory.file("garbage.log"))
        #expect(garbage.status == 1)
        #expect(garbage.stderr.contains("3 trailing bytes are less than a batch header"))

        let index = segment.replacingOccurrences(of: ".log", with: ".index")
        var torn = try Data(contentsOf: URL(fileURLWithPath: index))
        torn.removeLast(3)
        try torn.write(to: URL(fileURLWithPath: directory.file("00000000000000000000.index")))
        let tornIndex = try await runnel("dump-log", directory.file("00000000000000000000.index"))
        #expect(tornIndex.status == 1)
        #expect(tornIndex.stderr.contains("size 13 is not a multiple of the 8-byte entry size"))

        let missing = try await runnel("dump-log", directory.file("missing.log"))
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("No such file or directory"))
    }
}
