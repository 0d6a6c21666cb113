import NIOCore
import RunnelTestSupport
import Testing

@testable import RunnelRecords

@Suite struct RecordBatchTests {
    /// The 86-byte batch of the format reference, written by kafka-python 3.0.12:
    /// (k="k", v="v", ts=1700000000000) and (k=null, v="hello", ts=+5, header h="x").
    static let kafkaPythonBatch = bytes(
        fromHex: """
            0000000000000000 0000004a 00000000 02 a94f3d63 0000 00000001 0000018bcfe56800 0000018bcfe56805
            ffffffffffffffff ffff ffffffff 00000002
            10 00 00 00 02 6b 02 76 00
            1e 00 0a 02 01 0a 68656c6c6f 02 02 68 02 78
            """
    )

    @Test func decodesTheGoldenBatchWrittenByKafkaPython() throws {
        let batch = try RecordBatch(bytes: ByteBuffer(bytes: Self.kafkaPythonBatch))
        #expect(batch.sizeInBytes == 86)
        #expect(batch.baseOffset == 0)
        #expect(batch.batchLength == 74)
        #expect(batch.partitionLeaderEpoch == 0)
        #expect(batch.magic == 2)
        #expect(batch.crc == 0xa94f_3d63)
        #expect(batch.isChecksumValid)
        #expect(try batch.compression() == CompressionCodec.none)
        #expect(batch.header.timestampType == .createTime)
        #expect(batch.lastOffsetDelta == 1)
        #expect(batch.baseTimestamp == 1_700_000_000_000)
        #expect(batch.maxTimestamp == 1_700_000_000_005)
        #expect(batch.producerId == -1)
        #expect(batch.producerEpoch == -1)
        #expect(batch.baseSequence == -1)
        #expect(batch.recordCount == 2)
        try batch.validate()

        let records = try batch.records()
        #expect(records.count == 2)
        #expect(records[0].offset == 0)
        #expect(string(records[0].key) == "k")
        #expect(string(records[0].value) == "v")
        #expect(records[0].timestamp == 1_700_000_000_000)
        #expect(records[0].headers.isEmpty)
        #expect(records[1].offset == 1)
        #expect(records[1].key == nil)
        #expect(string(records[1].value) == "hello")
        #expect(records[1].timestamp == 1_700_000_000_005)
        #expect(records[1].headers == [RecordHeader(key: "h", value: buffer("x"))])
    }

    @Test func reencodingTheGoldenBatchGivesTheSameBytes() throws {
        let batch = try RecordBatch(bytes: ByteBuffer(bytes: Self.kafkaPythonBatch))
        let reencoded = try RecordBatch.encode(header: batch.header, records: batch.records())
        #expect(reencoded.bytes.bytes == Self.kafkaPythonBatch)
    }

