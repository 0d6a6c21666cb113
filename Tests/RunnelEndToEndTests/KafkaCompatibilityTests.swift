import Foundation
import NIOCore
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

/// Segments are checked against kafka-python, an implementation of Kafka's format that shares no code with ours.
@Suite struct KafkaCompatibilityTests {
    @Test func kafkaPythonDecodesOurSegments() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        var configuration = LogManager.Configuration(directory: directory.file("logs"))
        configuration.defaultConfig.segmentBytes = 3000
        let manager = try await LogManager.open(configuration, logger: quietLogger)
        let log = try await manager.createLog(TopicPartition(topic: "compat", partition: 2))

        // Uncompressed and gzip batches, keys, nulls, tombstones, headers, several segments, LogAppendTime.
        var expected: [(offset: Int64, timestamp: Int64, key: String?, value: String?, headers: [[String?]])] = []
        var offset: Int64 = 0
        for round in 0..<30 {
            var builder = RecordBatchBuilder(compression: round % 3 == 0 ? .gzip : .none)
            let records: [(String?, String?, [(String, String?)])] = [
                (
                    "key-\(round)", "value-\(round)-" + String(repeating: "x", count: round * 7),
                    [("trace", "t\(round)"), ("none", nil)]
                ),
                (nil, "keyless-\(round)", []),
                ("key-\(round)", nil, []),
            ]
            for (index, (key, value, headers)) in records.enumerated() {
                let timestamp = 1_700_000_000_000 + Int64(round * 10 + index)
                builder.append(
                    key: key.map { ByteBuffer(string: $0) },
                    value: value.map { ByteBuffer(string: $0) },
                    headers: headers.map { RecordHeader(key: $0.0, value: $0.1.map { ByteBuffer(string: $0) }) },
                    timestamp: timestamp
                )
                expected.append((offset, timestamp, key, value, headers.map { [$0.0, $0.1] }))
                offset += 1
            }
            let result = try await log.append(try builder.build())
            #expect(result.firstOffset == offset - 3)
        }
        log.updateConfig(try log.config.applying(["message.timestamp.type": "LogAppendTime"]))
        let stamped = try await log.append(try RecordBatchBuilder.single(key: "late", value: "stamped", timestamp: 1))
        expected.append((offset, stamped.logAppendTime, "late", "stamped", []))
        #expect(log.segmentCount > 3)
        try await manager.close()

