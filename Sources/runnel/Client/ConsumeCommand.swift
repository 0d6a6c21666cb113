import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RunnelJSON
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print a topic's records as they arrive (like kafka-console-consumer).",
        discussion: """
            Without --group, reads the partitions directly, from the end (new records only), from the beginning \
            with --from-beginning, or from --offset of one --partition; nothing is committed. With --group, joins \
            that consumer group, reads from its committed offsets (or from the beginning or end when it has none), \
            and commits what it printed. Follows the topic until Ctrl-C or --max-messages, then exits cleanly, \
            printing the count on standard error.

            Each record is printed on one line: its value, after its timestamp, partition, offset, headers and key \
            when asked for, separated by tabs. --output json prints one JSON object per record instead.

            Examples:
              runnel consume orders --from-beginning --max-messages 10
              runnel consume orders --group billing --print-key --print-offset
              runnel consume orders --partition 2 --offset 1500
            """
    )

    @Argument(help: "The topic to read.") var topic: String
    @Flag(help: "Start at the first record (default: only records written from now on).") var fromBeginning = false
    @Option(help: "Read as this consumer group, committing what was printed.") var group: String?
    @Option(help: "Read only this partition.") var partition: Int?
    @Option(help: "Start at this offset (needs --partition; also 'earliest' or 'latest').") var offset: String?
    @Option(help: "Exit after printing this many records.") var maxMessages: Int?
    @Flag(help: "Print each record's key.") var printKey = false
    @Flag(help: "Print each record's offset.") var printOffset = false
    @Flag(help: "Print each record's partition.") var printPartition = false
    @Flag(help: "Print each record's timestamp.") var printTimestamp = false
    @Flag(help: "Print each record's headers (key:value, comma-separated).") var printHeaders = false
    @Option(help: "Text between the printed fields.") var separator = "\t"
    @Option(help: "Stop after this many milliseconds without a new record (default: follow forever).")
    var timeoutMs: Int?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if offset != nil && partition == nil { throw ValidationError("--offset needs --partition") }
        if offset != nil && fromBeginning { throw ValidationError("--offset and --from-beginning exclude each other") }
        if let offset, !["earliest", "latest"].contains(offset), Int64(offset).map({ $0 < 0 }) ?? true {
            throw ValidationError("--offset takes a non-negative number, 'earliest' or 'latest', not \(offset)")
        }
        if let maxMessages, maxMessages <= 0 { throw ValidationError("--max-messages must be positive") }
        if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
        if group != nil && offset != nil { throw ValidationError("--offset cannot be used with --group") }
    }

    func run() async throws {
        let api = try client.api()
        let printer = RecordPrinter(
            format: RecordFormat(
                json: client.output == .json,
                topic: topic,
                key: printKey,
                offset: printOffset,
                partition: printPartition,
                timestamp: printTimestamp,
                headers: printHeaders,
                separator: Array(separator.utf8)
            ),
            limit: maxMessages
        )
        let reader: any RecordReader
        if let group {
            reader = try await GroupReader.start(
                api: api,
                group: group,
                topic: topic,
                partition: partition,
                fromBeginning: fromBeginning
            )
        } else {
            reader = try await PartitionReader.start(
                api: api,
                topic: topic,
                partition: partition,
                offset: fromBeginning ? "earliest" : offset ?? "latest"
            )
        }
        let timeout = timeoutMs.map { Duration.milliseconds($0) }
        let work = Task { try await reader.read(into: printer, idleTimeout: timeout) }
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                work.cancel()
                return
            }
        }
        let outcome = await work.result
        signals.cancel()
        // Commit what was printed and leave the group, whether the read ended, failed or was interrupted.
        try await reader.finish(printed: printer)
        Output.note("Processed a total of \(printer.count) messages")
        if case .failure(let error) = outcome, !(error is CancellationError) {
            throw error
        }
    }
}

/// One record of a read, its key, value and header values still base64 in the response's bytes.
struct RecordView {
    var partition: Int64 = 0
    var offset: Int64 = 0
    var timestamp: String = ""
    var key: Range<Int>?
    var value: Range<Int>?
    var headers: [(name: String, value: Range<Int>)] = []
}

struct RecordFormat: Sendable {
    var json: Bool
    var topic: String
    var key: Bool
    var offset: Bool
    var partition: Bool
    var timestamp: Bool
    var headers: Bool
    var separator: [UInt8]

