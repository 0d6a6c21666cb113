import Foundation
import Logging
import NIOCore
import RunnelBrokerAPI
public import RunnelConnect
import RunnelRecords

/// The S3-layout sink: records of topics become objects in a bucket, named and rotated as Confluent's S3 sink
/// names and rotates them, whose configs it also accepts.
public enum S3Sink {
    public static let plugin = ConnectorPlugin(
        className: "io.runnel.connect.s3.S3SinkConnector",
        version: "1.0.0",
        configDef: S3SinkConfig.keys,
        extraAliases: ["io.confluent.connect.s3.S3SinkConnector"],
        taskClassName: "io.runnel.connect.s3.S3SinkTask",
        serverPaths: { config, dataDirectory in
            guard let root = try? S3SinkConfig.storeRoot(config["store.url"] ?? "", dataDirectory: dataDirectory) else {
                return []
            }
            var paths = [ServerPath(key: "store.url", path: root)]
            if let bucket = config["s3.bucket.name"]?.trimmingCharacters(in: .whitespaces), !bucket.isEmpty {
                paths.append(ServerPath(key: "s3.bucket.name", path: root + "/" + bucket))
            }
            return paths
        },
        makeConnector: { S3SinkConnector() },
        tasks: .sink({ S3SinkTask() })
    )
}

final class S3SinkConnector: Connector {
    private var values: [String: String] = [:]

    func start(config: ParsedConfig, context: any ConnectorContext) async throws(ConnectError) {
        do {
            let settings = try S3SinkConfig(config.values, dataDirectory: context.dataDirectory)
            if settings.rotateIntervalMs > 0 && !settings.isTimeBased {
                context.logger.warning("rotate.interval.ms is only honoured with a time-based partitioner: ignored")
            }
            if settings.rotateScheduleIntervalMs > 0
                || (settings.isTimeBased && settings.timestampExtractor == .wallclock)
            {
                context.logger.warning(
                    "Objects depend on the clock (rotate.schedule.interval.ms or the Wallclock extractor): a restart may write records again under other names"
                )
            }
        } catch {
            throw error.connectError
        }
        values = config.values
    }

    /// Every task gets the same config; the worker spreads the topic partitions over them.
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]] {
        Array(repeating: values, count: max(1, maxTasks))
    }

    func stop() async {}

    func validate(config: [String: String]) async -> [String: [String]] {
        do {
            _ = try S3SinkConfig(config, dataDirectory: "/")
            return [:]
        } catch {
            return [error.key: [error.message]]
        }
    }
}

/// Writes each topic partition's records into staged files (one per encoded partition) and publishes them as
/// objects when they rotate. The offsets it gives to commit never pass a record that is not in a published
/// object: after a crash, the records of unpublished files are consumed again and the same objects, with the same
/// names and bytes, are written again.
final class S3SinkTask: SinkTask {
    private var config: S3SinkConfig?
    private var store: LocalBucketStore?
    private var writers: [TopicPartition: PartitionWriter] = [:]
    private var reporter: (any ErrantRecordReporter)?
    private var plan = Staging.Plan()
    /// The writer of the previous record: records come in runs of one partition.
    private var lastWriter: PartitionWriter?
    /// A record's formatted value, key and headers, reused from record to record.
    private var valueBytes = ByteBuffer()
    private var keyBytes = ByteBuffer()
    private var headerBytes = ByteBuffer()

    /// One open file: its object key, its staged path, and the bytes formatted since the last flush.
    final class OpenFile {
        let key: String
        let staged: String
        var pending = ByteBuffer()
        var created = false

        init(key: String, staged: String) {
            self.key = key
            self.staged = staged
        }
    }

    /// The object files of one encoded partition: values, and the keys and headers beside them when stored.
    final class FileSet {
        let values: OpenFile
        let keys: OpenFile?
        let headers: OpenFile?

        init(values: OpenFile, keys: OpenFile?, headers: OpenFile?) {
            self.values = values
            self.keys = keys
            self.headers = headers
        }

        var files: [OpenFile] { [values] + [keys, headers].compactMap { $0 } }
    }

    /// The open files of one topic partition since its last commit.
    final class PartitionWriter {
        let topicPartition: TopicPartition
        var sets: [String: FileSet] = [:]
        var order: [String] = []
        /// The offset of the first record in the open files.
        var firstOffset: Int64?
        var count = 0
        /// The time of the first record in the open files (`rotate.interval.ms`).
        var baseTime: Int64?
        var currentPartition: String?
        var lastWasTombstone: Bool?
        /// When the open files are due for scheduled rotation (wall clock).
        var scheduledRotation: Int64?

