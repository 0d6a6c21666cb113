import Foundation
import Logging
import NIOCore
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

/// Opens a log manager on `directory` with a manual clock.
func openManager(
    _ directory: TemporaryDirectory,
    clock: ManualWallClock = ManualWallClock(),
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
