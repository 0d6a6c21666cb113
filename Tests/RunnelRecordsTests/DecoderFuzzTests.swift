import NIOCore
import RunnelTestSupport
import Testing

@testable import RunnelRecords

/// Fixed-seed fuzzing of the record batch decoder: mutated valid batches (uncompressed and gzip, with keys, headers
/// and many records; with the CRC fixed up half the time, so the mutation reaches the records) and random bytes,
/// split, validated and decoded. Nothing may trap; every outcome is a batch or a `RecordError`. `bench/fuzz` runs the
/// same decoder under libFuzzer for longer.
@Suite struct DecoderFuzzTests {
    static func seeds() throws -> [[UInt8]] {
        var seeds: [[UInt8]] = [RecordBatchTests.kafkaPythonBatch]
        for compression in [CompressionCodec.none, .gzip] {
            var builder = RecordBatchBuilder(compression: compression)
            for i in 0..<20 {
                builder.append(
                    key: i % 3 == 0 ? nil : ByteBuffer(string: "key-\(i)"),
                    value: i % 5 == 0 ? nil : ByteBuffer(string: String(repeating: "v", count: i * 7)),
                    headers: i % 2 == 0 ? [RecordHeader(key: "h\(i)", value: ByteBuffer(string: "x"))] : [],
                    timestamp: 1_700_000_000_000 + Int64(i)
                )
            }
            let batch = try builder.build()
            seeds.append(Array(batch.bytes.readableBytesView))
            // Two batches laid end to end, as in a segment or a fetch.
            seeds.append(Array(batch.bytes.readableBytesView) + Array(batch.bytes.readableBytesView))
        }
        return seeds
    }

    /// What a reader does with bytes it did not write: split, validate, decode every record.
    static func decode(_ bytes: [UInt8]) {
        let buffer = ByteBuffer(bytes: bytes)
        for allowPartial in [true, false] {
            guard let batches = try? RecordBatch.split(buffer, allowTrailingPartial: allowPartial) else { continue }
            for batch in batches {
                _ = try? batch.validate()
                _ = try? batch.compression()
                _ = try? batch.records(maxUncompressedBytes: 1 << 20)
            }
        }
        _ = try? RecordBatch(bytes: buffer).records(maxUncompressedBytes: 1 << 20)
    }

    /// Recomputes a batch's CRC (bytes 17..<21 over 21..<end) so a mutation past the header is not stopped by it.
    static func fixingChecksum(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= RecordBatch.headerSize else { return bytes }
        var fixed = bytes
        let crc = CRC32C.checksum(Array(fixed[21...]))
        for i in 0..<4 { fixed[17 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
        return fixed
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func mutatedBatchesNeverTrap(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let seeds = try Self.seeds()
        for _ in 0..<5_000 {
            guard let base = seeds.randomElement(using: &generator) else { continue }
            var input = Mutator.mutate(base, using: &generator)
            if Bool.random(using: &generator) { input = Self.fixingChecksum(input) }
            Self.decode(input)
        }
        for _ in 0..<1_000 {
            let count = Int.random(in: 0..<200, using: &generator)
            Self.decode((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
    }
}
