import CompressNIO
public import NIOCore

/// Compression codecs of Kafka record batches (attribute bits 0-2).
public enum CompressionCodec: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// Kafka's name for the codec, as in `compression.type` and `kafka-dump-log`'s `compresscodec`.
    public var name: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    public var description: String { name }

    /// Whether this build can read and write batches in this codec.
    public var isSupported: Bool { self == .none || self == .gzip }

    public init?(name: String) {
        guard let codec = CompressionCodec.allCases.first(where: { $0.name == name }) else { return nil }
        self = codec
    }
}

/// Where record timestamps come from (attribute bit 3).
public enum TimestampType: Sendable, Hashable, CustomStringConvertible {
    /// Set by the producer.
    case createTime
    /// Set by the broker when the batch is appended; every record of the batch has the batch's `maxTimestamp`.
    case logAppendTime

    /// Kafka's spelling, as in `message.timestamp.type` and `kafka-dump-log`.
    public var description: String {
        switch self {
        case .createTime: "CreateTime"
        case .logAppendTime: "LogAppendTime"
        }
    }
}

/// The fields of a record batch header that an encoder chooses (length, CRC and record count are derived).
public struct RecordBatchHeader: Sendable, Hashable {
    public var baseOffset: Int64 = 0
    public var partitionLeaderEpoch: Int32 = -1
    /// The raw attributes; the typed properties below read and write its bits.
    public var attributes: Int16 = 0
    public var lastOffsetDelta: Int32 = 0
    /// The first record's timestamp, or the delete horizon when ``hasDeleteHorizon`` is set.
    public var baseTimestamp: Int64 = -1
    public var maxTimestamp: Int64 = -1
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public var baseSequence: Int32 = -1

    public init() {}

    /// The codec bits; `nil` for the reserved values 5-7.
    public var compression: CompressionCodec? {
        get { CompressionCodec(rawValue: attributes & 0x07) }
        set { attributes = (attributes & ~0x07) | (newValue ?? .none).rawValue }
    }

    public var timestampType: TimestampType {
        get { attributes & 0x08 != 0 ? .logAppendTime : .createTime }
        set { setBit(0x08, newValue == .logAppendTime) }
    }

    public var isTransactional: Bool {
        get { attributes & 0x10 != 0 }
        set { setBit(0x10, newValue) }
    }

    public var isControl: Bool {
        get { attributes & 0x20 != 0 }
        set { setBit(0x20, newValue) }
    }

    /// KIP-534: `baseTimestamp` holds the time after which tombstones in this batch may be removed.
    public var hasDeleteHorizon: Bool {
        get { attributes & 0x40 != 0 }
        set { setBit(0x40, newValue) }
    }

    private mutating func setBit(_ mask: Int16, _ on: Bool) {
        attributes = on ? attributes | mask : attributes & ~mask
    }
}

/// A Kafka record batch, magic 2 (RecordBatch v2), held as its exact bytes.
///
/// Layout (big-endian): baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
/// attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64, producerId i64, producerEpoch i16,
/// baseSequence i32, recordCount i32, then the records (one compressed stream when compressed). The CRC-32C covers
/// the bytes from `attributes` to the end.
public struct RecordBatch: Sendable {
    public static let headerSize = 61
    /// `baseOffset` and `batchLength`: the bytes not counted by `batchLength`.
    public static let logOverhead = 12
    /// The part of the header that every magic version shares (up to and including `magic`).
    public static let headerSizeUpToMagic = 17
    public static let magicValue: Int8 = 2
    /// Decompressed record sections larger than this are refused, so a small batch cannot expand without bound.
    public static let defaultMaxUncompressedBytes = 256 << 20

    package enum Field {
        package static let baseOffset = 0
        package static let length = 8
        package static let partitionLeaderEpoch = 12
        package static let magic = 16
        package static let crc = 17
        package static let attributes = 21
        package static let lastOffsetDelta = 23
        package static let baseTimestamp = 27
        package static let maxTimestamp = 35
        package static let producerId = 43
        package static let producerEpoch = 51
        package static let baseSequence = 53
        package static let recordCount = 57
    }

    /// The batch's bytes, from `baseOffset` to the end of the last record.
    public private(set) var bytes: ByteBuffer

