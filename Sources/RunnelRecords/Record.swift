public import NIOCore

/// A record header: a UTF-8 key and an optional value, as in Kafka.
public struct RecordHeader: Sendable, Hashable {
    public var key: String
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// One record of a batch, as stored.
///
/// `offset` and `timestamp` are absolute. `offsetDelta`, `timestampDelta` and `attributes` are the values on the
/// wire; they are kept so that a decoded batch encodes back to the same bytes (compaction relies on this too).
public struct Record: Sendable, Hashable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: ByteBuffer?
    /// `nil` is a tombstone: on a compacted log it deletes the key.
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    public var offsetDelta: Int32
    public var timestampDelta: Int64
    public var attributes: UInt8

    public init(
        offset: Int64,
        timestamp: Int64,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader] = [],
        offsetDelta: Int32,
        timestampDelta: Int64,
        attributes: UInt8 = 0
    ) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
        self.offsetDelta = offsetDelta
        self.timestampDelta = timestampDelta
        self.attributes = attributes
    }

    /// The encoded size of the record body (everything after its length varint).
    var bodySize: Int {
        var size = 1 + Varint.size(of: timestampDelta) + Varint.size(of: offsetDelta)
        size += Record.sizeOfBytesField(key) + Record.sizeOfBytesField(value)
        size += Varint.size(of: Int32(clamping: headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            size += Varint.size(of: Int32(clamping: keyLength)) + keyLength
            size += Record.sizeOfBytesField(header.value)
        }
        return size
    }

    /// The encoded size including the length varint.
    public var encodedSize: Int {
        let body = bodySize
        return Varint.size(of: Int32(clamping: body)) + body
    }

    static func sizeOfBytesField(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return 1 }
        return Varint.size(of: Int32(clamping: bytes.readableBytes)) + bytes.readableBytes
    }

    /// Writes the record in Kafka's record format, in one write into the buffer (no bounds check per field).
    func encode(into buffer: inout ByteBuffer) {
        let body = bodySize
        let total = Varint.size(of: Int32(clamping: body)) + body
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var writer = RawWriter(out)
            writer.varint(UInt64(Varint.zigZag(Int32(clamping: body))))
            writer.byte(attributes)
            writer.varint(Varint.zigZag(timestampDelta))
            writer.varint(UInt64(Varint.zigZag(offsetDelta)))
            writer.bytesField(key)
            writer.bytesField(value)
            writer.varint(UInt64(Varint.zigZag(Int32(clamping: headers.count))))
            for header in headers {
                var name = header.key
                name.withUTF8 { utf8 in
                    writer.varint(UInt64(Varint.zigZag(Int32(clamping: utf8.count))))
                    writer.copy(UnsafeRawBufferPointer(utf8))
                }
                writer.bytesField(header.value)
            }
            return writer.position
        }
    }
}

/// Writes into memory known to be large enough (sized with ``bodySize``).
struct RawWriter {
    let out: UnsafeMutableRawBufferPointer
    var position = 0

    init(_ out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    mutating func byte(_ value: UInt8) {
        out[position] = value
        position += 1
    }

    mutating func varint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            byte(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        byte(UInt8(truncatingIfNeeded: remaining))
    }

    mutating func copy(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, let target = out.baseAddress, bytes.count > 0 else { return }
        (target + position).copyMemory(from: source, byteCount: bytes.count)
        position += bytes.count
    }

    mutating func bytesField(_ bytes: UnsafeRawBufferPointer?) {
        guard let bytes else {
            varint(UInt64(Varint.zigZag(Int32(-1))))
            return
        }
        varint(UInt64(Varint.zigZag(Int32(clamping: bytes.count))))
        copy(bytes)
    }

    mutating func bytesField(_ bytes: ByteBuffer?) {
        guard let bytes else {
            varint(UInt64(Varint.zigZag(Int32(-1))))
            return
        }
        varint(UInt64(Varint.zigZag(Int32(clamping: bytes.readableBytes))))
        bytes.withUnsafeReadableBytes { copy($0) }
    }
}
