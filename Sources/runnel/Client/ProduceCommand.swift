import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RunnelJSON

#if canImport(Glibc)
import Glibc
#endif

struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Write lines to a topic, one record per line (like kafka-console-producer).",
        discussion: """
            Lines come from standard input, or from --file. Each line is one record's value, sent as it is (text as \
            a string, other bytes as binary); an empty line is a record with an empty value. With --key-separator, \
            the text before the first separator is the record's key. Records are sent in batches as fast as they \
            are read, in order; when reading a terminal, each line is sent as you press Enter (Ctrl-D ends).

            Examples:
              echo 'hello' | runnel produce greetings
              runnel produce orders --file orders.txt --key-separator ':' --header source=import
            """
    )

    @Argument(help: "The topic to write to.") var topic: String
    @Option(name: [.short, .long], help: "Read lines from this file instead of standard input.") var file: String?
    @Option(help: "Split each line into key and value at the first occurrence of this text.") var keySeparator: String?
    @Option(
        name: .long,
        help: ArgumentHelp("A header added to every record; repeat for several.", valueName: "key=value")
    )
    var header: [String] = []
    @Option(help: "Write every record to this partition (default: by key, or spread when there is none).")
    var partition: Int?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if keySeparator == "" { throw ValidationError("--key-separator must not be empty") }
        for pair in header where !pair.contains("=") { throw ValidationError("--header takes key=value, not \(pair)") }
        if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
    }

    func run() async throws {
        let api = try client.api()
        let descriptor: CInt
        var totalBytes: Int?
        if let file {
            descriptor = open(file, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw ClientError("Cannot open \(file): \(String(cString: strerror(errno)))") }
            var status = stat()
            if fstat(descriptor, &status) == 0 { totalBytes = Int(status.st_size) }
        } else {
            descriptor = STDIN_FILENO
        }
        defer { if file != nil { close(descriptor) } }

        let cluster = try await api.clusterId()
        let url = api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))/records")
        let encoder = RecordEncoder(
            keySeparator: keySeparator.map { Array($0.utf8) },
            headers: header.map { pair in
                let equals = pair.firstIndex(of: "=") ?? pair.endIndex
                return (String(pair[..<equals]), Array(pair[pair.index(after: equals)...].utf8))
            },
            partition: partition
        )
        let source = LineSource(descriptor: descriptor, encoder: encoder)
        let progress = totalBytes != nil && isatty(STDERR_FILENO) == 1 ? Progress(total: totalBytes ?? 0) : nil
        let started = ContinuousClock.now
        var produced = 0
        var failed = 0
        var next = Task { try await source.nextBatch() }
        while let batch = try await next.value {
            // Read and encode the next batch while this one is written.
            next = Task { try await source.nextBatch() }
            if batch.records > 0 {
                let reply = try await api.send(.POST, url, body: batch.body, timeout: .minutes(10))
                try RunnelAPI.check(reply)
                let outcome = Self.readReports(reply.body, firstLine: batch.firstLine, expected: batch.records)
                produced += outcome.succeeded
                failed += outcome.failures.count
                for failure in outcome.failures.prefix(max(0, 20 - (failed - outcome.failures.count))) {
                    Output.note("Error: \(failure)")
                }
            }
            progress?.update(bytes: batch.bytesRead, records: produced)
            if let problem = batch.problem {
                next.cancel()
                throw ClientError(problem)
            }
        }
        let seconds = (ContinuousClock.now - started).inSeconds
        progress?.update(bytes: totalBytes ?? 0, records: produced, force: true)
        progress?.finish()
        switch client.output {
        case .json:
            Output.printJSON([
                "topic_name": .string(topic), "records": .int(produced), "failed": .int(failed),
                "seconds": .number(String(format: "%.3f", seconds)),
            ])
        case .table:
            if isatty(STDERR_FILENO) == 1 || failed > 0 {
                let rate = seconds > 0 ? Int(Double(produced) / seconds) : produced
                Output.note(
                    "Produced \(produced) records to \(topic) in \(String(format: "%.1f", seconds)) s (\(rate) records/s)."
                )
            }
        }
        if failed > 0 {
            throw ClientError("\(failed) records were not written (see above).")
        }
    }

    /// Counts the delivery reports of a produce stream (one JSON object per line, in the records' order).
    static func readReports(_ body: ByteBuffer, firstLine: Int, expected: Int) -> (succeeded: Int, failures: [String]) {
        let success = Array(#"{"error_code":200,"#.utf8)
        var succeeded = 0
        var failures: [String] = []
        var index = 0
        body.withUnsafeReadableBytes { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                if end > start {
                    let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                    if line.starts(with: success) {
                        succeeded += 1
                    } else {
                        let report = try? JSONValue.parse(String(decoding: line, as: UTF8.self))
                        let message = report?["message"]?.stringValue ?? String(decoding: line, as: UTF8.self)
                        failures.append("line \(firstLine + index): \(message)")
                    }
                    index += 1
                }
                start = end + 1
            }
        }
        if index < expected {
            failures.append(
                "the server reported on \(index) of \(expected) records from line \(firstLine); the rest were not written"
            )
        }
        return (succeeded, failures)
    }
}

/// Turns lines into v3 produce records, concatenated JSON objects.
struct RecordEncoder: Sendable {
    let keySeparator: [UInt8]?
    let prefix: [UInt8]
    let suffix: [UInt8]

