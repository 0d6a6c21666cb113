public import NIOCore

/// Builds a record batch from records a producer sends: offsets are relative (0, 1, 2, ...) until the log assigns
/// the real ones, and the first record's timestamp becomes the batch's base timestamp.
///
/// ```swift
/// var builder = RecordBatchBuilder(compression: .gzip)
/// builder.append(key: ByteBuffer(string: "k"), value: ByteBuffer(string: "v"), timestamp: now)
/// let batch = try builder.build()
/// ```
public struct RecordBatchBuilder: Sendable {
    public var header: RecordBatchHeader
    public private(set) var records: [Record] = []
    private var recordsSize = 0

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

    public var count: Int { records.count }
    public var isEmpty: Bool { records.isEmpty }

    /// Makes room for `count` records without reallocating.
    public mutating func reserveCapacity(_ count: Int) {
        records.reserveCapacity(count)
    }

    /// The size of the batch if built uncompressed.
    public var uncompressedSize: Int { RecordBatch.headerSize + recordsSize }

    /// Adds a record; `nil` key or value are written as nulls (a `nil` value is a tombstone).
    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        if records.isEmpty {
            header.baseTimestamp = timestamp
            header.maxTimestamp = timestamp
        }
        header.maxTimestamp = max(header.maxTimestamp, timestamp)
        let delta = Int32(records.count)
        let record = Record(
            offset: Int64(delta),
            timestamp: timestamp,
            key: key,
            value: value,
            headers: headers,
            offsetDelta: delta,
            timestampDelta: timestamp &- header.baseTimestamp
        )
        header.lastOffsetDelta = delta
        recordsSize += record.encodedSize
        records.append(record)
    }

    /// Encodes the batch. Throws for an empty builder or an unsupported codec.
    public func build() throws(LogError) -> RecordBatch {
        guard !records.isEmpty else { throw LogError(.invalidRecord, "a record batch needs at least one record") }
        return try RecordBatch.encode(header: header, records: records)
    }
}