        init(_ topicPartition: TopicPartition) {
            self.topicPartition = topicPartition
        }
    }

    func start(config values: [String: String], context: any SinkTaskContext) async throws(ConnectError) {
        reporter = context.errantRecordReporter
        let config: S3SinkConfig
        do {
            config = try S3SinkConfig(values, dataDirectory: context.dataDirectory)
        } catch {
            throw error.connectError
        }
        self.config = config
        let stagingName = Staging.stagedName(context.connectorName) + "/task-\(context.taskId)"
        store = try await BlockingIO.run { () throws -> LocalBucketStore in
            try LocalBucketStore(root: config.root, bucket: config.bucket, stagingName: stagingName)
        }
    }

    func open(_ partitions: [TopicPartition], committed: [TopicPartition: CommittedOffset]) async throws(ConnectError) {
        for partition in partitions where writers[partition] == nil {
            writers[partition] = PartitionWriter(partition)
        }
    }

    /// A failure here fails the task, even a retriable one: part of the batch is already in the open files, so
    /// the batch cannot be put again; the restarted task reads again from the committed offsets.
    func put(_ records: [ConnectRecord]) async throws(ConnectError) {
        guard let config else { return }
        do throws(ConnectError) {
            for record in records {
                guard let problem = try write(record, config: config) else { continue }
                guard let reporter else { throw problem }
                try await reporter.report(record, error: problem)
            }
            if config.rotateScheduleIntervalMs > 0 {
                let now = Self.wallClock()
                for writer in writers.values where writer.count > 0 {
                    if let due = writer.scheduledRotation, now >= due { publish(writer) }
                }
            }
            try await flush()
        } catch {
            throw error.kind == .retriable ? .failure(error.message) : error
        }
    }

    /// Adds a record to its open file; returns the data error of a record that cannot be written (for the DLQ).
    private func write(_ record: ConnectRecord, config: S3SinkConfig) throws(ConnectError) -> ConnectError? {
        guard let partition = record.kafkaPartition, let offset = record.kafkaOffset,
            let writer = writer(record.topic, partition)
        else {
            throw .failure(
                "A record of \(record.topic)-\(record.kafkaPartition.map(String.init) ?? "?"), which this task does not own: transforms that change the topic or partition cannot be used with this sink"
            )
        }
        let tombstone = record.value.isNull
        let encoded: String
        let time: Int64?
        valueBytes.clear()
        keyBytes.clear()
        headerBytes.clear()
        do throws(ConnectError) {
            if tombstone {
                switch config.nullValues {
                case .fail:
                    throw .data(
                        "Null valued records are not writeable with current behavior.on.null.values 'fail' setting (record \(record.topic)-\(partition)@\(offset))"
                    )
                case .ignore:
                    return nil
                case .write:
                    break
                }
            }
            time = config.isTimeBased || config.rotateIntervalMs > 0 ? try timestamp(of: record, config: config) : nil
            encoded = tombstone ? "tombstone" : try encodedPartition(record, time: time, config: config)
            try format(record.value, schema: record.valueSchema, as: config.format, config: config, into: &valueBytes)
            if config.storeKeys {
                try format(record.key, schema: record.keySchema, as: config.keysFormat, config: config, into: &keyBytes)
            }
            if config.storeHeaders { try formatHeaders(record.headers, into: &headerBytes) }
        } catch {
            if error.kind == .data { return error }
            throw error
        }

        // Rotations that the next record causes.
        if writer.count > 0 {
            var rotate = false
            if config.isTimeBased && config.rotateIntervalMs > 0, let time, let base = writer.baseTime {
                if time - base >= config.rotateIntervalMs { rotate = true }
                if config.rotateOnPartitionChange && writer.currentPartition != encoded { rotate = true }
            }
            if config.nullValues == .write, let last = writer.lastWasTombstone, last != tombstone { rotate = true }
            if rotate { publish(writer) }
        }

        let set: FileSet
        if let existing = writer.sets[encoded] {
            set = existing
        } else {
            set = newFileSet(writer.topicPartition, encoded: encoded, startOffset: offset, config: config)
            writer.sets[encoded] = set
            writer.order.append(encoded)
        }
        set.values.pending.writeImmutableBuffer(valueBytes)
        set.keys?.pending.writeImmutableBuffer(keyBytes)
        set.headers?.pending.writeImmutableBuffer(headerBytes)
        if writer.count == 0 {
            writer.firstOffset = offset
            writer.baseTime = time
            if config.rotateScheduleIntervalMs > 0, let zone = config.timeZone {
                let now = Self.wallClock()
                writer.scheduledRotation =
                    TimePath.bucketStart(now, duration: config.rotateScheduleIntervalMs, zone: zone)
                    + config.rotateScheduleIntervalMs
            }
        }
        writer.count += 1
        writer.currentPartition = encoded
        writer.lastWasTombstone = tombstone
        if writer.count >= config.flushSize { publish(writer) }
        return nil
    }

