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
