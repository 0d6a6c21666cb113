import CompressNIO
import Foundation
import NIOCore
import RunnelConnect
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a sink's finished objects go. The sink stages an object's bytes in a local file, then hands the file over
/// whole: a local bucket renames it into place; an S3 endpoint would upload it. Every call blocks: run it on a
/// thread pool.
protocol ObjectStore: Sendable {
    /// A folder for staged files, outside the bucket's objects (for a local bucket, on the same file system).
    var stagingDirectory: String { get }
    /// Makes the staged file the object `key`, replacing any object of that name, atomically (readers see the old
    /// object or the whole new one) and durably; the staged file is consumed.
    func put(key: String, stagedFile: String) throws(ConnectError)
}

/// A bucket that is a folder: `<root>/<bucket>/<key>`. Staged files live in `<root>/.runnel-staging/<bucket>/<task>/`, so a
/// listing of the bucket never shows a partial object, and a rename publishes one.
final class LocalBucketStore: ObjectStore {
    let root: String
    let bucketDirectory: String
    let stagingDirectory: String
    /// Folders already created and checked to resolve inside the bucket.
    private let checked = Mutex<Set<String>>([])

    /// Creates the root, bucket and staging folders as needed, and refuses a bucket that resolves outside the root
    /// (a symbolic link).
    init(root: String, bucket: String, stagingName: String) throws(ConnectError) {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw .failure("Cannot create the store root \(root): \(error.localizedDescription)")
        }
        guard let realRoot = Self.realPath(root) else { throw .failure("Cannot resolve the store root \(root)") }
        let bucketPath = realRoot + "/" + bucket
        do {
            try manager.createDirectory(atPath: bucketPath, withIntermediateDirectories: true)
        } catch {
            throw .failure("Cannot create the bucket folder \(bucketPath): \(error.localizedDescription)")
        }
        guard let realBucket = Self.realPath(bucketPath), realBucket.hasPrefix(realRoot + "/") else {
            throw .config(
                "The bucket folder \(bucketPath) resolves outside the store root \(realRoot) (a symbolic link?): refusing to write there"
            )
        }
        let staging = realRoot + "/.runnel-staging/" + bucket + "/" + stagingName
        do {
            try manager.createDirectory(atPath: staging, withIntermediateDirectories: true)
            // The folder is this task's alone: what a stopped or crashed run left there is never published.
            for leftover in try manager.contentsOfDirectory(atPath: staging) {
                try manager.removeItem(atPath: staging + "/" + leftover)
            }
        } catch {
            throw .failure("Cannot create the staging folder \(staging): \(error.localizedDescription)")
        }
        self.root = realRoot
        self.bucketDirectory = realBucket
        self.stagingDirectory = staging
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    func put(key: String, stagedFile: String) throws(ConnectError) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw .data("Invalid object key \(key)")
        }
        let destination = bucketDirectory + "/" + key
        let folder = String(destination[..<(destination.lastIndex(of: "/") ?? destination.endIndex)])
        try makeFolder(folder)
        if rename(stagedFile, destination) != 0 {
            // Folders made earlier may have been removed since (a bucket cleaned up): make them again.
            guard Glibc.errno == ENOENT else { throw Staging.errno("Publishing", destination) }
            checked.withLock { $0.removeAll() }
            try makeFolder(folder)
            guard rename(stagedFile, destination) == 0 else { throw Staging.errno("Publishing", destination) }
        }
        try Staging.syncFolder(folder)
    }

    /// `mkdir -p` one folder at a time below the bucket, refusing any existing folder (a symbolic link) that
    /// resolves outside it before creating anything beneath.
    private func makeFolder(_ folder: String) throws(ConnectError) {
        if checked.withLock({ $0.contains(folder) }) { return }
        guard folder.hasPrefix(bucketDirectory + "/") else {
            throw .config("The folder \(folder) is outside the bucket \(bucketDirectory)")
        }
        var path = bucketDirectory
        for component in folder.dropFirst(bucketDirectory.count + 1).split(separator: "/") {
            path += "/" + component
            if checked.withLock({ $0.contains(path) }) { continue }
            if mkdir(path, 0o755) != 0 && Glibc.errno != EEXIST { throw Staging.errno("Creating the folder", path) }
            guard let real = Self.realPath(path), real.hasPrefix(bucketDirectory + "/") else {
                throw .config("The folder \(path) resolves outside the bucket \(bucketDirectory) (a symbolic link?)")
            }
            checked.withLock { _ = $0.insert(path) }
        }
    }
}