    private func newFileSet(
        _ topicPartition: TopicPartition,
        encoded: String,
        startOffset: Int64,
        config: S3SinkConfig
    ) -> FileSet {
        let digits = String(startOffset)
        let padded = String(repeating: "0", count: max(0, config.zeroPadWidth - digits.count)) + digits
        let base =
            "\(config.topicsDir)/\(topicPartition.topic)/\(encoded)/\(topicPartition.topic)+\(topicPartition.partition)+\(padded)"
        let staging = store?.stagingDirectory ?? ""
        func file(_ key: String) -> OpenFile {
            OpenFile(key: key, staged: staging + "/" + Staging.stagedName(key))
        }
        let keysExtension = config.fileExtension(config.keysFormat)
        let headersExtension = ".json" + (config.gzip ? ".gz" : "")
        return FileSet(
            values: file(base + config.fileExtension(config.format)),
            keys: config.storeKeys ? file(base + ".keys" + keysExtension) : nil,
            headers: config.storeHeaders ? file(base + ".headers" + headersExtension) : nil
        )
    }

    /// Publishes every open file of the partition (in one plan with their last bytes) and starts afresh.
    private func publish(_ writer: PartitionWriter) {
        for encoded in writer.order {
            guard let set = writer.sets[encoded] else { continue }
            for file in set.files {
                stage(file)
                plan.publishes.append(Staging.Publish(path: file.staged, key: file.key))
            }
        }
        writer.sets = [:]
        writer.order = []
        writer.firstOffset = nil
        writer.count = 0
        writer.baseTime = nil
        writer.currentPartition = nil
        writer.scheduledRotation = nil
    }

    /// Moves a file's formatted bytes into the plan.
    private func stage(_ file: OpenFile) {
        guard file.pending.readableBytes > 0 || !file.created else { return }
        plan.appends.append(Staging.Append(path: file.staged, truncate: !file.created, bytes: file.pending))
        file.pending = ByteBuffer()
        file.created = true
    }

    /// Writes the formatted bytes of the open files and publishes the rotated ones, off the cooperative pool.
    private func flush() async throws(ConnectError) {
        for writer in writers.values {
            for set in writer.sets.values {
                for file in set.files where file.pending.readableBytes > 0 { stage(file) }
            }
        }
        guard !plan.isEmpty, let store, let config else { return }
        let plan = self.plan
        self.plan = Staging.Plan()
        let level = config.gzip ? config.compressionLevel : nil
        try await BlockingIO.run { try Staging.execute(plan, store: store, gzipLevel: level) }
    }

    /// Per partition: the start of its open files (their records must be read again after a crash), or the
    /// position after the last record put when every record is in a published object.
    func preCommit(_ consumed: [TopicPartition: Int64]) async throws(ConnectError) -> [TopicPartition: CommittedOffset]
    {
        var offsets: [TopicPartition: CommittedOffset] = [:]
        for (partition, next) in consumed {
            let offset = writers[partition]?.firstOffset ?? next
            offsets[partition] = CommittedOffset(offset: offset, metadata: "")
        }
        return offsets
    }

    /// The files of revoked partitions are dropped unpublished: their records are read again by the next owner.
    func close(_ partitions: [TopicPartition]) async throws(ConnectError) {
        for partition in partitions {
            guard let writer = writers.removeValue(forKey: partition) else { continue }
            if writer === lastWriter { lastWriter = nil }
            discard(writer)
        }
        try? await flush()
    }

    private func discard(_ writer: PartitionWriter) {
        for set in writer.sets.values {
            for file in set.files where file.created { plan.removals.append(file.staged) }
        }
        writer.sets = [:]
    }

    func stop() async {
        for writer in writers.values { discard(writer) }
        writers = [:]
        lastWriter = nil
        plan.appends = []
        plan.publishes = []
        if !plan.removals.isEmpty, let store {
            let plan = self.plan
            self.plan = Staging.Plan()
            _ = try? await BlockingIO.run { try Staging.execute(plan, store: store, gzipLevel: nil) }
        }
    }

    // MARK: Records to bytes

