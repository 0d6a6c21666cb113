import Metrics
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
import RunnelRecords
#endif

/// An open file descriptor, closed when the last reference goes away.
///
/// Reference counting is what makes sharing safe: a reader that holds a handle keeps the descriptor (and, after an
/// unlink, the file's data) alive, so a cache eviction or a segment deletion can never close it under the reader.
///
/// Every method blocks: call them only from the log's I/O threads, never from Swift's cooperative pool.
final class FileHandle: Sendable {
    let descriptor: CInt
    let path: String

    enum Mode {
        case readOnly
        case readWrite
        /// Create the file if missing, open it for reading and writing.
        case readWriteCreate
        /// Create the file, truncating whatever was there.
        case createTruncate
    }

    init(path: String, mode: Mode) throws(LogError) {
        let flags: CInt
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .readWriteCreate: flags = O_RDWR | O_CREAT
        case .createTruncate: flags = O_RDWR | O_CREAT | O_TRUNC
        }
        // Private to the server's user: segments and checkpoints hold every topic's data.
        let fd = open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileHandle.error("open", path) }
        self.descriptor = fd
        self.path = path
    }

    deinit {
        close(descriptor)
    }

    /// The current size of the file.
    func size() throws(LogError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileHandle.error("fstat", path) }
        return Int(info.st_size)
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(at offset: Int, count: Int) throws(LogError) -> ByteBuffer {
        guard count > 0 else { return ByteBuffer() }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: LogError?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            do throws(LogError) {
                return try self.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), at: offset)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return buffer
    }

    /// Fills `destination` from `offset`, returning how many bytes were read (fewer only at the end of the file).
    func read(into destination: UnsafeMutableRawBufferPointer, at offset: Int) throws(LogError) -> Int {
        guard let base = destination.baseAddress else { return 0 }
        var done = 0
        while done < destination.count {
            let n = pread(descriptor, base + done, destination.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileHandle.error("pread", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: ByteBuffer, at offset: Int) throws(LogError) {
        let result: Result<Void, LogError> = bytes.withUnsafeReadableBytes { raw in
            Result { () throws(LogError) in try self.write(raw, at: offset) }
        }
        try result.get()
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(LogError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileHandle.error("pwrite", path)
            }
            done += n
        }
    }

    /// Writes `buffers` one after another from `offset` with as few `pwritev` calls as possible.
    func write(_ buffers: [ByteBuffer], at offset: Int) throws(LogError) {
        var position = offset
        var start = 0
        while start < buffers.count {
            let end = min(buffers.count, start + FileHandle.maxIOVectors)
            position += try writeVectored(buffers[start..<end], at: position)
            start = end
        }
    }

    /// `IOV_MAX` on Linux and macOS.
    static let maxIOVectors = 1024

    /// One gathered write of up to `maxIOVectors` buffers; returns the bytes written (all of them).
    private func writeVectored(_ buffers: ArraySlice<ByteBuffer>, at offset: Int) throws(LogError) -> Int {
        var failure: LogError?
        let written = FileHandle.withIOVectors(buffers, []) { vectors -> Int in
            do throws(LogError) {
                return try self.writeAll(vectors, at: offset)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return written
    }

    /// Calls `body` with an `iovec` for every buffer, all valid at once.
    private static func withIOVectors<T>(
        _ buffers: ArraySlice<ByteBuffer>,
        _ collected: [iovec],
        _ body: ([iovec]) -> T
    ) -> T {
        guard let first = buffers.first else { return body(collected) }
        return first.withUnsafeReadableBytes { raw in
            var vectors = collected
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
            return withIOVectors(buffers.dropFirst(), vectors, body)
        }
    }

    private func writeAll(_ vectors: [iovec], at offset: Int) throws(LogError) -> Int {
        var vectors = vectors.filter { $0.iov_len > 0 }
        var total = 0
        var index = 0
        while index < vectors.count {
            let n = vectors[index...].withUnsafeBufferPointer { pointer in
                pwritev(descriptor, pointer.baseAddress, CInt(pointer.count), off_t(offset + total))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileHandle.error("pwritev", path)
            }
            total += n
            // Skip what was written; a partial write can end inside a vector.
            var remaining = n
            while index < vectors.count, remaining >= vectors[index].iov_len {
                remaining -= vectors[index].iov_len
                index += 1
            }
            if remaining > 0 {
                vectors[index].iov_base = vectors[index].iov_base.map { $0 + remaining }
                vectors[index].iov_len -= remaining
            }
        }
        return total
    }

    /// Flushes the file's data to stable storage (`fdatasync`), timed as `runnel_log_flush_duration_seconds`.
    func sync() throws(LogError) {
        let started = ContinuousClock.now
        #if canImport(Darwin)
        let rc = fsync(descriptor)
        #else
        let rc = fdatasync(descriptor)
        #endif
        guard rc == 0 else { throw FileHandle.error("fdatasync", path) }
        Self.flushDuration.record(duration: ContinuousClock.now - started)
    }

    /// Through swift-metrics; nowhere until the process bootstraps a metrics system.
    static let flushDuration = Timer(label: "runnel_log_flush_duration_seconds")

    func truncate(to size: Int) throws(LogError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw FileHandle.error("ftruncate", path) }
    }

    /// Tells the kernel the file's cached pages are not needed (clean pages are dropped from the page cache).
    func dropCachedPages() {
        #if os(Linux)
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
        #endif
    }

    static func error(_ call: String, _ path: String, _ code: CInt = errno) -> LogError {
        let reason = "\(call) \(path): \(String(cString: strerror(code))) (errno \(code))"
        if code == ENOSPC || code == EFBIG || code == EDQUOT {
            return LogError(.storage, "Out of disk space (nothing of this write was kept): \(reason)")
        }
        return LogError(.storage, reason)
    }
}

/// Blocking file-system helpers for the log's I/O threads.
enum FileSystem {
    static func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func fileSize(_ path: String) throws(LogError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileHandle.error("stat", path) }
        return Int(info.st_size)
    }

    /// Modification time in milliseconds since the epoch.
    static func modificationTimeMs(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        return Int64(info.st_mtimespec.tv_sec) * 1000 + Int64(info.st_mtimespec.tv_nsec) / 1_000_000
        #else
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
        #endif
    }

    static func createDirectory(_ path: String) throws(LogError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw FileHandle.error("mkdir", path) }
    }

    /// Creates `path` and any missing parents.
    static func createDirectories(_ path: String) throws(LogError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            try createDirectory(current)
        }
    }

    static func listDirectory(_ path: String) throws(LogError) -> [String] {
        guard let dir = opendir(path) else { throw FileHandle.error("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func move(_ from: String, to: String) throws(LogError) {
        guard rename(from, to) == 0 else { throw FileHandle.error("rename", "\(from) -> \(to)") }
    }

    static func removeFile(_ path: String) throws(LogError) {
        if unlink(path) != 0 && errno != ENOENT { throw FileHandle.error("unlink", path) }
    }

    /// Removes a directory and everything in it.
    static func removeTree(_ path: String) throws(LogError) {
        guard isDirectory(path) else {
            try removeFile(path)
            return
        }
        for name in try listDirectory(path) {
            try removeTree(path + "/" + name)
        }
        if rmdir(path) != 0 && errno != ENOENT { throw FileHandle.error("rmdir", path) }
    }

    /// Makes a directory's entries (created, renamed, removed files) durable.
    static func syncDirectory(_ path: String) throws(LogError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileHandle.error("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileHandle.error("fsync", path) }
    }

    /// Writes a file atomically: `path.tmp`, fsync, rename over `path`, fsync the directory.
    static func writeAtomically(_ path: String, contents: String) throws(LogError) {
        let temporary = path + ".tmp"
        let handle = try FileHandle(path: temporary, mode: .createTruncate)
        var buffer = ByteBuffer()
        buffer.writeString(contents)
        try handle.write(buffer, at: 0)
        try handle.sync()
        try move(temporary, to: path)
        try syncDirectory(parent(of: path))
    }

    static func readFile(_ path: String, maxBytes: Int) throws(LogError) -> ByteBuffer {
        let handle = try FileHandle(path: path, mode: .readOnly)
        let size = try handle.size()
        guard size <= maxBytes else {
            throw LogError(.storage, "\(path) is \(size) bytes, more than the \(maxBytes) expected at most")
        }
        return try handle.read(at: 0, count: size)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    static func lastComponent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

/// Small whole-file reads and crash-safe replacements, for metadata files kept beside the logs
/// (`meta.properties`). Blocking: call from an I/O thread, never from the cooperative pool.
public enum MetadataFile {
    /// The file's text, or nil if it does not exist.
    public static func read(_ path: String, maxBytes: Int = 1 << 20) throws(LogError) -> String? {
        guard FileSystem.fileExists(path) else { return nil }
        let buffer = try FileSystem.readFile(path, maxBytes: maxBytes)
        return String(buffer: buffer)
    }

    /// Creates a directory and its parents if missing.
    public static func createDirectory(_ path: String) throws(LogError) {
        try FileSystem.createDirectories(path)
    }

    /// Replaces the file atomically and durably (temporary file, fsync, rename, fsync of the directory).
    public static func write(_ path: String, contents: String) throws(LogError) {
        try FileSystem.createDirectories(FileSystem.parent(of: path))
        try FileSystem.writeAtomically(path, contents: contents)
    }
}

/// The data directory's own permissions: it holds every topic's data, the key hashes and connector secrets, so it is
/// created readable by the server's user only (0700, files 0600 inside).
public enum DataDirectory {
    /// Creates `path` (and missing parents) with mode 0700, or takes group and other permissions off an existing
    /// directory this user owns. Blocking: call from an I/O thread.
    public static func create(_ path: String) throws(LogError) {
        try FileSystem.createDirectories(path)
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileHandle.error("stat", path) }
        if info.st_uid == getuid() && info.st_mode & 0o077 != 0 {
            guard chmod(path, info.st_mode & 0o700) == 0 else { throw FileHandle.error("chmod", path) }
        }
    }

    /// Makes files readable and writable by the server's user only (SQLite creates its files 0644).
    public static func restrictFiles(_ paths: [String]) {
        for path in paths where FileSystem.fileExists(path) { _ = chmod(path, 0o600) }
    }
}

/// An exclusive lock on a data directory (Kafka's `.lock` file), held until ``release()`` or the end of the
/// process: a second server on the same directory fails to start instead of corrupting it.
public final class DirectoryLock: Sendable {
    private let handle: FileHandle

    /// Takes the lock on `<directory>/.lock`, creating the file; throws if another process (or another open of the
    /// directory in this one) holds it. Blocking: call from an I/O thread.
    public init(directory: String) throws(LogError) {
        let path = directory + "/.lock"
        let handle = try FileHandle(path: path, mode: .readWriteCreate)
        guard flock(handle.descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            if code == EWOULDBLOCK {
                throw LogError(
                    .storage,
                    "the data directory \(directory) is in use by another process (\(path) is locked)"
                )
            }
            throw FileHandle.error("flock", path, code)
        }
        self.handle = handle
    }

    /// Releases the lock (closing the file would too).
    public func release() {
        _ = flock(handle.descriptor, LOCK_UN)
    }
}
