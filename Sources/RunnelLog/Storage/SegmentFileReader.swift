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