/// The blocking file work of a sink: appending to staged files, finishing them (sync, compress) and publishing.
enum Staging {
    struct Append: Sendable {
        var path: String
        /// The first write of this staged file: start it empty (a leftover of a crashed run may be there).
        var truncate: Bool
        var bytes: ByteBuffer
    }

    struct Publish: Sendable {
        var path: String
        var key: String
    }

    /// The work of one `put`: appends first, then the objects to publish, then staged files to drop.
    struct Plan: Sendable {
        var appends: [Append] = []
        var publishes: [Publish] = []
        var removals: [String] = []

        var isEmpty: Bool { appends.isEmpty && publishes.isEmpty && removals.isEmpty }
    }

    static func errno(_ what: String, _ path: String) -> ConnectError {
        .retriable("\(what) \(path) failed: \(String(cString: strerror(Glibc.errno)))")
    }

    static func execute(_ plan: Plan, store: any ObjectStore, gzipLevel: Int?) throws(ConnectError) {
        for append in plan.appends {
            let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append.truncate ? O_TRUNC : O_APPEND)
            let descriptor = Glibc.open(append.path, flags, 0o644)
            guard descriptor >= 0 else { throw errno("Opening", append.path) }
            defer { Glibc.close(descriptor) }
            try writeAll(descriptor, append.bytes, path: append.path)
        }
        for publish in plan.publishes {
            var staged = publish.path
            if let level = gzipLevel {
                staged = try compress(publish.path, level: level)
            } else {
                try syncFile(staged)
            }
            try store.put(key: publish.key, stagedFile: staged)
        }
        for path in plan.removals {
            unlink(path)
            unlink(path + ".gz")
        }
    }

    static func writeAll(_ descriptor: Int32, _ bytes: ByteBuffer, path: String) throws(ConnectError) {
        var written = 0
        let total = bytes.readableBytes
        while written < total {
            let count = bytes.withUnsafeReadableBytes {
                Glibc.write(descriptor, $0.baseAddress?.advanced(by: written), total - written)
            }
            if count < 0 && Glibc.errno == EINTR { continue }
            guard count > 0 else { throw errno("Writing", path) }
            written += count
        }
    }

    static func syncFile(_ path: String) throws(ConnectError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw errno("Opening", path) }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw errno("Syncing", path) }
    }

    static func syncFolder(_ path: String) throws(ConnectError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw errno("Opening", path) }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw errno("Syncing", path) }
    }

    /// gzips a staged file into `<path>.gz` in one stream (one gzip member: the same input gives the same bytes),
    /// syncs it and removes the input; returns the new path. Memory stays at one chunk whatever the file size.
    static func compress(_ path: String, level: Int) throws(ConnectError) -> String {
        let output = path + ".gz"
        let input = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw errno("Opening", path) }
        defer { Glibc.close(input) }
        let descriptor = Glibc.open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw errno("Opening", output) }
        defer { Glibc.close(descriptor) }
        let compressor = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: Int32(level))).compressor
        let chunk = 1 << 20
        do {
            try compressor.startStream()
            var source = ByteBuffer()
            var target = ByteBuffer()
            while true {
                source.clear(minimumCapacity: chunk)
                let count = source.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { buffer in
                    max(0, Glibc.read(input, buffer.baseAddress, chunk))
                }
                if count == 0 { break }
                while source.readableBytes > 0 {
                    target.clear(minimumCapacity: compressor.maxSize(from: source))
                    try compressor.streamDeflate(from: &source, to: &target, flush: .no)
                    try writeAll(descriptor, target, path: output)
                }
            }
            while true {
                target.clear(minimumCapacity: 64 * 1024)
                do {
                    try compressor.finishDeflate(to: &target)
                    try writeAll(descriptor, target, path: output)
                    break
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    try writeAll(descriptor, target, path: output)
                }
            }
            try compressor.finishStream()
        } catch let error as ConnectError {
            throw error
        } catch {
            throw .failure("Compressing \(path) failed: \(error)")
        }
        guard fsync(descriptor) == 0 else { throw errno("Syncing", output) }
        unlink(path)
        return output
    }

    /// A staged file's name for an object key: the key with `%` and `/` escaped (a hash stands in for long keys).
    static func stagedName(_ key: String) -> String {
        let escaped = key.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
        if escaped.utf8.count <= 200 { return escaped }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let tail = key.split(separator: "/").last.map(String.init) ?? ""
        return String(hash, radix: 16) + "-" + String(decoding: tail.utf8.suffix(120), as: UTF8.self)
    }
}
