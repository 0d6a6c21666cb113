import ArgumentParser
import Foundation
import NIOCore
import RunnelLog
import RunnelRecords

/// `runnel dump-log`: prints the batches and records of segment files, like Kafka's `kafka-dump-log.sh`.
struct DumpLog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-log",
        abstract: "Print the record batches (and records) of Kafka-format segment files.",
        discussion: """
            Reads .log segments written by Runnel or any Kafka implementation (RecordBatch v2, uncompressed or gzip), \
            and .index / .timeindex files. Each batch line shows base and last offset, record count, CRC validity, \
            compression and timestamps, as kafka-dump-log.sh does. Exits with status 1 on a corrupt or truncated file, \
            after printing the valid batches before the damage.
            """
    )

    @Flag(name: .long, help: "Print each record (key, value, headers), not only the batches.")
    var printData = false

    @Flag(name: .long, help: "Print one JSON object per record: offset, timestamp, key, value, headers.")
    var json = false

    @Argument(help: "Segment files (.log, .index or .timeindex).")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            do {
                if file.hasSuffix(".index") || file.hasSuffix(".timeindex") {
                    try dumpIndex(file)
                } else {
                    try dumpSegment(file)
                }
            } catch {
                FileHandle.standardError.write(Data("runnel dump-log: \(file): \(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }

    private func dumpSegment(_ path: String) throws {
        var reader = try SegmentFileReader(path: path)
        if !json {
            print("Dumping \(path)")
            if let base = reader.baseOffset { print("Log starting offset: \(base)") }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var invalidBatches: [Int64] = []
        while let entry = try reader.next() {
            let batch: RecordBatch
            switch entry {
            case .batch(let position, let value):
                batch = value
                if !json { print(describe(batch, position: position)) }
            case .damaged(let position, let reason):
                throw DumpError("corrupt data at position \(position): \(reason)")
            }
            guard batch.isChecksumValid else {
                // Its records may be garbage: report the batch, do not decode it.
                invalidBatches.append(batch.baseOffset)
                continue
            }
            guard json || printData else { continue }
            let records: [Record]
            do {
                records = try batch.records()
            } catch {
                throw DumpError("batch at offset \(batch.baseOffset): \(error.message)")
            }
            for record in records {
                if json {
                    print(String(decoding: try encoder.encode(JSONRecord(record)), as: UTF8.self))
                } else {
                    print(describe(record, in: batch))
                }
            }
        }
        if !invalidBatches.isEmpty {
            let offsets = invalidBatches.map(String.init).joined(separator: ", ")
            throw DumpError("\(invalidBatches.count) batch(es) fail their CRC check (base offsets \(offsets))")
        }
    }

    private func describe(_ batch: RecordBatch, position: Int) -> String {
        let header = batch.header
        let lastSequence = batch.baseSequence < 0 ? -1 : Int64(batch.baseSequence) + Int64(batch.lastOffsetDelta)
        let horizon = header.hasDeleteHorizon ? "OptionalLong[\(batch.baseTimestamp)]" : "OptionalLong.empty"
        let codec = header.compression.map(\.name) ?? "invalid(\(batch.attributes & 7))"
        return "baseOffset: \(batch.baseOffset) lastOffset: \(batch.lastOffset) count: \(batch.recordCount) "
            + "baseSequence: \(batch.baseSequence) lastSequence: \(lastSequence) producerId: \(batch.producerId) "
            + "producerEpoch: \(batch.producerEpoch) partitionLeaderEpoch: \(batch.partitionLeaderEpoch) "
            + "isTransactional: \(header.isTransactional) isControl: \(header.isControl) deleteHorizonMs: \(horizon) "
            + "position: \(position) \(header.timestampType): \(batch.maxTimestamp) size: \(batch.sizeInBytes) "
            + "magic: \(batch.magic) compresscodec: \(codec) crcValid: \(batch.isChecksumValid)"
    }

    private func describe(_ record: Record, in batch: RecordBatch) -> String {
        let sequence = batch.baseSequence < 0 ? -1 : Int64(batch.baseSequence) + Int64(record.offsetDelta)
        var line = "| offset: \(record.offset) \(batch.header.timestampType): \(record.timestamp) "
        line += "keySize: \(record.key?.readableBytes ?? -1) valueSize: \(record.value?.readableBytes ?? -1) "
        line += "sequence: \(sequence) headerKeys: [\(record.headers.map(\.key).joined(separator: ","))]"
        if let key = record.key { line += " key: \(String(buffer: key))" }
        if let value = record.value { line += " payload: \(String(buffer: value))" }
        return line
    }

    private func dumpIndex(_ path: String) throws {
        let entries = try IndexFileEntries.read(path: path)
        if !json { print("Dumping \(path)") }
        switch entries {
        case .offsets(let entries):
            for entry in entries { print("offset: \(entry.offset) position: \(entry.position)") }
        case .timestamps(let entries):
            for entry in entries { print("timestamp: \(entry.timestamp) offset: \(entry.offset)") }
        }
    }
}

struct DumpError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The JSON shape of one record in `dump-log --json`.
struct JSONRecord: Encodable {
    var offset: Int64
    var timestamp: Int64
    var key: String?
    var value: String?
    var headers: [String: String?]

    init(_ record: Record) {
        offset = record.offset
        timestamp = record.timestamp
        key = record.key.map { String(buffer: $0) }
        value = record.value.map { String(buffer: $0) }
        var headers: [String: String?] = [:]
        for header in record.headers { headers[header.key] = .some(header.value.map { String(buffer: $0) }) }
        self.headers = headers
    }

    enum CodingKeys: String, CodingKey {
        case offset, timestamp, key, value, headers
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(offset, forKey: .offset)
        try container.encode(timestamp, forKey: .timestamp)
        try container.encode(key, forKey: .key)
        try container.encode(value, forKey: .value)
        try container.encode(headers, forKey: .headers)
    }
}
