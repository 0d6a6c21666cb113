public import NIOCore

/// The records of one produce call, before the broker batches them: every key, value, header key and header value
/// lives in one buffer, and each record is a handful of plain numbers saying where its parts are.
///
/// A front end writes what it parsed straight into ``bytes`` (a JSON value copied compactly, base64 decoded in
/// place) and appends a record with the spans it wrote; the broker encodes the batches from the same buffer. No
/// record holds a reference of its own, so a request of ten thousand records costs one buffer, not ten thousand.
///
/// ```swift
/// var records = ProducerRecords()
/// records.appendHeader(key: "source", value: ByteBuffer(string: "web"))
/// records.append(key: ByteBuffer(string: "alice"), value: ByteBuffer(string: "{\"item\":\"book\"}"))
/// ```
public struct ProducerRecords: Sendable, Hashable {
    /// Where one record's parts are in ``ProducerRecords/bytes``.
    public struct Entry: Sendable, Hashable {
        /// nil: a null key.
        public var key: Range<Int>?
        /// nil: a null value (a tombstone).
        public var value: Range<Int>?
        /// Its headers' positions in ``ProducerRecords/headers``.
        public var headers: Range<Int>
        /// Milliseconds since the epoch; nil: the time of the append.
        public var timestamp: Int64?
        /// nil: chosen by the partitioner.
        public var partition: Int32?

        /// The record's key and value bytes (what quotas and traffic metrics count).
        public var payloadBytes: Int { (key?.count ?? 0) + (value?.count ?? 0) }
    }

    /// Where one header's key (UTF-8) and value are in ``ProducerRecords/bytes``.
    public struct Header: Sendable, Hashable {
        public var key: Range<Int>
        /// nil: a null value.
        public var value: Range<Int>?
    }

    /// Every part of every record; spans are indexes into it (from its start, not its reader index).
    public var bytes: ByteBuffer
    public private(set) var entries: [Entry] = []
    public private(set) var headers: [Header] = []
    /// The first header that belongs to the next record appended.
    private var pendingHeaders = 0

    /// - Parameters:
    ///   - byteCapacity: bytes to reserve for keys, values and headers.
    ///   - count: records to reserve room for.
    public init(byteCapacity: Int = 0, count: Int = 0) {
        bytes = ByteBufferAllocator().buffer(capacity: byteCapacity)
        entries.reserveCapacity(count)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    // MARK: Writing

    /// Writes bytes at the end of ``bytes`` and returns where they are.
    public mutating func write(_ part: ByteBuffer) -> Range<Int> {
        let start = bytes.writerIndex
        bytes.writeImmutableBuffer(part)
        return start..<bytes.writerIndex
    }

    /// Writes a string's UTF-8 bytes and returns where they are.
    public mutating func write(_ text: String) -> Range<Int> {
        let start = bytes.writerIndex
        bytes.writeString(text)
        return start..<bytes.writerIndex
    }

    /// Adds a header to the next record appended; its key and value were written to ``bytes`` already.
    public mutating func appendHeader(key: Range<Int>, value: Range<Int>?) {
        headers.append(Header(key: key, value: value))
    }

    /// Adds a header to the next record appended, copying its key and value.
    public mutating func appendHeader(key: String, value: ByteBuffer?) {
        let keySpan = write(key)
        appendHeader(key: keySpan, value: value.map { write($0) })
    }

    /// Appends a record whose key and value were written to ``bytes`` already; the headers added since the previous
    /// record are its own.
    public mutating func append(
        key: Range<Int>?,
        value: Range<Int>?,
        timestamp: Int64? = nil,
        partition: Int32? = nil
    ) {
        entries.append(
            Entry(
                key: key,
                value: value,
                headers: pendingHeaders..<headers.count,
                timestamp: timestamp,
                partition: partition
            )
        )
        pendingHeaders = headers.count
    }

    /// Appends a record, copying its key, value and headers.
    public mutating func append(
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader] = [],
        timestamp: Int64? = nil,
        partition: Int32? = nil
    ) {
        for header in headers { appendHeader(key: header.key, value: header.value) }
        let keySpan = key.map { write($0) }
        let valueSpan = value.map { write($0) }
        append(key: keySpan, value: valueSpan, timestamp: timestamp, partition: partition)
    }