    init(keySeparator: [UInt8]?, headers: [(String, [UInt8])], partition: Int?) {
        self.keySeparator = keySeparator
        prefix = Array((partition.map { #"{"partition_id":\#($0),"# } ?? "{").utf8)
        if headers.isEmpty {
            suffix = Array("}\n".utf8)
        } else {
            let list = headers.map {
                JSONValue.object([("name", .string($0.0)), ("value", .string(Base64.encode($0.1)))])
            }
            suffix = Array((#","headers":"# + JSONValue.array(list).text + "}\n").utf8)
        }
    }

    enum Problem: Error { case noKeySeparator }

    /// Appends one line's record.
    func append(_ line: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) throws(Problem) {
        buffer.writeBytes(prefix)
        var value = line
        if let keySeparator {
            guard let split = Self.firstRange(of: keySeparator, in: line) else { throw .noKeySeparator }
            buffer.writeStaticString(#""key":"#)
            Self.appendData(UnsafeRawBufferPointer(rebasing: line[..<split.lowerBound]), to: &buffer)
            buffer.writeStaticString(",")
            value = UnsafeRawBufferPointer(rebasing: line[split.upperBound...])
        }
        buffer.writeStaticString(#""value":"#)
        Self.appendData(value, to: &buffer)
        buffer.writeBytes(suffix)
    }

    /// `{"type":"STRING","data":"…"}` for UTF-8 text, `{"type":"BINARY","data":"<base64>"}` for other bytes.
    static func appendData(_ bytes: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) {
        var plain = true
        for byte in bytes where byte >= 0x80 || byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
        {
            plain = false
            break
        }
        if plain {
            buffer.writeStaticString(#"{"type":"STRING","data":""#)
            buffer.writeBytes(bytes)
            buffer.writeStaticString(#""}"#)
        } else if let text = String(validating: bytes, as: UTF8.self) {
            buffer.writeStaticString(#"{"type":"STRING","data":"#)
            JSONValue.string(text).write(to: &buffer)
            buffer.writeStaticString("}")
        } else {
            buffer.writeStaticString(#"{"type":"BINARY","data":""#)
            Base64.encode(bytes, into: &buffer)
            buffer.writeStaticString(#""}"#)
        }
    }

    static func firstRange(of needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Range<Int>? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var index = 0
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] {
                var match = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    match = false
                    break
                }
                if match { return index..<(index + needle.count) }
            }
            index += 1
        }
        return nil
    }
}

/// Reads lines from a file descriptor on NIO's thread pool and encodes them into request bodies: as much as is
/// ready (up to about a megabyte), so a file goes in large batches and a terminal line by line.
actor LineSource {
    struct Batch: Sendable {
        var body: ByteBuffer
        var records: Int
        /// The line number of the first record (1-based).
        var firstLine: Int
        var bytesRead: Int
        /// Set when a line could not be sent; the records before it are in `body`.
        var problem: String?
    }

    static let chunkSize = 1 << 20
    let descriptor: CInt
    let encoder: RecordEncoder
    private var carry: [UInt8] = []
    private var atEnd = false
    private var lineNumber = 1
    private var bytesRead = 0

    init(descriptor: CInt, encoder: RecordEncoder) {
        self.descriptor = descriptor
        self.encoder = encoder
    }

    /// The next batch, or nil at the end of the input.
    func nextBatch() async throws -> Batch? {
        guard !atEnd else { return nil }
        let descriptor = descriptor
        let chunk = try await NIOThreadPool.singleton.runIfActive { try Self.readAvailable(descriptor) }
        bytesRead += chunk.count
        var input = carry + chunk
        carry = []
        if chunk.isEmpty {
            atEnd = true
        } else if let lastNewline = input.lastIndex(of: UInt8(ascii: "\n")) {
            carry = Array(input[(lastNewline + 1)...])
            input.removeSubrange((lastNewline + 1)...)
        } else {
            carry = input
            return Batch(body: ByteBuffer(), records: 0, firstLine: lineNumber, bytesRead: bytesRead)
        }
        var batch = Batch(
            body: ByteBuffer(),
            records: 0,
            firstLine: lineNumber,
            bytesRead: bytesRead
        )
        batch.body.reserveCapacity(input.count + input.count / 2 + 64)
        input.withUnsafeBytes { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                var lineEnd = end
                if lineEnd > start && bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                do {
                    try encoder.append(UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnd]), to: &batch.body)
                } catch {
                    batch.problem = "Line \(lineNumber) has no key separator; nothing from it on was sent."
                    atEnd = true
                    return
                }
                batch.records += 1
                lineNumber += 1
                start = end + 1
            }
        }
        return batch
    }

    /// Reads what the descriptor has ready, waiting only for the first bytes: up to `chunkSize`; empty at the end.
    static func readAvailable(_ descriptor: CInt) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var filled = 0
        while filled < chunkSize {
            let count = buffer.withUnsafeMutableBytes { bytes in
                read(descriptor, bytes.baseAddress.map { $0 + filled }, chunkSize - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw ClientError("Reading the input failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            filled += count
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 0) <= 0 { break }
        }
        buffer.removeSubrange(filled...)
        return buffer
    }
}

/// A progress bar on standard error, for a file of known size.
final class Progress {
    let total: Int
    var lastDrawn = ContinuousClock.now
    let started = ContinuousClock.now

    init(total: Int) { self.total = max(total, 1) }

    func update(bytes: Int, records: Int, force: Bool = false) {
        let now = ContinuousClock.now
        guard force || now - lastDrawn > .milliseconds(100) else { return }
        lastDrawn = now
        let fraction = min(Double(bytes) / Double(total), 1)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = max((now - started).inSeconds, 0.001)
        let line = "\r\(bar) \(Int(fraction * 100))%  \(records) records  \(Int(Double(records) / elapsed)) records/s"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
