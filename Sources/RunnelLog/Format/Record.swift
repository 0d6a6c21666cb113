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

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(Int32(clamping: bodySize))
        buffer.writeInteger(attributes)
        buffer.writeVarlong(timestampDelta)
        buffer.writeVarint(offsetDelta)
        Record.writeBytesField(key, into: &buffer)
        Record.writeBytesField(value, into: &buffer)
        buffer.writeVarint(Int32(clamping: headers.count))
        for header in headers {
            buffer.writeVarint(Int32(clamping: header.key.utf8.count))
            buffer.writeString(header.key)
            Record.writeBytesField(header.value, into: &buffer)
        }
    }

    static func writeBytesField(_ bytes: ByteBuffer?, into buffer: inout ByteBuffer) {
        guard let bytes else {
            buffer.writeVarint(-1)
            return
        }
        buffer.writeVarint(Int32(clamping: bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }
}