    static func wallClock() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private func timestamp(of record: ConnectRecord, config: S3SinkConfig) throws(ConnectError) -> Int64 {
        switch config.timestampExtractor {
        case .wallclock:
            return Self.wallClock()
        case .record:
            guard let timestamp = record.timestamp else {
                throw .data(
                    "Record \(record.topic)-\(record.kafkaPartition ?? -1)@\(record.kafkaOffset ?? -1) has no timestamp"
                )
            }
            return timestamp
        case .recordField:
            let value = try field(config.timestampField, of: record)
            switch value {
            case .int(let millis): return millis
            case .double(let millis): return Int64(millis)
            case .string(let text):
                if let millis = Timestamps.parseISO8601(text) ?? Int64(text) { return millis }
                throw .data(
                    "Field \(config.timestampField) holds \(text), which is not a timestamp (ISO-8601 or epoch milliseconds)"
                )
            default:
                throw .data("Field \(config.timestampField) holds \(value.text), which is not a timestamp")
            }
        }
    }

    /// A (dotted) field of the record's value, which must be a struct or map.
    private func field(_ path: String, of record: ConnectRecord) throws(ConnectError) -> ConnectValue {
        var current = record.value
        for name in path.split(separator: ".") {
            guard let object = current.object else {
                throw .data(
                    "Record \(record.topic)-\(record.kafkaPartition ?? -1)@\(record.kafkaOffset ?? -1): cannot read field \(path) of a value that is not a struct or map"
                )
            }
            current = object[String(name)] ?? .null
        }
        return current
    }

    private func encodedPartition(
        _ record: ConnectRecord,
        time: Int64?,
        config: S3SinkConfig
    ) throws(ConnectError) -> String {
        switch config.partitioner {
        case .default:
            return "partition=\(record.kafkaPartition ?? 0)"
        case .field(let names):
            var parts: [String] = []
            for name in names {
                let value = try field(name, of: record)
                let text: String
                switch value {
                case .null: text = "null"
                case .int(let number): text = String(number)
                case .bool(let flag): text = flag ? "true" : "false"
                case .string(let string): text = string
                default:
                    throw .data(
                        "Field \(name) holds a \(value.typeName) value: FieldPartitioner takes integers, strings and booleans"
                    )
                }
                parts.append("\(name)=\(Self.escapePathValue(text))")
            }
            return parts.joined(separator: "/")
        case .time(let path, let duration):
            let zone = config.timeZone ?? TimeZone(identifier: "UTC") ?? .current
            let start = TimePath.bucketStart(time ?? Self.wallClock(), duration: duration, zone: zone)
            return path.render(start, zone: zone)
        }
    }

    /// A field value as one folder name: `/`, `%` and control characters are percent-escaped, and `.`/`..` cannot
    /// occur (the name always starts with `<field>=`).
    static func escapePathValue(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            if scalar == "/" || scalar == "%" || scalar == "\\" || scalar.value < 0x20 || scalar.value == 0x7F {
                escaped += String(format: "%%%02X", scalar.value)
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private func format(
        _ value: ConnectValue,
        schema: ConnectSchema?,
        as format: S3SinkConfig.Format,
        config: S3SinkConfig,
        into bytes: inout ByteBuffer
    ) throws(ConnectError) {
        switch format {
        case .json:
            if value.isNull {
                bytes.writeStaticString("null")
            } else {
                try ConnectJSON.append(value, schema: schema, decimalNumeric: config.decimalNumeric, to: &bytes)
            }
            bytes.writeInteger(UInt8(ascii: "\n"))
        case .byteArray:
            switch value {
            case .null: break
            case .bytes(let raw): bytes.writeBytes(raw)
            case .string(let text): bytes.writeString(text)
            default:
                throw .data("ByteArrayFormat writes bytes or strings, not a \(value.typeName) value (use JsonFormat)")
            }
            bytes.writeBytes(config.byteArraySeparator)
        }
    }

    /// One JSON line per record: `[{"key":…,"value":…},…]`.
    private func formatHeaders(_ headers: [ConnectHeader], into bytes: inout ByteBuffer) throws(ConnectError) {
        let array = ConnectValue.array(
            headers.map { .object(ConnectObject([("key", .string($0.key)), ("value", $0.value)])) }
        )
        try ConnectJSON.append(array, schema: nil, to: &bytes)
        bytes.writeInteger(UInt8(ascii: "\n"))
    }

    /// The writer of a record's partition, nil when this task does not own it.
    private func writer(_ topic: String, _ partition: Int32) -> PartitionWriter? {
        if let lastWriter, lastWriter.topicPartition.partition == partition, lastWriter.topicPartition.topic == topic {
            return lastWriter
        }
        guard let topicPartition = try? TopicPartition(topic: topic, partition: partition) else { return nil }
        lastWriter = writers[topicPartition]
        return lastWriter
    }
}
