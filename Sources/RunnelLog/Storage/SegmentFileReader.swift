import NIOCore
public import RunnelRecords

/// Reads the record batches of any `.log` segment file in order, with bounded memory, for tools such as
/// `runnel dump-log`. Batches are returned with their CRC unchecked (``RecordBatch/isChecksumValid`` tells);
/// bytes that cannot be a batch end the iteration with ``Entry/damaged(position:reason:)``.
public struct SegmentFileReader {
    public enum Entry {
        case batch(position: Int, RecordBatch)
        /// The bytes from `position` on are not a complete v2 batch (truncated file, bad length, bad magic).
        case damaged(position: Int, reason: String)
    }

    public let path: String
    /// The base offset in the file's name, if it has a segment name.
    public let baseOffset: Int64?
    private var scanner: BatchScanner
    private var finished = false

    public init(path: String) throws(LogError) {
        self.path = path
        let handle = try FileHandle(path: path, mode: .readOnly)
        scanner = BatchScanner(handle: handle, end: try handle.size())
        baseOffset = SegmentFileName.parse(FileSystem.lastComponent(of: path))?.baseOffset
    }

    public mutating func next() throws(LogError) -> Entry? {
        guard !finished else { return nil }
        switch try scanner.next(verifyChecksum: false) {
        case .batch(let scanned):
            return .batch(position: scanned.position, try scanner.batch(scanned))
        case .end:
            finished = true
            return nil
        case .partial(let position, let reason), .corrupt(let position, let reason):
            finished = true
            return .damaged(position: position, reason: reason)
        }
    }
}

/// The entries of an `.index` or `.timeindex` file, for tools such as `runnel dump-log`.
public enum IndexFileEntries: Sendable {
    /// `.index`: the batch starting at `position` in the `.log` ends at `offset`.
    case offsets([(offset: Int64, position: Int)])
    /// `.timeindex`: the largest timestamp in the segment up to `offset` is `timestamp`.
    case timestamps([(timestamp: Int64, offset: Int64)])

    /// Reads a whole index file; its base offset comes from its name.
    public static func read(path: String) throws(LogError) -> IndexFileEntries {
        guard let (baseOffset, kind, _) = SegmentFileName.parse(FileSystem.lastComponent(of: path)),
            kind != SegmentFileName.log
        else {
            throw LogError(.corruptIndex, "\(path) is not named <base offset>.index or <base offset>.timeindex")
        }
        let bytes = try FileSystem.readFile(path, maxBytes: IndexFile.maxFileBytes)
        if kind == SegmentFileName.offsetIndex {
            return .offsets(
                try decode(bytes, path: path, baseOffset: baseOffset, as: OffsetIndexEntry.self).map {
                    ($0.offset, $0.position)
                }
            )
        }
        return .timestamps(
            try decode(bytes, path: path, baseOffset: baseOffset, as: TimeIndexEntry.self).map {
                ($0.timestamp, $0.offset)
            }
        )
    }

    private static func decode<Entry: IndexEntryCoding>(
        _ bytes: ByteBuffer,
        path: String,
        baseOffset: Int64,
        as: Entry.Type
    ) throws(LogError) -> [Entry] {
        guard bytes.readableBytes % Entry.size == 0 else {
            throw LogError(
                .corruptIndex,
                "\(path): size \(bytes.readableBytes) is not a multiple of the \(Entry.size)-byte entry size"
            )
        }
        return bytes.withUnsafeReadableBytes { raw in
            (0..<(raw.count / Entry.size)).map { i in
                Entry(
                    decoding: UnsafeRawBufferPointer(rebasing: raw[i * Entry.size..<(i + 1) * Entry.size]),
                    baseOffset: baseOffset
                )
            }
        }
    }
}