    /// Wraps the bytes of exactly one batch, checking its framing (size, magic, length field) but not its CRC.
    public init(bytes: ByteBuffer) throws(RecordError) {
        let size = bytes.readableBytes
        guard size >= RecordBatch.headerSize else {
            throw RecordError(.corruptRecord, "record batch of \(size) bytes is smaller than the 61-byte v2 header")
        }
        self.bytes = bytes
        guard magic == RecordBatch.magicValue else {
            throw RecordError(
                .corruptRecord,
                "record batch has magic \(magic); only magic 2 (RecordBatch v2) is supported"
            )
        }
        guard Int(batchLength) + RecordBatch.logOverhead == size else {
            throw RecordError(
                .corruptRecord,
                "record batch length field says \(batchLength) but \(size - 12) bytes follow it"
            )
        }
    }

    // MARK: - Header fields

    @inline(__always)
    private func field<T: FixedWidthInteger>(_ position: Int, as: T.Type) -> T {
        bytes.getInteger(at: bytes.readerIndex + position, as: T.self) ?? 0
    }

    public var baseOffset: Int64 { field(Field.baseOffset, as: Int64.self) }
    public var batchLength: Int32 { field(Field.length, as: Int32.self) }
    public var partitionLeaderEpoch: Int32 { field(Field.partitionLeaderEpoch, as: Int32.self) }
    public var magic: Int8 { field(Field.magic, as: Int8.self) }
    public var crc: UInt32 { field(Field.crc, as: UInt32.self) }
    public var attributes: Int16 { field(Field.attributes, as: Int16.self) }
    public var lastOffsetDelta: Int32 { field(Field.lastOffsetDelta, as: Int32.self) }
    public var baseTimestamp: Int64 { field(Field.baseTimestamp, as: Int64.self) }
    public var maxTimestamp: Int64 { field(Field.maxTimestamp, as: Int64.self) }
    public var producerId: Int64 { field(Field.producerId, as: Int64.self) }
    public var producerEpoch: Int16 { field(Field.producerEpoch, as: Int16.self) }
    public var baseSequence: Int32 { field(Field.baseSequence, as: Int32.self) }
    public var recordCount: Int32 { field(Field.recordCount, as: Int32.self) }

    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset + 1 }
    public var sizeInBytes: Int { bytes.readableBytes }

    /// All header fields an encoder sets.
    public var header: RecordBatchHeader {
        var header = RecordBatchHeader()
        header.baseOffset = baseOffset
        header.partitionLeaderEpoch = partitionLeaderEpoch
        header.attributes = attributes
        header.lastOffsetDelta = lastOffsetDelta
        header.baseTimestamp = baseTimestamp
        header.maxTimestamp = maxTimestamp
        header.producerId = producerId
        header.producerEpoch = producerEpoch
        header.baseSequence = baseSequence
        return header
    }

    /// The codec, or an error for a codec value this build cannot read.
    public func compression() throws(RecordError) -> CompressionCodec {
        guard let codec = header.compression else {
            throw RecordError(
                .corruptRecord,
                "record batch at offset \(baseOffset) has invalid compression bits \(attributes & 7)"
            )
        }
        guard codec.isSupported else {
            throw RecordError(
                .unsupportedCompression,
                "record batch at offset \(baseOffset) is compressed with \(codec.name), which this build does not support (supported: none, gzip)"
            )
        }
        return codec
    }

    // MARK: - Validation

    /// The CRC-32C of the bytes the `crc` field covers.
    public func computeChecksum() -> UInt32 {
        bytes.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[Field.attributes...])) }
    }

    public var isChecksumValid: Bool { computeChecksum() == crc }

    /// Checks what Kafka checks before trusting a batch: the CRC and the record count's plausibility.
    public func validate() throws(RecordError) {
        let computed = computeChecksum()
        guard computed == crc else {
            throw RecordError(
                .corruptRecord,
                "record batch at offset \(baseOffset) has CRC \(hex(crc)) but its bytes give \(hex(computed))"
            )
        }
        guard recordCount >= 0, lastOffsetDelta >= 0 else {
            throw RecordError(
                .corruptRecord,
                "record batch at offset \(baseOffset) has record count \(recordCount) and last offset delta \(lastOffsetDelta)"
            )
        }
    }

    // MARK: - Records

    /// The records section as stored (still compressed when the batch is compressed).
    public var recordsSection: ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + RecordBatch.headerSize, length: sizeInBytes - RecordBatch.headerSize)
            ?? ByteBuffer()
    }

    /// The records section, decompressed.
    public func uncompressedRecordsSection(
        maxBytes: Int = RecordBatch.defaultMaxUncompressedBytes
    ) throws(RecordError)
        -> ByteBuffer
    {
        switch try compression() {
        case .gzip:
            var compressed = recordsSection
            do {
                return try compressed.decompress(with: .gzip, maxSize: maxBytes)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw RecordError(
                    .corruptRecord,
                    "gzip record batch at offset \(baseOffset) decompresses to more than \(maxBytes) bytes"
                )
            } catch {
                throw RecordError(
                    .corruptRecord,
                    "gzip record batch at offset \(baseOffset) does not decompress: \(error)"
                )
            }
        default:
            return recordsSection
        }
    }

    /// Decodes every record. Throws if the records do not match the header (count, lengths, trailing bytes).
    public func records(
        maxUncompressedBytes: Int = RecordBatch.defaultMaxUncompressedBytes
    ) throws(RecordError)
        -> [Record]
    {
        let section = try uncompressedRecordsSection(maxBytes: maxUncompressedBytes)
        let baseOffset = self.baseOffset
        let baseTimestamp = self.baseTimestamp
        let logAppendTime: Int64? = header.timestampType == .logAppendTime ? maxTimestamp : nil
        var records: [Record] = []
        try RecordBatch.walkRecords(in: section, count: recordCount, batchOffset: baseOffset) {
            fields,
            cursor throws(RecordError) in
            var headers: [RecordHeader] = []
            if fields.headerCount > 0 {
                var headerCursor = ByteCursor(cursor.bytes, position: fields.headersStart)
                headers.reserveCapacity(Int(fields.headerCount))
                for _ in 0..<fields.headerCount {
                    let keyLength = try headerCursor.readVarint()
                    guard keyLength >= 0 else {
                        throw RecordError(.corruptRecord, "record header key has negative length \(keyLength)")
                    }
                    let keyStart = try headerCursor.skip(Int(keyLength))
                    let key = String(
                        decoding: UnsafeRawBufferPointer(rebasing: cursor.bytes[keyStart..<keyStart + Int(keyLength)]),
                        as: UTF8.self
                    )
                    let valueLength = try headerCursor.readVarint()
                    var value: ByteBuffer?
                    if valueLength >= 0 {
                        let valueStart = try headerCursor.skip(Int(valueLength))
                        value = section.getSlice(at: section.readerIndex + valueStart, length: Int(valueLength))
                    }
                    headers.append(RecordHeader(key: key, value: value))
                }
            }
            let key =
                fields.keyLength >= 0
                ? section.getSlice(at: section.readerIndex + fields.keyStart, length: fields.keyLength) : nil
            let value =
                fields.valueLength >= 0
                ? section.getSlice(at: section.readerIndex + fields.valueStart, length: fields.valueLength) : nil
            records.append(
                Record(
                    offset: baseOffset + Int64(fields.offsetDelta),
                    timestamp: logAppendTime ?? (baseTimestamp &+ fields.timestampDelta),
                    key: key,
                    value: value,
                    headers: headers,
                    offsetDelta: fields.offsetDelta,
                    timestampDelta: fields.timestampDelta,
                    attributes: fields.attributes
                )
            )
        }
        return records
    }

    /// Positions of one record's fields inside a records section.
    package struct RecordFields {
        package var attributes: UInt8
        package var timestampDelta: Int64
        package var offsetDelta: Int32
        package var keyStart: Int
        package var keyLength: Int
        package var valueStart: Int
        package var valueLength: Int
        package var headerCount: Int32
        package var headersStart: Int
    }

    /// The smallest possible record: length, attributes, timestamp delta, offset delta, key length, value length and
    /// header count, one byte each.
    package static let minimumRecordSize = 7

    /// Parses `count` records of `section`, calling `body` for each; checks that lengths add up exactly.
    package static func walkRecords(
        in section: ByteBuffer,
        count: Int32,
        batchOffset: Int64,
        _ body: (RecordFields, ByteCursor) throws(RecordError) -> Void
    ) throws(RecordError) {
        guard count >= 0, Int(count) <= section.readableBytes / minimumRecordSize else {
            throw RecordError(
                .corruptRecord,
                "record batch at offset \(batchOffset) claims \(count) records in \(section.readableBytes) bytes"
            )
        }
        let result: Result<Void, RecordError> = section.withUnsafeReadableBytes { bytes in
            Result { () throws(RecordError) in
                var cursor = ByteCursor(bytes)
                for _ in 0..<Int(count) {
                    let length = try cursor.readVarint()
                    guard length >= 0, Int(length) <= cursor.remaining else {
                        throw RecordError(
                            .corruptRecord,
                            "record in batch at offset \(batchOffset) has length \(length) but \(cursor.remaining) bytes remain"
                        )
                    }
                    let end = cursor.position + Int(length)
                    let attributes = try cursor.readUInt8()
                    let timestampDelta = try cursor.readVarlong()
                    let offsetDelta = try cursor.readVarint()
                    let keyLength = Int(try cursor.readVarint())
                    let keyStart = keyLength >= 0 ? try cursor.skip(keyLength) : cursor.position
                    let valueLength = Int(try cursor.readVarint())
                    let valueStart = valueLength >= 0 ? try cursor.skip(valueLength) : cursor.position
                    let headerCount = try cursor.readVarint()
                    guard headerCount >= 0, Int(headerCount) <= cursor.remaining / 2 else {
                        throw RecordError(
                            .corruptRecord,
                            "record in batch at offset \(batchOffset) has \(headerCount) headers"
                        )
                    }
                    let headersStart = cursor.position
                    for _ in 0..<headerCount {
                        let headerKeyLength = try cursor.readVarint()
                        guard headerKeyLength >= 0 else {
                            throw RecordError(
                                .corruptRecord,
                                "record header key has negative length \(headerKeyLength)"
                            )
                        }
                        _ = try cursor.skip(Int(headerKeyLength))
                        let headerValueLength = try cursor.readVarint()
                        if headerValueLength >= 0 { _ = try cursor.skip(Int(headerValueLength)) }
                    }
                    guard cursor.position == end else {
                        throw RecordError(
                            .corruptRecord,
                            "record in batch at offset \(batchOffset) declares \(length) bytes but its fields take \(cursor.position - (end - Int(length)))"
                        )
                    }
                    try body(
                        RecordFields(
                            attributes: attributes,
                            timestampDelta: timestampDelta,
                            offsetDelta: offsetDelta,
                            keyStart: keyStart,
                            keyLength: keyLength,
                            valueStart: valueStart,
                            valueLength: valueLength,
                            headerCount: headerCount,
                            headersStart: headersStart
                        ),
                        cursor
                    )
                }
                guard cursor.remaining == 0 else {
                    throw RecordError(
                        .corruptRecord,
                        "record batch at offset \(batchOffset) has \(cursor.remaining) bytes after its \(count) records"
                    )
                }
            }
        }
        try result.get()
    }

    // MARK: - Changing a batch

    /// Sets the base offset (not covered by the CRC, so the checksum stays valid).
    public mutating func setBaseOffset(_ offset: Int64) {
        bytes.setInteger(offset, at: bytes.readerIndex + Field.baseOffset)
    }

    /// Sets the partition leader epoch (not covered by the CRC).
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        bytes.setInteger(epoch, at: bytes.readerIndex + Field.partitionLeaderEpoch)
    }

    /// The batch as written to a log at `baseOffset`, without copying it: a new 17-byte header prefix holding the
    /// base offset and partition leader epoch (both outside the CRC), and the rest of the batch as it is.
    public func parts(baseOffset: Int64, partitionLeaderEpoch: Int32) -> (prefix: ByteBuffer, rest: ByteBuffer) {
        var prefix = ByteBufferAllocator().buffer(capacity: RecordBatch.headerSizeUpToMagic)
        prefix.writeInteger(baseOffset)
        prefix.writeInteger(batchLength)
        prefix.writeInteger(partitionLeaderEpoch)
        prefix.writeInteger(magic)
        let rest =
            bytes.getSlice(
                at: bytes.readerIndex + RecordBatch.headerSizeUpToMagic,
                length: sizeInBytes - RecordBatch.headerSizeUpToMagic
            ) ?? ByteBuffer()
        return (prefix, rest)
    }

    /// Sets the timestamp type and max timestamp and recomputes the CRC, as Kafka's `setMaxTimestamp`.
    public mutating func setMaxTimestamp(_ timestamp: Int64, type: TimestampType) {
        var header = self.header
        guard header.maxTimestamp != timestamp || header.timestampType != type else { return }
        header.timestampType = type
        bytes.setInteger(header.attributes, at: bytes.readerIndex + Field.attributes)
        bytes.setInteger(timestamp, at: bytes.readerIndex + Field.maxTimestamp)
        bytes.setInteger(computeChecksum(), at: bytes.readerIndex + Field.crc)
    }

    // MARK: - Encoding

    /// Encodes a batch from a header and records, compressing with the header's codec.
    ///
    /// The records' `offsetDelta` and `timestampDelta` are written as they are, so decoding a batch and encoding its
    /// header and records again gives the same bytes (for gzip: when compressed by this encoder).
    public static func encode(header: RecordBatchHeader, records: [Record]) throws(RecordError) -> RecordBatch {
        var recordsSize = 0
        for record in records { recordsSize += record.encodedSize }
        var section = ByteBufferAllocator().buffer(capacity: recordsSize)
        for record in records { record.encode(into: &section) }
        return try encode(header: header, section: section, count: records.count)
    }

    /// Encodes a batch around a records section already encoded (uncompressed), compressing it with the header's
    /// codec.
    static func encode(header: RecordBatchHeader, section: ByteBuffer, count: Int) throws(RecordError) -> RecordBatch {
        guard let codec = header.compression else {
            throw RecordError(.invalidRecord, "invalid compression bits \(header.attributes & 7)")
        }
        guard codec.isSupported else {
            throw RecordError(
                .unsupportedCompression,
                "cannot write \(codec.name)-compressed batches (supported: none, gzip)"
            )
        }
        var records = section
        if codec == .gzip {
            var input = section
            do {
                records = try input.compress(with: .gzip)
            } catch {
                throw RecordError(.invalidRecord, "gzip compression failed: \(error)")
            }
        }
        var buffer = ByteBufferAllocator().buffer(capacity: headerSize + records.readableBytes)
        writeHeader(header, recordCount: Int32(clamping: count), into: &buffer)
        buffer.writeImmutableBuffer(records)
        buffer.setInteger(Int32(clamping: buffer.readableBytes - logOverhead), at: Field.length)
        var batch = RecordBatch(uncheckedBytes: buffer)
        batch.bytes.setInteger(batch.computeChecksum(), at: Field.crc)
        return batch
    }

    private static func writeHeader(_ header: RecordBatchHeader, recordCount: Int32, into buffer: inout ByteBuffer) {
        buffer.writeInteger(header.baseOffset)
        buffer.writeInteger(Int32(0))  // length, set once the records are written
        buffer.writeInteger(header.partitionLeaderEpoch)
        buffer.writeInteger(magicValue)
        buffer.writeInteger(UInt32(0))  // crc, computed last
        buffer.writeInteger(header.attributes)
        buffer.writeInteger(header.lastOffsetDelta)
        buffer.writeInteger(header.baseTimestamp)
        buffer.writeInteger(header.maxTimestamp)
        buffer.writeInteger(header.producerId)
        buffer.writeInteger(header.producerEpoch)
        buffer.writeInteger(header.baseSequence)
        buffer.writeInteger(recordCount)
    }

    init(uncheckedBytes: ByteBuffer) {
        self.bytes = uncheckedBytes
    }

    // MARK: - Several batches

    /// The offset after the last complete batch of batches laid end to end (a read's answer), found from their
    /// headers alone; nil when the buffer holds no complete batch.
    public static func nextOffset(afterBatchesIn buffer: ByteBuffer) -> Int64? {
        var position = buffer.readerIndex
        var next: Int64?
        while let length = buffer.getInteger(at: position + Field.length, as: Int32.self),
            Int(length) + logOverhead >= headerSize, position + Int(length) + logOverhead <= buffer.writerIndex,
            let base = buffer.getInteger(at: position + Field.baseOffset, as: Int64.self),
            let lastDelta = buffer.getInteger(at: position + Field.lastOffsetDelta, as: Int32.self)
        {
            next = base + Int64(lastDelta) + 1
            position += Int(length) + logOverhead
        }
        return next
    }

    /// Splits a buffer holding batches laid end to end (a segment's bytes, a fetch response, a produce request).
    ///
    /// - Parameter allowTrailingPartial: whether an incomplete last batch is ignored (as a reader of a live segment
    ///   does) rather than reported.
    /// - Throws: ``RecordError/Code/corruptRecord`` for a length or magic that cannot be a v2 batch.
    public static func split(
        _ buffer: ByteBuffer,
        allowTrailingPartial: Bool = false
    ) throws(RecordError) -> [RecordBatch] {
        var batches: [RecordBatch] = []
        var position = buffer.readerIndex
        let end = buffer.writerIndex
        while position < end {
            let remaining = end - position
            guard remaining >= logOverhead, let length = buffer.getInteger(at: position + Field.length, as: Int32.self)
            else {
                if allowTrailingPartial { break }
                throw RecordError(.corruptRecord, "\(remaining) trailing bytes do not hold a record batch header")
            }
            guard Int(length) + logOverhead >= headerSize else {
                throw RecordError(.corruptRecord, "record batch length \(length) is smaller than the v2 header")
            }
            let size = Int(length) + logOverhead
            guard size <= remaining else {
                if allowTrailingPartial { break }
                throw RecordError(.corruptRecord, "record batch of \(size) bytes is truncated to \(remaining) bytes")
            }
            guard let slice = buffer.getSlice(at: position, length: size) else { break }
            batches.append(try RecordBatch(bytes: slice))
            position += size
        }
        return batches
    }
}

public func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