    /// Appends one record: a line of the asked-for fields (Kafka's console order), or a JSON object.
    func append(_ record: RecordView, from bytes: UnsafeRawBufferPointer, to out: inout ByteBuffer) {
        func decoded(_ range: Range<Int>) -> ByteBuffer {
            var buffer = ByteBuffer()
            _ = Base64.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: &buffer)
            return buffer
        }
        if json {
            var object: [(String, JSONValue)] = [
                ("topic", .string(topic)), ("partition", .int(record.partition)), ("offset", .int(record.offset)),
                ("timestamp", .string(record.timestamp)),
            ]
            func field(_ name: String, _ range: Range<Int>?) {
                guard let range else { return object.append((name, .null)) }
                let data = decoded(range)
                if let text = String(validating: data.readableBytesView, as: UTF8.self) {
                    object.append((name, .string(text)))
                } else {
                    object.append((name + "_base64", .string(String(decoding: bytes[range], as: UTF8.self))))
                }
            }
            field("key", record.key)
            field("value", record.value)
            object.append(
                (
                    "headers",
                    .object(record.headers.map { ($0.name, .string(String(buffer: decoded($0.value)))) })
                )
            )
            JSONValue.object(object).write(to: &out)
            out.writeStaticString("\n")
            return
        }
        if timestamp {
            out.writeString("CreateTime:" + record.timestamp)
            out.writeBytes(separator)
        }
        if partition {
            out.writeString("Partition:\(record.partition)")
            out.writeBytes(separator)
        }
        if offset {
            out.writeString("Offset:\(record.offset)")
            out.writeBytes(separator)
        }
        if headers {
            if record.headers.isEmpty {
                out.writeStaticString("NO_HEADERS")
            } else {
                for (index, header) in record.headers.enumerated() {
                    if index > 0 { out.writeStaticString(",") }
                    out.writeString(header.name)
                    out.writeStaticString(":")
                    _ = Base64.decode(UnsafeRawBufferPointer(rebasing: bytes[header.value]), into: &out)
                }
            }
            out.writeBytes(separator)
        }
        if key {
            if let range = record.key {
                _ = Base64.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: &out)
            } else {
                out.writeStaticString("null")
            }
            out.writeBytes(separator)
        }
        if let range = record.value {
            _ = Base64.decode(UnsafeRawBufferPointer(rebasing: bytes[range]), into: &out)
        } else {
            out.writeStaticString("null")
        }
        out.writeStaticString("\n")
    }
}

/// Reads a list of records in either shape the proxy answers with: v3's stateless read (`key`/`value` as
/// `{"type":"BINARY","data":…}`, ISO timestamps, headers with `name`) or a v2 consumer's (`key`/`value` base64 or
/// null, millisecond timestamps, headers with `key`).
enum RecordListReader {
    static let keys: [StaticString] = [
        "partition", "partition_id", "offset", "timestamp", "key", "value", "headers",
    ]

    static func forEach(
        in reader: inout JSONReader,
        _ body: (RecordView) -> Bool
    ) throws(JSONError) {
        try reader.beginArray()
        while try reader.nextElement() {
            var record = RecordView()
            try reader.beginObject()
            while let key = try reader.nextKey(in: keys) {
                switch key {
                case 0, 1: record.partition = try reader.readInt64() ?? 0
                case 2: record.offset = try reader.readInt64() ?? 0
                case 3:
                    if try reader.peekKind() == .string {
                        record.timestamp = try reader.readString()
                    } else {
                        record.timestamp = try reader.readNumberText()
                    }
                case 4: record.key = try data(&reader)
                case 5: record.value = try data(&reader)
                case 6:
                    if reader.readNullIfPresent() { continue }
                    try reader.beginArray()
                    while try reader.nextElement() {
                        var name = ""
                        var value: Range<Int> = 0..<0
                        try reader.beginObject()
                        while let field = try reader.nextKey() {
                            switch field {
                            case "name", "key": name = try reader.readString()
                            case "value": value = try reader.readNullIfPresent() ? 0..<0 : reader.readRawString().range
                            default: try reader.skipValue()
                            }
                        }
                        record.headers.append((name, value))
                    }
                default: try reader.skipValue()
                }
            }
            if !body(record) { return }
        }
    }

    /// A key's or value's base64 text: a bare string, or the `data` of `{"type","data"}`; nil for null.
    private static func data(_ reader: inout JSONReader) throws(JSONError) -> Range<Int>? {
        if reader.readNullIfPresent() { return nil }
        if try reader.peekKind() == .string { return try reader.readRawString().range }
        var found: Range<Int>?
        try reader.beginObject()
        while let field = try reader.nextKey() {
            if field == "data", !reader.readNullIfPresent() {
                found = try reader.readRawString().range
            } else {
                try reader.skipValue()
            }
        }
        return found
    }
}