        let output = try await runProcess(python, [pythonScript("decode_log.py"), directory.file("logs/compat-2")])
        #expect(output.status == 0, "\(output.stderr)")
        let objects = try output.stdoutLines.map(jsonObject)
        let records = objects.filter { $0["offset"] != nil }
        let files = objects.filter { $0["file"] != nil }
        #expect(files.count == log.segmentCount)
        for file in files {
            #expect(
                file["size"] as? Int == file["valid_bytes"] as? Int,
                "every byte of \(file["file"] ?? "") is a valid batch"
            )
        }
        #expect(records.count == expected.count)
        for (record, want) in zip(records, expected) {
            #expect(record["crc_valid"] as? Bool == true)
            #expect((record["offset"] as? NSNumber)?.int64Value == want.offset)
            #expect((record["timestamp"] as? NSNumber)?.int64Value == want.timestamp)
            #expect(record["key"] as? String == want.key.map(hex))
            #expect(record["value"] as? String == want.value.map(hex))
            let headers = (record["headers"] as? [[Any]] ?? []).map { $0.map { $0 as? String } }
            #expect(headers == want.headers.map { [$0[0], $0[1].map(hex)] })
        }
        #expect(Set(records.compactMap { $0["compression"] as? Int }) == [0, 1])
        #expect(records.last?["timestamp_type"] as? Int == 1)
    }

    @Test func kafkaPythonDecodesCompactedSegments() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        var configuration = LogManager.Configuration(directory: directory.file("logs"))
        configuration.defaultConfig = try LogConfig().applying(["cleanup.policy": "compact", "segment.bytes": "1000"])
        let manager = try await LogManager.open(configuration, logger: quietLogger)
        let topicPartition = try TopicPartition(topic: "compacted", partition: 0)
        let log = try await manager.createLog(topicPartition)
        for round in 0..<10 {
            for key in 0..<5 {
                let value: String? = (round == 8 && key == 0) ? nil : "r\(round)"
                _ = try await log.append(
                    try RecordBatchBuilder.single(key: "k\(key)", value: value, timestamp: 1_700_000_000_000)
                )
            }
        }
        #expect(try await manager.compact(topicPartition, force: true))
        var survivors: [Int64] = []
        var next = log.logStartOffset
        while next < log.logEndOffset {
            let batches = try RecordBatch.split(try await log.read(from: next, maxBytes: 1 << 20).records)
            for batch in batches { survivors += try batch.records().map(\.offset) }
            next = batches.last?.nextOffset ?? log.logEndOffset
        }
        try await manager.close()

        let output = try await runProcess(python, [pythonScript("decode_log.py"), directory.file("logs/compacted-0")])
        #expect(output.status == 0, "\(output.stderr)")
        let objects = try output.stdoutLines.map(jsonObject)
        let offsets = objects.compactMap { ($0["offset"] as? NSNumber)?.int64Value }
        #expect(offsets == survivors)
        #expect(offsets.count < 50)
        #expect(objects.filter { $0["offset"] != nil }.allSatisfy { $0["crc_valid"] as? Bool == true })
        for file in objects.filter({ $0["file"] != nil }) {
            #expect(file["size"] as? Int == file["valid_bytes"] as? Int)
        }
    }

    @Test func dumpLogReadsSegmentsWrittenByKafkaPython() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        let segment = directory.file("00000000000000000000.log")
        let written = try await runProcess(python, [pythonScript("write_segment.py"), segment])
        #expect(written.status == 0, "\(written.stderr)")

        let dump = try await runnel("dump-log", "--json", segment)
        #expect(dump.status == 0, "\(dump.stderr)")
        let got = try dump.stdoutLines.map(jsonObject)
        let want = try written.stdoutLines.map(jsonObject)
        #expect(got.count == 6)
        #expect(got == want)

        let text = try await runnel("dump-log", "--print-data", segment)
        #expect(text.status == 0)
        let lines = text.stdoutLines
        #expect(lines.first == "Dumping \(segment)")
        #expect(
            lines.contains {
                $0.hasPrefix("baseOffset: 3 lastOffset: 4 count: 2 ")
                    && $0.hasSuffix("compresscodec: gzip crcValid: true")
            }
        )
        #expect(
            lines.contains(
                "| offset: 1 CreateTime: 1700000000001 keySize: -1 valueSize: 2 sequence: -1 headerKeys: [] payload: v2"
            )
        )
        #expect(lines.filter { $0.hasPrefix("baseOffset:") }.count == 3)
    }

    @Test func theLogAdoptsSegmentsWrittenByKafkaPython() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        let partition = directory.file("logs/foreign-0")
        try FileManager.default.createDirectory(atPath: partition, withIntermediateDirectories: true)
        let written = try await runProcess(
            python,
            [pythonScript("write_segment.py"), partition + "/00000000000000000000.log"]
        )
        #expect(written.status == 0)

        // No indexes, no checkpoints, no clean-shutdown marker: recovered like a crashed Kafka log.
        let manager = try await LogManager.open(
            LogManager.Configuration(directory: directory.file("logs")),
            logger: quietLogger
        )
        let log = try #require(manager.log(for: TopicPartition(topic: "foreign", partition: 0)))
        #expect(log.logEndOffset == 6)
        #expect(manager.openReport.truncatedBytes == 0)
        let result = try await log.append(try RecordBatchBuilder.single(key: "ours", value: "appended", timestamp: 1))
        #expect(result.firstOffset == 6)
        let batches = try RecordBatch.split(try await log.read(from: 0, maxBytes: 1 << 20).records)
        #expect(try batches.flatMap { try $0.records() }.map(\.offset) == Array(0...6))
        #expect(try await log.offset(forTimestamp: 1_700_000_000_010)?.offset == 3)
        try await manager.close()
    }

    private func hex(_ string: String) -> String {
        string.utf8.map { String(format: "%02x", $0) }.joined()
    }
}

extension RecordBatchBuilder {
    static func single(key: String?, value: String?, timestamp: Int64) throws -> RecordBatch {
        var builder = RecordBatchBuilder()
        builder.append(
            key: key.map { ByteBuffer(string: $0) },
            value: value.map { ByteBuffer(string: $0) },
            timestamp: timestamp
        )
        return try builder.build()
    }
}
