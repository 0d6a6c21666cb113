import Foundation
import NIOCore
import NIOPosix
import RunnelBrokerAPI
public import RunnelConnect
import RunnelRecords

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kafka's quick-start connectors: `FileStreamSource` turns the lines of a file into records (following the file
/// as it grows) and `FileStreamSink` appends the values of records to a file, one per line.
public enum FileStreamConnectors {
    static let version = "1.0.0"

    public static let source = ConnectorPlugin(
        className: "org.apache.kafka.connect.file.FileStreamSourceConnector",
        version: version,
        configDef: ConfigDef([
            ConfigKey(
                "file",
                .string,
                required: true,
                importance: .high,
                validator: Validators.nonEmpty,
                "Source filename: its lines become records, and lines appended later follow."
            ),
            ConfigKey(
                "topic",
                .list,
                required: true,
                importance: .high,
                validator: { value in
                    let topics = ParsedConfig.splitList(value)
                    guard topics.count == 1 else { return "Must be a single topic." }
                    return TopicNames.problem(topics[0])
                },
                "The topic to publish data to"
            ),
            ConfigKey(
                "batch.size",
                .int,
                default: "2000",
                importance: .low,
                validator: Validators.atLeast(1),
                "The maximum number of records the source task can read from the file each time it is polled"
            ),
        ]),
        taskClassName: "org.apache.kafka.connect.file.FileStreamSourceTask",
        serverPaths: { config, _ in
            (config["file"]?.isEmpty ?? true) ? [] : [ServerPath(key: "file", path: config["file"] ?? "")]
        },
        makeConnector: { FileStreamSourceConnector() },
        tasks: .source({ FileStreamSourceTask() })
    )

    public static let sink = ConnectorPlugin(
        className: "org.apache.kafka.connect.file.FileStreamSinkConnector",
        version: version,
        configDef: ConfigDef([
            ConfigKey(
                "file",
                .string,
                required: true,
                importance: .high,
                validator: Validators.nonEmpty,
                "Destination filename: each record's value is appended as one line."
            )
        ]),
        taskClassName: "org.apache.kafka.connect.file.FileStreamSinkTask",
        serverPaths: { config, _ in
            (config["file"]?.isEmpty ?? true) ? [] : [ServerPath(key: "file", path: config["file"] ?? "")]
        },
        makeConnector: { FileStreamSinkConnector() },
        tasks: .sink({ FileStreamSinkTask() })
    )
}

/// Reads and writes of a file descriptor, run on NIO's blocking thread pool.
enum BlockingIO {
    /// Runs `body` on the pool even when the calling task is cancelled: a stopping task still syncs, truncates and
    /// closes its file (the pool would refuse work submitted by a cancelled task).
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(ConnectError) -> T {
        let result = await Task { () async -> Result<T, ConnectError> in
            do {
                return .success(try await NIOThreadPool.singleton.runIfActive(body))
            } catch let error as ConnectError {
                return .failure(error)
            } catch {
                return .failure(.retriable("\(error)"))
            }
        }.value
        return try result.get()
    }

    static func errno(_ what: String, _ path: String) -> ConnectError {
        .retriable("\(what) \(path) failed: \(String(cString: strerror(Glibc.errno)))")
    }
}

final class FileStreamSourceConnector: Connector {
    private var config: [String: String] = [:]

    func start(config: ParsedConfig, context: any ConnectorContext) async throws(ConnectError) {
        self.config = [
            "file": config.string("file") ?? "", "topic": config.string("topic") ?? "",
            "batch.size": config.string("batch.size") ?? "2000",
        ]
    }

    /// One file, one task.
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]] { [config] }

    func stop() async {}
}

final class FileStreamSourceTask: SourceTask {
    private var path = ""
    private var topic = ""
    private var batchSize = 2000
    private var position: Int64 = 0
    private var descriptor: Int32 = -1
    /// Bytes read from the file and not yet turned into records (`position` is the file offset of `cursor`).
    private var pending: [UInt8] = []
    /// Where the next line starts in `pending`.
    private var cursor = 0
    private var partition = ConnectObject()

    func start(config: [String: String], context: any SourceTaskContext) async throws(ConnectError) {
        path = config["file"] ?? ""
        topic = config["topic"]?.trimmingCharacters(in: .whitespaces) ?? ""
        batchSize = Int(config["batch.size"] ?? "") ?? 2000
        partition = ConnectObject([("filename", .string(path))])
        if let offset = try await context.offset(for: partition), case .int(let stored)? = offset["position"] {
            position = stored
        }
    }

    /// Up to `batch.size` complete lines; [] when the file has no complete line past the position.
    func poll() async throws(ConnectError) -> [SourceRecord] {
        var records = takeLines()
        if records.isEmpty {
            try await readMore()
            records = takeLines()
        }
        return records
    }

    private func takeLines() -> [SourceRecord] {
        var records: [SourceRecord] = []
        while records.count < batchSize, let newline = pending[cursor...].firstIndex(of: UInt8(ascii: "\n")) {
            var end = newline
            if end > cursor && pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = String(decoding: pending[cursor..<end], as: UTF8.self)
            position += Int64(newline + 1 - cursor)
            cursor = newline + 1
            records.append(
                SourceRecord(
                    sourcePartition: partition,
                    sourceOffset: ConnectObject([("position", .int(position))]),
                    record: ConnectRecord(topic: topic, valueSchema: .string, value: .string(line))
                )
            )
        }
        return records
    }