    @Test func builderWritesWhatKafkaPythonWrites() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: buffer("k"), value: buffer("v"), timestamp: 1_700_000_000_000)
        builder.append(
            key: nil,
            value: buffer("hello"),
            headers: [RecordHeader(key: "h", value: buffer("x"))],
            timestamp: 1_700_000_000_005
        )
        var batch = try builder.build()
        // kafka-python stamps partitionLeaderEpoch 0 where Java producers write -1; it is outside the CRC.
        #expect(batch.partitionLeaderEpoch == -1)
        batch.setPartitionLeaderEpoch(0)
        #expect(batch.bytes.bytes == Self.kafkaPythonBatch)
    }

    @Test(arguments: [CompressionCodec.none, .gzip])
    func roundTripsKeysValuesHeadersAndNulls(codec: CompressionCodec) throws {
        var builder = RecordBatchBuilder(compression: codec)
        let big = String(repeating: "payload ", count: 2000)
        builder.append(key: buffer("a"), value: buffer("1"), timestamp: 100)
        builder.append(key: nil, value: buffer(big), timestamp: 90)
        builder.append(key: buffer("tomb"), value: nil, timestamp: 300)
        builder.append(key: nil, value: nil, timestamp: 300)
        builder.append(
            key: buffer(""),
            value: buffer(""),
            headers: [
                RecordHeader(key: "trace", value: buffer("abc")), RecordHeader(key: "empty", value: nil),
                RecordHeader(key: "ünïcødé", value: buffer("✓")),
            ],
            timestamp: 250
        )
        let batch = try builder.build()
        try batch.validate()
        #expect(try batch.compression() == codec)
        #expect(batch.baseTimestamp == 100)
        #expect(batch.maxTimestamp == 300)
        #expect(batch.lastOffsetDelta == 4)
        if codec == .gzip { #expect(batch.sizeInBytes < big.utf8.count / 4) }

        let decoded = try RecordBatch(bytes: batch.bytes).records()
        #expect(decoded.map(\.offset) == [0, 1, 2, 3, 4])
        #expect(decoded.map(\.timestamp) == [100, 90, 300, 300, 250])
        #expect(decoded.map { string($0.key) } == ["a", nil, "tomb", nil, ""])
        #expect(decoded.map { string($0.value) } == ["1", big, nil, nil, ""])
        #expect(decoded[4].headers.map(\.key) == ["trace", "empty", "ünïcødé"])
        #expect(decoded[4].headers.map { string($0.value) } == ["abc", nil, "✓"])

        let reencoded = try RecordBatch.encode(header: batch.header, records: decoded)
        #expect(reencoded.bytes.bytes == batch.bytes.bytes)
    }

    @Test func reencodingRandomBatchesIsTheIdentity() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<50 {
            var builder = RecordBatchBuilder(compression: round % 5 == 0 ? .gzip : .none)
            for _ in 0..<Int.random(in: 1...40, using: &generator) {
                let key = Bool.random(using: &generator) ? nil : randomBuffer(Int.random(in: 0...20), &generator)
                let value = Bool.random(using: &generator) ? nil : randomBuffer(Int.random(in: 0...300), &generator)
                let headers = (0..<Int.random(in: 0...3, using: &generator)).map { i in
                    RecordHeader(
                        key: "h\(i)",
                        value: Bool.random(using: &generator) ? nil : randomBuffer(5, &generator)
                    )
                }
                builder.append(
                    key: key,
                    value: value,
                    headers: headers,
                    timestamp: Int64.random(in: 0...1 << 41, using: &generator)
                )
            }
            var batch = try builder.build()
            batch.setBaseOffset(Int64.random(in: 0...1 << 40, using: &generator))
            let decoded = try RecordBatch(bytes: batch.bytes)
            #expect(
                try RecordBatch.encode(header: decoded.header, records: decoded.records()).bytes.bytes
                    == batch.bytes.bytes
            )
        }
    }

    @Test func settingLogAppendTimeRewritesTheCRC() throws {
        var batch = try makeBatch(count: 3)
        batch.setMaxTimestamp(1_800_000_000_000, type: .logAppendTime)
        #expect(batch.isChecksumValid)
        #expect(batch.header.timestampType == .logAppendTime)
        #expect(try batch.records().allSatisfy { $0.timestamp == 1_800_000_000_000 })
    }

    @Test func offsetAndEpochAreOutsideTheCRC() throws {
        var batch = try makeBatch(count: 3)
        let crc = batch.crc
        batch.setBaseOffset(1234)
        batch.setPartitionLeaderEpoch(7)
        #expect(batch.crc == crc)
        #expect(batch.isChecksumValid)
        #expect(try batch.records().map(\.offset) == [1234, 1235, 1236])
    }

    // MARK: - Bad input

    @Test func aFlippedByteFailsTheCRC() throws {
        let good = try makeBatch(count: 5).bytes.bytes
        for position in [21, 30, 61, good.count - 1] {
            var bad = good
            bad[position] ^= 0x40
            let batch = try RecordBatch(bytes: ByteBuffer(bytes: bad))
            #expect(!batch.isChecksumValid)
            #expect(throws: RecordError.self) { try batch.validate() }
        }
    }

    @Test func rejectsBadFraming() throws {
        let good = try makeBatch(count: 2).bytes.bytes
        #expect(throws: RecordError.self) { try RecordBatch(bytes: ByteBuffer(bytes: Array(good.prefix(40)))) }
        var wrongMagic = good
        wrongMagic[16] = 1
        #expect(throws: RecordError.self) { try RecordBatch(bytes: ByteBuffer(bytes: wrongMagic)) }
        var wrongLength = good
        wrongLength[11] &+= 1
        #expect(throws: RecordError.self) { try RecordBatch(bytes: ByteBuffer(bytes: wrongLength)) }
    }

    @Test func aHugeRecordCountIsRejectedWithoutAllocatingForIt() throws {
        var header = RecordBatchHeader()
        header.lastOffsetDelta = 0
        let batch = try RecordBatch.encode(header: header, records: [])
        var bytes = batch.bytes.bytes
        bytes.replaceSubrange(57..<61, with: [0x7f, 0xff, 0xff, 0xff])
        let forged = try resealed(bytes)
        #expect(forged.isChecksumValid)
        let error = #expect(throws: RecordError.self) { try forged.records() }
        #expect(error?.code == .corruptRecord)
    }

    @Test func rejectsRecordsThatDoNotAddUp() throws {
        let good = try makeBatch([("k", "v")]).bytes.bytes
        // The record length varint (byte 61) claims more bytes than follow.
        var long = good
        long[61] = 0x7e
        #expect(throws: RecordError.self) { try resealed(long).records() }
        // A key length running past the record.
        var key = good
        key[65] = 0x7e
        #expect(throws: RecordError.self) { try resealed(key).records() }
        // Trailing bytes after the declared records.
        let trailing = good + [0x00, 0x00]
        #expect(throws: RecordError.self) { try resealed(trailing).records() }
    }

    @Test func rejectsCodecsItCannotRead() throws {
        for codec in [CompressionCodec.snappy, .lz4, .zstd] {
            var header = RecordBatchHeader()
            header.compression = codec
            #expect(throws: RecordError.self) { try RecordBatch.encode(header: header, records: []) }
            var bytes = try makeBatch(count: 1).bytes.bytes
            bytes[22] = UInt8(codec.rawValue)
            let batch = try resealed(bytes)
            let error = #expect(throws: RecordError.self) { try batch.records() }
            #expect(error?.code == .unsupportedCompression)
            #expect(error?.message.contains(codec.name) == true)
        }
        var reserved = try makeBatch(count: 1).bytes.bytes
        reserved[22] = 6
        let error = #expect(throws: RecordError.self) { try resealed(reserved).records() }
        #expect(error?.code == .corruptRecord)
    }

    @Test func refusesGzipThatExpandsPastTheLimit() throws {
        let batch = try makeBatch(count: 1, valueSize: 1 << 20, compression: .gzip)
        #expect(batch.sizeInBytes < 10_000)
        #expect(throws: RecordError.self) { try batch.records(maxUncompressedBytes: 64 << 10) }
        #expect(try batch.records().count == 1)
    }

    @Test func splitsBatchesLaidEndToEnd() throws {
        let a = try makeBatch(count: 2).bytes
        var b = try makeBatch(count: 3)
        b.setBaseOffset(2)
        var joined = a
        joined.writeImmutableBuffer(b.bytes)
        #expect(try RecordBatch.split(joined).map(\.baseOffset) == [0, 2])
        var partial = joined
        partial.moveWriterIndex(to: partial.writerIndex - 5)
        #expect(try RecordBatch.split(partial, allowTrailingPartial: true).map(\.baseOffset) == [0])
        #expect(throws: RecordError.self) { try RecordBatch.split(partial) }
        // The offset after the last complete batch, from the headers alone.
        #expect(RecordBatch.nextOffset(afterBatchesIn: joined) == 5)
        #expect(RecordBatch.nextOffset(afterBatchesIn: partial) == 2)
        #expect(RecordBatch.nextOffset(afterBatchesIn: ByteBuffer()) == nil)
    }

    private func resealed(_ bytes: [UInt8]) throws -> RecordBatch {
        var bytes = bytes
        let length = Int32(bytes.count - 12)
        withUnsafeBytes(of: length.bigEndian) { bytes.replaceSubrange(8..<12, with: $0) }
        let crc = Array(bytes[21...]).withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: crc.bigEndian) { bytes.replaceSubrange(17..<21, with: $0) }
        return try RecordBatch(bytes: ByteBuffer(bytes: bytes))
    }

    private func randomBuffer(_ count: Int, _ generator: inout SystemRandomNumberGenerator) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