/// Writes records to standard output (on NIO's thread pool), counting them up to the limit.
final class RecordPrinter: Sendable {
    let format: RecordFormat
    let limit: Int?
    private let state = Mutex(State())

    private struct State {
        var count = 0
        var pending = ByteBuffer()
        /// The next offset of each partition printed from, for committing.
        var positions: [Int64: Int64] = [:]
    }

    init(format: RecordFormat, limit: Int?) {
        self.format = format
        self.limit = limit
    }

    var count: Int { state.withLock(\.count) }
    var positions: [Int64: Int64] { state.withLock(\.positions) }
    var isDone: Bool { limit.map { count >= $0 } ?? false }

    /// Prints the records of one response; false once the limit is reached. The records are formatted and written
    /// on NIO's thread pool, one response at a time (lines never interleave), and a response fetched is printed even
    /// when the read is being cancelled (Ctrl-C, or another partition reaching the limit).
    func print(
        _ body: ByteBuffer,
        records path: @escaping @Sendable (inout JSONReader) throws(JSONError) -> Void
    )
        async throws -> Bool
    {
        try await Task {
            try await NIOThreadPool.singleton.runIfActive { try self.printNow(body, path) }
        }.value
        return !isDone
    }

    private func printNow(_ body: ByteBuffer, _ path: (inout JSONReader) throws(JSONError) -> Void) throws {
        try state.withLock { state in
            var out = ByteBuffer()
            try body.withUnsafeReadableBytes { bytes in
                var reader = JSONReader(bytes)
                do {
                    try path(&reader)
                    try RecordListReader.forEach(in: &reader) { record in
                        if let limit, state.count >= limit { return false }
                        format.append(record, from: bytes, to: &out)
                        state.count += 1
                        state.positions[record.partition] = record.offset + 1
                        return true
                    }
                } catch {
                    throw ClientError("The server's answer could not be read: \(error)")
                }
            }
            try Self.write(out)
        }
    }

    private static func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var written = 0
            while written < bytes.count {
                let count = Glibc.write(STDOUT_FILENO, bytes.baseAddress.map { $0 + written }, bytes.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    // A closed pipe (`| head`) ends the read quietly.
                    if errno == EPIPE { throw CancellationError() }
                    throw ClientError("Writing to standard output failed: \(String(cString: strerror(errno)))")
                }
                written += count
            }
        }
    }
}

protocol RecordReader: Sendable {
    /// Prints records until the printer's limit, the idle timeout, or cancellation.
    func read(into printer: RecordPrinter, idleTimeout: Duration?) async throws
    /// Commits what was printed (for a group) and releases what the read holds on the server.
    func finish(printed: RecordPrinter) async throws
}

/// Reads partitions directly with the stateless read, one long poll per partition at a time.
struct PartitionReader: RecordReader {
    let api: RunnelAPI
    let cluster: String
    let topic: String
    let starts: [(partition: Int, offset: Int64?)]

    static func start(api: RunnelAPI, topic: String, partition: Int?, offset: String) async throws -> PartitionReader {
        let cluster = try await api.clusterId()
        let description = try await api.call(.GET, api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))"))
        let count = Int(description["partitions_count"]?.int64Value ?? 0)
        if let partition, partition >= count {
            throw ClientError("Topic \(topic) has \(count) partitions; there is no partition \(partition).")
        }
        var starts: [(Int, Int64?)] = []
        for id in partition.map({ [$0] }) ?? Array(0..<count) {
            switch offset {
            case "earliest": starts.append((id, nil))
            case "latest":
                let offsets = try await api.call(
                    .GET,
                    "\(api.proxy)/topics/\(RunnelAPI.segment(topic))/partitions/\(id)/offsets"
                )
                starts.append((id, offsets["end_offset"]?.int64Value ?? 0))
            default: starts.append((id, Int64(offset) ?? 0))
            }
        }
        return PartitionReader(api: api, cluster: cluster, topic: topic, starts: starts)
    }

    func read(into printer: RecordPrinter, idleTimeout: Duration?) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for start in starts {
                group.addTask { try await readPartition(start.partition, from: start.offset, printer, idleTimeout) }
            }
            // The partition that reaches the limit ends them all; an idle one ends alone.
            while let limitReached = try await group.next() {
                if limitReached {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    /// Prints one partition's records; true when the printer's limit was reached.
    private func readPartition(
        _ partition: Int,
        from start: Int64?,
        _ printer: RecordPrinter,
        _ idle: Duration?
    ) async throws -> Bool {
        var next = start
        var lastRecord = ContinuousClock.now
        let path = api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))/partitions/\(partition)/records")
        while !Task.isCancelled {
            let url = path + "?format=binary&max_bytes=4194304&timeout=1000" + (next.map { "&offset=\($0)" } ?? "")
            let reply = try await api.send(.GET, url)
            if reply.status == 416 {
                // Retention removed the records before us: go on from the partition's first.
                next = nil
                continue
            }
            try RunnelAPI.check(reply)
            var nextOffset: Int64?
            let more = try await printer.print(reply.body) { (reader: inout JSONReader) throws(JSONError) in
                // Up to the records: `data` comes last, after `next_offset`.
                try reader.beginObject()
                while let key = try reader.nextKey(), key != "data" { try reader.skipValue() }
            }
            nextOffset = Self.nextOffset(in: reply.body)
            guard more else { return true }
            if let nextOffset, nextOffset != next {
                next = nextOffset
                lastRecord = .now
            } else if let idle, ContinuousClock.now - lastRecord > idle {
                return false
            }
        }
        return false
    }

    func finish(printed: RecordPrinter) async throws {}

    /// The `next_offset` of a record list (it comes before `data`, so the records are not read).
    static func nextOffset(in body: ByteBuffer) -> Int64? {
        body.withUnsafeReadableBytes { bytes in
            var reader = JSONReader(bytes)
            do {
                try reader.beginObject()
                while let key = try reader.nextKey(), key != "data" {
                    if key == "next_offset" { return try reader.readInt64() }
                    try reader.skipValue()
                }
            } catch {}
            return nil
        }
    }
}