    private func readMore() async throws(ConnectError) {
        if descriptor < 0 {
            let path = self.path
            let opened = try await BlockingIO.run { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
            guard opened >= 0 else { return }  // not there yet: it may appear later
            descriptor = opened
        }
        // Keep the partial line at the end; read after it.
        pending.removeFirst(cursor)
        cursor = 0
        let descriptor = self.descriptor
        let offset = position + Int64(pending.count)
        let chunk = try await BlockingIO.run { () throws -> [UInt8] in
            var bytes = [UInt8](repeating: 0, count: 1 << 20)
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
            guard count >= 0 else { throw BlockingIO.errno("Reading", "file") }
            bytes.removeSubrange(count...)
            return bytes
        }
        pending += chunk
    }

    func stop() async {
        if descriptor >= 0 {
            let descriptor = self.descriptor
            self.descriptor = -1
            _ = try? await BlockingIO.run { () -> Int32 in Glibc.close(descriptor) }
        }
    }
}

final class FileStreamSinkConnector: Connector {
    private var config: [String: String] = [:]

    func start(config: ParsedConfig, context: any ConnectorContext) async throws(ConnectError) {
        self.config = ["file": config.string("file") ?? ""]
    }

    /// One task appends to the file: several would interleave their lines.
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]] { [config] }

    func stop() async {}
}

/// Appends each record's value as a line. A commit first syncs the file and records its length in the committed
/// offsets' metadata; after a crash, `open` cuts the file back to that length, so the records consumed again are
/// written once.
final class FileStreamSinkTask: SinkTask {
    private var path = ""
    private var descriptor: Int32 = -1
    private var length: Int64 = 0
    /// Which file this is (`<inode>:<path>`): a commit made for another file says nothing about this one.
    private var identity = ""

    func start(config: [String: String], context: any SinkTaskContext) async throws(ConnectError) {
        path = config["file"] ?? ""
        let path = self.path
        let (descriptor, length, inode) = try await BlockingIO.run { () throws -> (Int32, Int64, UInt64) in
            let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw BlockingIO.errno("Opening", path) }
            let end = lseek(descriptor, 0, SEEK_END)
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let inode = (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
            return (descriptor, Int64(end), inode)
        }
        self.descriptor = descriptor
        self.length = length
        self.identity = "\(inode):\(path)"
    }

    /// The commit metadata: `file.length=<bytes>;file=<inode>:<path>`.
    private var metadata: String { "file.length=\(length);file=\(identity)" }

    static func committedLength(_ metadata: String, identity: String) -> Int64? {
        let parts = metadata.split(separator: ";", maxSplits: 1)
        guard parts.count == 2, parts[1] == "file=" + identity, parts[0].hasPrefix("file.length=") else { return nil }
        return Int64(parts[0].dropFirst("file.length=".count))
    }

    func open(_ partitions: [TopicPartition], committed: [TopicPartition: CommittedOffset]) async throws(ConnectError) {
        let identity = self.identity
        let lengths = committed.values.compactMap { Self.committedLength($0.metadata, identity: identity) }
        guard let committedLength = lengths.max(), committedLength < length else { return }
        // Lines written after the last commit are consumed again: drop them first.
        let descriptor = self.descriptor
        try await BlockingIO.run {
            guard ftruncate(descriptor, off_t(committedLength)) == 0 else {
                throw BlockingIO.errno("Truncating", "file")
            }
        }
        length = committedLength
    }

    func put(_ records: [ConnectRecord]) async throws(ConnectError) {
        guard !records.isEmpty else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.count * 64)
        for record in records {
            switch record.value {
            case .string(let text): bytes += text.utf8
            case .bytes(let raw): bytes += raw
            default: bytes += record.value.text.utf8
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        let descriptor = self.descriptor
        let offset = length
        let data = bytes
        try await BlockingIO.run {
            var written = 0
            while written < data.count {
                let count = data.withUnsafeBytes {
                    pwrite(
                        descriptor,
                        $0.baseAddress?.advanced(by: written),
                        data.count - written,
                        off_t(offset) + off_t(written)
                    )
                }
                guard count > 0 else { throw BlockingIO.errno("Writing", "file") }
                written += count
            }
        }
        length += Int64(bytes.count)
    }

    func preCommit(_ consumed: [TopicPartition: Int64]) async throws(ConnectError) -> [TopicPartition: CommittedOffset]
    {
        let descriptor = self.descriptor
        try await BlockingIO.run {
            guard fsync(descriptor) == 0 else { throw BlockingIO.errno("Syncing", "file") }
        }
        let metadata = self.metadata
        return consumed.mapValues { CommittedOffset(offset: $0, metadata: metadata) }
    }

    func stop() async {
        if descriptor >= 0 {
            let descriptor = self.descriptor
            self.descriptor = -1
            _ = try? await BlockingIO.run { () -> Int32 in Glibc.close(descriptor) }
        }
    }
}

/// The connectors this binary ships.
public enum BuiltinConnectors {
    public static let all: [ConnectorPlugin] = [
        FileStreamConnectors.source, FileStreamConnectors.sink, SqliteSource.plugin, S3Sink.plugin,
    ]
}
