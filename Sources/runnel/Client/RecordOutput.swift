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