/// Reads as a member of a consumer group, through a v2 consumer instance that commits what was printed.
struct GroupReader: RecordReader {
    let api: RunnelAPI
    let group: String
    let instance: String
    let topic: String

    var base: String { "\(api.proxy)/consumers/\(RunnelAPI.segment(group))/instances/\(RunnelAPI.segment(instance))" }
    static let v2 = "application/vnd.kafka.v2+json"

    static func start(
        api: RunnelAPI,
        group: String,
        topic: String,
        partition: Int?,
        fromBeginning: Bool
    ) async throws -> GroupReader {
        let name = "runnel-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try await api.call(
            .POST,
            "\(api.proxy)/consumers/\(RunnelAPI.segment(group))",
            json: [
                "name": .string(name), "format": "binary", "auto.offset.reset": fromBeginning ? "earliest" : "latest",
                "auto.commit.enable": "false",
            ],
            contentType: v2,
            accept: v2
        )
        let reader = GroupReader(api: api, group: group, instance: name, topic: topic)
        do {
            if let partition {
                try await api.call(
                    .POST,
                    reader.base + "/assignments",
                    json: ["partitions": [["topic": .string(topic), "partition": .int(partition)]]],
                    contentType: v2,
                    accept: v2
                )
            } else {
                try await api.call(
                    .POST,
                    reader.base + "/subscription",
                    json: ["topics": [.string(topic)]],
                    contentType: v2,
                    accept: v2
                )
            }
        } catch {
            _ = try? await api.send(.DELETE, reader.base, contentType: v2, accept: v2)
            throw error
        }
        return reader
    }

    func read(into printer: RecordPrinter, idleTimeout: Duration?) async throws {
        var lastRecord = ContinuousClock.now
        while !Task.isCancelled {
            let reply = try await api.send(
                .GET,
                base + "/records?timeout=1000&max_bytes=4194304",
                accept: "application/vnd.kafka.binary.v2+json"
            )
            try RunnelAPI.check(reply)
            let before = printer.count
            let more = try await printer.print(reply.body) { _ in }
            if printer.count > before { try await commit(printer) }
            guard more else { return }
            if printer.count > before {
                lastRecord = .now
            } else if let idleTimeout, ContinuousClock.now - lastRecord > idleTimeout {
                return
            }
        }
    }

    /// Commits the positions printed so far (v2 commits take the last offset read, and store the one after it).
    private func commit(_ printer: RecordPrinter) async throws {
        let positions = printer.positions
        guard !positions.isEmpty else { return }
        let offsets: [JSONValue] = positions.sorted { $0.key < $1.key }.map {
            ["topic": .string(topic), "partition": .int($0.key), "offset": .int($0.value - 1)]
        }
        try await api.call(
            .POST,
            base + "/offsets",
            json: ["offsets": .array(offsets)],
            contentType: Self.v2,
            accept: Self.v2
        )
    }

    func finish(printed: RecordPrinter) async throws {
        let committed: Result<Void, any Error>
        do {
            try await commit(printed)
            committed = .success(())
        } catch {
            committed = .failure(error)
        }
        _ = try? await api.send(.DELETE, base, contentType: Self.v2, accept: Self.v2)
        try committed.get()
    }
}
