import Foundation
import Logging
import NIOCore
import RunnelTestSupport
import Testing

@testable import RunnelLog

func buffer(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

func string(_ buffer: ByteBuffer?) -> String? { buffer.map { String(buffer: $0) } }

/// A batch of records `prefix-0`, `prefix-1`, ... with keys `key-<i % keys>` (or null keys when `keys` is 0).
func makeBatch(
    count: Int,
    prefix: String = "value",
    keys: Int = 0,
    valueSize: Int = 0,
    timestamp: Int64 = 1_700_000_000_000,
    compression: CompressionCodec = .none
) throws -> RecordBatch {
    var builder = RecordBatchBuilder(compression: compression)
    for i in 0..<count {
        var value = buffer("\(prefix)-\(i)")
        if valueSize > value.readableBytes {
            value.writeRepeatingByte(UInt8(ascii: "."), count: valueSize - value.readableBytes)
        }
        builder.append(key: keys > 0 ? buffer("key-\(i % keys)") : nil, value: value, timestamp: timestamp + Int64(i))
    }
    return try builder.build()
}

/// One record per entry: `(key, value)`, with `nil` for null.
func makeBatch(_ records: [(String?, String?)], timestamp: Int64 = 1_700_000_000_000) throws -> RecordBatch {
    var builder = RecordBatchBuilder()
    for (key, value) in records {
        builder.append(key: key.map(buffer), value: value.map(buffer), timestamp: timestamp)
    }
    return try builder.build()
}

/// Opens a log manager on `directory` with a manual clock.
func openManager(
    _ directory: TemporaryDirectory,
    clock: ManualLogClock = ManualLogClock(),
    config: LogConfig = LogConfig(),
    configure: (inout LogManager.Configuration) -> Void = { _ in }
) async throws -> LogManager {
    var configuration = LogManager.Configuration(directory: directory.file("logs"))
    configuration.defaultConfig = config
    configuration.clock = clock
    configure(&configuration)
    return try await LogManager.open(configuration, logger: quietLogger)
}

/// Every record of the log, in offset order, read with small fetches so reads cross batches and segments.
func readAll(
    _ log: PartitionLog,
    from start: Int64? = nil,
    to end: Int64? = nil,
    maxBytes: Int = 4096
) async throws -> [Record] {
    var records: [Record] = []
    var offset = start ?? log.logStartOffset
    while offset < (end ?? log.logEndOffset) {
        let result = try await log.read(from: offset, maxBytes: maxBytes)
        let batches = try RecordBatch.split(result.records)
        guard let last = batches.last else { break }
        for batch in batches {
            #expect(batch.isChecksumValid)
            records += try batch.records().filter { $0.offset >= offset && $0.offset < (end ?? .max) }
        }
        offset = last.nextOffset
    }
    return records
}

func topicPartition(_ topic: String = "events", _ partition: Int32 = 0) -> TopicPartition {
    // Test names are valid topic names.
    try! TopicPartition(topic: topic, partition: partition)
}

func bytes(fromHex hex: String) -> [UInt8] {
    let digits = hex.filter { $0.isHexDigit }
    var result: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        result.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return result
}

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}