    /// Drops the records but keeps their bytes: records appended next may point at bytes already written.
    public mutating func removeRecords() {
        entries.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
        pendingHeaders = 0
    }

    /// Drops the records, keeping their storage for reuse.
    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
        bytes.clear()
        pendingHeaders = 0
    }

    // MARK: Reading

    /// A copy of the bytes at `span` (nil for nil), sharing storage with ``bytes``.
    public func slice(_ span: Range<Int>?) -> ByteBuffer? {
        span.flatMap { bytes.getSlice(at: $0.lowerBound, length: $0.count) }
    }

    /// The bytes a record takes in a batch at `timestampDelta` and `offsetDelta`, its length varint included.
    public func encodedSize(of entry: Entry, timestampDelta: Int64, offsetDelta: Int32) -> Int {
        let body = bodySize(of: entry, timestampDelta: timestampDelta, offsetDelta: offsetDelta)
        return Varint.size(of: Int32(clamping: body)) + body
    }

    func bodySize(of entry: Entry, timestampDelta: Int64, offsetDelta: Int32) -> Int {
        var size = 1 + Varint.size(of: timestampDelta) + Varint.size(of: offsetDelta)
        size += Self.sizeOfBytesField(entry.key) + Self.sizeOfBytesField(entry.value)
        size += Varint.size(of: Int32(clamping: entry.headers.count))
        for header in headers[entry.headers] {
            size += Self.sizeOfBytesField(header.key) + Self.sizeOfBytesField(header.value)
        }
        return size
    }

    private static func sizeOfBytesField(_ span: Range<Int>?) -> Int {
        guard let span else { return 1 }
        return Varint.size(of: Int32(clamping: span.count)) + span.count
    }

    /// Calls `body` with the record's key bytes (nil for a null key), without copying.
    public func withKeyBytes<Result>(
        of entry: Entry,
        _ body: (UnsafeRawBufferPointer?) throws -> Result
    ) rethrows -> Result {
        guard let key = entry.key else { return try body(nil) }
        return try bytes.withUnsafeReadableBytes { all in
            let base = bytes.readerIndex
            return try body(UnsafeRawBufferPointer(rebasing: all[(key.lowerBound - base)..<(key.upperBound - base)]))
        }
    }

    /// Writes a record in Kafka's record format into `buffer`, in one write.
    func encode(_ entry: Entry, timestampDelta: Int64, offsetDelta: Int32, into buffer: inout ByteBuffer) {
        let body = bodySize(of: entry, timestampDelta: timestampDelta, offsetDelta: offsetDelta)
        let total = Varint.size(of: Int32(clamping: body)) + body
        bytes.withUnsafeReadableBytes { all in
            let base = bytes.readerIndex
            func part(_ span: Range<Int>?) -> UnsafeRawBufferPointer? {
                span.map { UnsafeRawBufferPointer(rebasing: all[($0.lowerBound - base)..<($0.upperBound - base)]) }
            }
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
                var writer = RawWriter(out)
                writer.varint(UInt64(Varint.zigZag(Int32(clamping: body))))
                writer.byte(0)
                writer.varint(Varint.zigZag(timestampDelta))
                writer.varint(UInt64(Varint.zigZag(offsetDelta)))
                writer.bytesField(part(entry.key))
                writer.bytesField(part(entry.value))
                writer.varint(UInt64(Varint.zigZag(Int32(clamping: entry.headers.count))))
                for header in headers[entry.headers] {
                    writer.bytesField(part(header.key))
                    writer.bytesField(part(header.value))
                }
                return writer.position
            }
        }
    }
}
