import CCRC32C
import NIOCore
import RunnelTestSupport
import Testing

@testable import RunnelRecords

@Suite struct CRC32CTests {
    @Test func matchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func hardwareAndTableImplementationsAgreeAtEveryAlignmentAndLength() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in [0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1000, 4000] where start + length <= raw.count {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    let software = runnel_crc32c_extend_software(0, slice.baseAddress, slice.count)
                    #expect(CRC32C.checksum(slice) == software, "start \(start) length \(length)")
                }
            }
        }
    }

    @Test func extendingPiecewiseEqualsOneShot() {
        let data = Array("The quick brown fox jumps over the lazy dog".utf8)
        let whole = CRC32C.checksum(data)
        for split in 0...data.count {
            let first = CRC32C.checksum(Array(data[..<split]))
            let both = Array(data[split...]).withUnsafeBytes { CRC32C.checksum($0, extending: first) }
            #expect(both == whole)
        }
    }
}

@Suite struct VarintTests {
    /// The encodings listed in the format reference.
    static let examples: [(Int32, [UInt8])] = [
        (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (63, [0x7e]), (-64, [0x7f]), (64, [0x80, 0x01]),
        (300, [0xd8, 0x04]), (-300, [0xd7, 0x04]),
    ]

    @Test func encodesAndDecodesTheReferenceExamples() throws {
        for (value, encoded) in Self.examples {
            var buffer = ByteBuffer()
            buffer.writeVarint(value)
            #expect(buffer.bytes == encoded, "\(value)")
            #expect(Varint.size(of: value) == encoded.count)
            let decoded = try encoded.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw)
                return try cursor.readVarint()
            }
            #expect(decoded == value)
        }
    }

    @Test func roundTripsExtremes() throws {
        for value in [Int32.min, Int32.max, -1_000_000, 1_000_000] {
            var buffer = ByteBuffer()
            buffer.writeVarint(value)
            #expect(buffer.readableBytes == Varint.size(of: value))
            #expect(
                try buffer.bytes.withUnsafeBytes { raw in
                    var c = ByteCursor(raw)
                    return try c.readVarint()
                } == value
            )
        }
        for value in [Int64.min, Int64.max, -1, 1 << 40] {
            var buffer = ByteBuffer()
            buffer.writeVarlong(value)
            #expect(buffer.readableBytes == Varint.size(of: value))
            #expect(buffer.readableBytes <= 10)
            #expect(
                try buffer.bytes.withUnsafeBytes { raw in
                    var c = ByteCursor(raw)
                    return try c.readVarlong()
                } == value
            )
        }
    }

    @Test func rejectsVarintsLongerThanTheirMaximum() {
        let sixBytes: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
        #expect(throws: RecordError.self) {
            try sixBytes.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw)
                return try cursor.readVarint()
            }
        }
        let elevenBytes = [UInt8](repeating: 0x80, count: 10) + [0x01]
        #expect(throws: RecordError.self) {
            try elevenBytes.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw)
                return try cursor.readVarlong()
            }
        }
        let truncated: [UInt8] = [0x80]
        #expect(throws: RecordError.self) {
            try truncated.withUnsafeBytes { raw in
                var cursor = ByteCursor(raw)
                return try cursor.readVarint()
            }
        }
    }
}
