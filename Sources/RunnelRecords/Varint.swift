import NIOCore

/// Kafka's variable-length integers: zig-zag encoding followed by unsigned LEB128 (as Protocol Buffers).
///
/// An `Int32` takes at most 5 bytes and an `Int64` at most 10; longer input is an error, as in Kafka's `ByteUtils`.
enum Varint {
    @inline(__always)
    static func zigZag(_ value: Int32) -> UInt32 { UInt32(bitPattern: (value << 1) ^ (value >> 31)) }

    @inline(__always)
    static func zigZag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

    @inline(__always)
    static func size(of value: Int32) -> Int { unsignedSize(UInt64(zigZag(value))) }

    @inline(__always)
    static func size(of value: Int64) -> Int { unsignedSize(zigZag(value)) }

    @inline(__always)
    static func unsignedSize(_ value: UInt64) -> Int {
        // 1 byte per started group of 7 bits, at least 1.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }
}

extension ByteBuffer {
    mutating func writeUnsignedVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        self.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    mutating func writeVarint(_ value: Int32) {
        writeUnsignedVarint(UInt64(Varint.zigZag(value)))
    }

    mutating func writeVarlong(_ value: Int64) {
        writeUnsignedVarint(Varint.zigZag(value))
    }
}

/// A bounds-checked reader over raw bytes, used to parse records without copying.
///
/// Every read that would run past the end throws ``RecordError/Code/corruptRecord``, so malformed input can never
/// make the parser read out of bounds or allocate according to an untrusted length.
package struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int

    init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    @inline(__always)
    mutating func readUInt8() throws(RecordError) -> UInt8 {
        guard position < bytes.count else { throw RecordError(.corruptRecord, "record ends early") }
        let byte = bytes[position]
        position += 1
        return byte
    }

    @inline(__always)
    mutating func readVarint() throws(RecordError) -> Int32 {
        var raw: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            let byte = try readUInt8()
            raw |= UInt32(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
            if shift > 28 { throw RecordError(.corruptRecord, "varint is longer than 5 bytes") }
        }
        return Int32(bitPattern: raw >> 1) ^ -Int32(bitPattern: raw & 1)
    }

    @inline(__always)
    mutating func readVarlong() throws(RecordError) -> Int64 {
        var raw: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            raw |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
            if shift > 63 { throw RecordError(.corruptRecord, "varlong is longer than 10 bytes") }
        }
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// Skips `count` bytes and returns where they started.
    @inline(__always)
    mutating func skip(_ count: Int) throws(RecordError) -> Int {
        guard count >= 0, count <= remaining else {
            throw RecordError(.corruptRecord, "length \(count) runs past the end of the record")
        }
        let start = position
        position += count
        return start
    }
}
