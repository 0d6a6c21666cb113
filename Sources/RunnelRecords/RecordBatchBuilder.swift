public import NIOCore

/// Builds a record batch from records a producer sends: offsets are relative (0, 1, 2, ...) until the log assigns
/// the real ones, and the first record's timestamp becomes the batch's base timestamp. Each record is encoded as it
/// is appended, into one records section.
///
/// ```swift
/// var builder = RecordBatchBuilder(compression: .gzip)
/// builder.append(key: ByteBuffer(string: "k"), value: ByteBuffer(string: "v"), timestamp: now)
/// let batch = try builder.build()
/// ```
public struct RecordBatchBuilder: Sendable {
    public var header: RecordBatchHeader
    public private(set) var count = 0
    /// The records, encoded, uncompressed.
    private var section = ByteBuffer()

    public init(
        compression: CompressionCodec = .none,
        timestampType: TimestampType = .createTime,
        producerId: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1
    ) {
        header = RecordBatchHeader()
        header.compression = compression
        header.timestampType = timestampType
        header.producerId = producerId
        header.producerEpoch = producerEpoch
        header.baseSequence = baseSequence
    }

    public var isEmpty: Bool { count == 0 }

    /// Makes room for `bytes` of encoded records without reallocating.
    public mutating func reserveCapacity(bytes: Int) {
        section.reserveCapacity(bytes)
    }

    /// The size of the batch if built uncompressed.
    public var uncompressedSize: Int { RecordBatch.headerSize + section.readableBytes }

    /// The deltas of the next record at `timestamp`, updating the header's timestamps.
    private mutating func nextDeltas(timestamp: Int64) -> (offset: Int32, timestamp: Int64) {
        if count == 0 {
            header.baseTimestamp = timestamp
            header.maxTimestamp = timestamp
        }
        header.maxTimestamp = max(header.maxTimestamp, timestamp)
        let delta = Int32(clamping: count)
        header.lastOffsetDelta = delta
        count += 1
        return (delta, timestamp &- header.baseTimestamp)
    }

    /// Adds a record; `nil` key or value are written as nulls (a `nil` value is a tombstone).
    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        let deltas = nextDeltas(timestamp: timestamp)
        Record(
            offset: Int64(deltas.offset),
            timestamp: timestamp,
            key: key,
            value: value,
            headers: headers,
            offsetDelta: deltas.offset,
            timestampDelta: deltas.timestamp
        ).encode(into: &section)
    }

    /// Adds one of a produce request's records, encoded straight from the request's buffer.
    public mutating func append(_ entry: ProducerRecords.Entry, of records: ProducerRecords, timestamp: Int64) {
        let deltas = nextDeltas(timestamp: timestamp)
        records.encode(entry, timestampDelta: deltas.timestamp, offsetDelta: deltas.offset, into: &section)
    }

    /// The bytes `entry` would add to this batch at `timestamp` (its length varint included).
    public func encodedSize(of entry: ProducerRecords.Entry, of records: ProducerRecords, timestamp: Int64) -> Int {
        let baseTimestamp = count == 0 ? timestamp : header.baseTimestamp
        return records.encodedSize(
            of: entry,
            timestampDelta: timestamp &- baseTimestamp,
            offsetDelta: Int32(clamping: count)
        )
    }

    /// Encodes the batch. Throws for an empty builder or an unsupported codec.
    public func build() throws(RecordError) -> RecordBatch {
        guard count > 0 else { throw RecordError(.invalidRecord, "a record batch needs at least one record") }
        return try RecordBatch.encode(header: header, section: section, count: count)
    }
}
