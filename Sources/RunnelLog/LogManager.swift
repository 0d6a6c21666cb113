public import Logging
public import RunnelRecords
import Synchronization

/// All partition logs under one directory (`<data-dir>/logs`), with Kafka's per-directory files:
/// `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`, `cleaner-offset-checkpoint` and the
/// `.kafka_cleanshutdown` marker.
///
/// ```swift
/// let manager = try await LogManager.open(.init(directory: "runnel-data/logs"), logger: logger)
/// let log = try await manager.createLog(TopicPartition(topic: "orders", partition: 0))
/// let result = try await log.append(batch)
/// try await manager.close()
/// ```
public final class LogManager: Sendable {
    public struct Configuration: Sendable {
        /// The directory holding the `<topic>-<partition>` directories.
        public var directory: String
        /// The config of logs created without one, and of loaded logs until the broker applies theirs.
        public var defaultConfig = LogConfig()
        /// Threads for blocking file I/O (fsync, reads, writes); they mostly wait on the disk.
        public var ioThreads = 4
        /// The most sealed-segment files kept open at once.
        public var maxOpenSegmentFiles = 1024
        /// The process's descriptors: each log holds one (its active segment's file) for as long as it exists, and
        /// a log that cannot have one is not created (nor, at start, loaded).
        public var descriptors = DescriptorBudget.unlimited
        /// How often timed flushes (`flush.ms`) are checked (Kafka's `log.flush.scheduler.interval.ms`).
        public var flushCheckIntervalMs: Int64 = 100
        /// How often recovery points are checkpointed (`log.flush.offset.checkpoint.interval.ms`).
        public var checkpointIntervalMs: Int64 = 60_000
        /// How often retention runs (`log.retention.check.interval.ms`).
        public var retentionCheckIntervalMs: Int64 = 300_000
        /// How long the cleaner sleeps when no log needs compaction (`log.cleaner.backoff.ms`).
        public var cleanerBackoffMs: Int64 = 15_000
        /// Memory for the cleaner's key map (`log.cleaner.dedupe.buffer.size`).
        public var cleanerDedupeBufferBytes = 128 << 20
        public var clock: any WallClock = SystemWallClock()

        public init(directory: String) {
            self.directory = directory
        }
    }

    static let recoveryPointFile = "recovery-point-offset-checkpoint"
    static let logStartFile = "log-start-offset-checkpoint"
    static let cleanerFile = "cleaner-offset-checkpoint"
    static let cleanShutdownFile = ".kafka_cleanshutdown"

    public let configuration: Configuration
    let io: LogIO
    private let state: Mutex<State>
    /// Serialises checkpoint writes (taken on I/O threads only).
    private let checkpointLock = Mutex(())

    private struct State {
        var logs: [TopicPartition: PartitionLog] = [:]
        /// Logs being created or deleted.
        var busy: Set<TopicPartition> = []
        var closed = false
    }

    /// What opening the directory found.
    public struct OpenReport: Sendable {
        public var logs = 0
        public var cleanShutdown = false
        public var recoveredSegments = 0
        public var scannedBytes = 0
        public var truncatedBytes = 0
    }

    /// The report of the last ``open(_:logger:configForTopic:)``.
    public let openReport: OpenReport

    private init(configuration: Configuration, io: LogIO, logs: [TopicPartition: PartitionLog], report: OpenReport) {
        self.configuration = configuration
        self.io = io
        self.state = Mutex(State(logs: logs))
        self.openReport = report
    }

    public var clock: any WallClock { configuration.clock }
    public var logger: Logger { io.logger }

    /// Opens (creating if needed) a logs directory and loads every log in it, recovering logs if the previous
    /// process did not shut down cleanly.
    ///
    /// - Parameter configForTopic: the config of a topic's logs, if it differs from the default.
    public static func open(
        _ configuration: Configuration,
        logger: Logger,
        configForTopic: @escaping @Sendable (String) -> LogConfig? = { _ in nil }
    ) async throws(LogError) -> LogManager {
        let io = LogIO(
            threads: configuration.ioThreads,
            maxOpenFiles: configuration.maxOpenSegmentFiles,
            descriptors: configuration.descriptors,
            clock: configuration.clock,
            logger: logger
        )
        let directory = configuration.directory
        var acquiredPartitions = 0
        do {
            let (entries, cleanShutdown, recoveryPoints, logStarts, cleanerOffsets) = try await io.run {
                () throws(LogError) in
                try FileSystem.createDirectories(directory)
                let cleanShutdown = FileSystem.fileExists(directory + "/" + cleanShutdownFile)
                let recoveryPoints = readCheckpoint(directory + "/" + recoveryPointFile, io: io)
                let logStarts = readCheckpoint(directory + "/" + logStartFile, io: io)
                let cleanerOffsets = readCheckpoint(directory + "/" + cleanerFile, io: io)
                var entries: [(TopicPartition, String)] = []
                for name in try FileSystem.listDirectory(directory).sorted() {
                    let path = directory + "/" + name
                    guard FileSystem.isDirectory(path) else { continue }
                    if name.hasSuffix("-delete") {
                        // A deletion that did not finish before the process stopped.
                        try FileSystem.removeTree(path)
                        continue
                    }
                    guard let topicPartition = try? TopicPartition(directoryName: name) else {
                        io.logger.warning("Ignoring a directory that is not a log", metadata: ["directory": "\(path)"])
                        continue
                    }
                    entries.append((topicPartition, path))
                }
                return (entries, cleanShutdown, recoveryPoints, logStarts, cleanerOffsets)
            }
            if !cleanShutdown && !entries.isEmpty && recoveryPoints == nil {
                logger.warning(
                    "No recovery point checkpoint: every segment of every log will be re-validated",
                    metadata: ["directory": "\(directory)"]
                )
            }

            guard configuration.descriptors.acquirePartitions(entries.count) else {
                throw LogError(
                    .tooManyOpenFiles,
                    "\(entries.count) partition logs need \(entries.count) open files, more than the process's open-file limit of \(configuration.descriptors.limit) leaves room for: raise it (ulimit -n, or LimitNOFILE for a service) and start again"
                )
            }
            acquiredPartitions = entries.count
            var report = OpenReport()
            report.cleanShutdown = cleanShutdown
            var logs: [TopicPartition: PartitionLog] = [:]
            // One load per I/O thread at a time: recovery is disk-bound.
            try await withThrowingTaskGroup(of: (PartitionLog, PartitionLog.LoadReport).self) { group in
                for (topicPartition, path) in entries {
                    let config = configForTopic(topicPartition.topic) ?? configuration.defaultConfig
                    let options = PartitionLog.LoadOptions(
                        recoveryPoint: recoveryPoints?[topicPartition],
                        logStartOffset: logStarts?[topicPartition],
                        cleanerCheckpoint: cleanerOffsets?[topicPartition],
                        cleanShutdown: cleanShutdown
                    )
                    group.addTask {
                        try await io.run { () throws(LogError) in
                            try PartitionLog.load(
                                topicPartition: topicPartition,
                                directory: path,
                                config: config,
                                io: io,
                                options: options
                            )
                        }
                    }
                }
                for try await (log, loadReport) in group {
                    logs[log.topicPartition] = log
                    report.recoveredSegments += loadReport.recoveredSegments
                    report.scannedBytes += loadReport.scannedBytes
                    report.truncatedBytes += loadReport.truncatedBytes
                }
            }
            report.logs = logs.count

            // From here on a crash must be detected: remove the marker before accepting writes.
            try await io.run { () throws(LogError) in
                let marker = directory + "/" + cleanShutdownFile
                if FileSystem.fileExists(marker) {
                    try FileSystem.removeFile(marker)
                    try FileSystem.syncDirectory(directory)
                }
            }
            logger.info(
                "Loaded logs",
                metadata: [
                    "directory": "\(directory)", "logs": "\(report.logs)", "cleanShutdown": "\(cleanShutdown)",
                    "recoveredSegments": "\(report.recoveredSegments)", "scannedBytes": "\(report.scannedBytes)",
                    "truncatedBytes": "\(report.truncatedBytes)",
                ]
            )
            return LogManager(configuration: configuration, io: io, logs: logs, report: report)
        } catch {
            await io.shutdown()
            configuration.descriptors.releasePartitions(acquiredPartitions)
            if let error = error as? LogError { throw error }
            throw LogError(.storage, "opening \(directory) failed: \(error)")
        }
    }

    /// A checkpoint file's offsets; an unreadable file is logged and treated as missing, which makes recovery
    /// re-validate more, never less.
    private static func readCheckpoint(_ path: String, io: LogIO) -> [TopicPartition: Int64]? {
        do {
            return try CheckpointFile.readOffsets(path)
        } catch {
            io.logger.warning(
                "Ignoring unreadable checkpoint file",
                metadata: ["file": "\(path)", "error": "\(error)"]
            )
            return nil
        }
    }

    // MARK: - Logs

    public func log(for topicPartition: TopicPartition) -> PartitionLog? {
        state.withLock { $0.logs[topicPartition] }
    }

    /// Every open log, ordered by topic and partition.
    public var logs: [PartitionLog] {
        state.withLock { Array($0.logs.values) }.sorted { $0.topicPartition < $1.topicPartition }
    }

    /// Appends batches to several of this manager's logs with one hand-off to the I/O threads (see
    /// ``PartitionLog/append(_:)-([RecordBatch])`` for what each append does). Results are in request order; one
    /// log's failure does not affect the others.
    ///
    /// - Parameter checkRecords: whether every batch's CRC and records are checked (see `PartitionLog`); false
    ///   only for batches the caller encoded itself from records it had checked.
    public func append(
        _ requests: [(log: PartitionLog, batches: [RecordBatch])],
        checkRecords: Bool = true
    ) async -> [Result<AppendResult, LogError>] {
        await PartitionLog.append(requests, io: io, checkRecords: checkRecords)
    }

    /// Creates an empty log.
    public func createLog(
        _ topicPartition: TopicPartition,
        config: LogConfig? = nil
    ) async throws(LogError)
        -> PartitionLog
    {
        try state.withLock { state throws(LogError) in
            guard !state.closed else { throw LogError(.logClosed, "the log manager is closed") }
            guard state.logs[topicPartition] == nil, !state.busy.contains(topicPartition) else {
                throw LogError(.logAlreadyExists, "a log for \(topicPartition) already exists")
            }
            state.busy.insert(topicPartition)
        }
        guard io.descriptors.acquirePartitions(1) else {
            _ = state.withLock { $0.busy.remove(topicPartition) }
            throw LogError(
                .tooManyOpenFiles,
                "this server cannot hold another partition: each needs an open file, and its open-file limit (\(io.descriptors.limit)) leaves no room; delete topics or raise the limit"
            )
        }
        let path = configuration.directory + "/" + topicPartition.directoryName
        let config = config ?? configuration.defaultConfig
        do {
            let log = try await io.run { () throws(LogError) -> PartitionLog in
                guard !FileSystem.fileExists(path) else {
                    throw LogError(.logAlreadyExists, "\(path) already exists")
                }
                return try PartitionLog.create(
                    topicPartition: topicPartition,
                    directory: path,
                    config: config,
                    io: self.io
                )
            }
            state.withLock {
                $0.logs[topicPartition] = log
                $0.busy.remove(topicPartition)
            }
            return log
        } catch {
            _ = state.withLock { $0.busy.remove(topicPartition) }
            io.descriptors.releasePartitions(1)
            throw error
        }
    }

    /// Deletes a log: it stops taking appends, its directory is renamed to `<topic>-<partition>.<id>-delete` (so a
    /// crash can never bring it back), then removed.
    public func deleteLog(_ topicPartition: TopicPartition) async throws(LogError) {
        let log = try state.withLock { state throws(LogError) -> PartitionLog in
            guard let log = state.logs[topicPartition], !state.busy.contains(topicPartition) else {
                throw LogError(.unknownLog, "no log for \(topicPartition)")
            }
            state.busy.insert(topicPartition)
            return log
        }
        await log.stop()
        defer { _ = state.withLock { $0.busy.remove(topicPartition) } }
        let directory = configuration.directory
        let doomed = try await io.run { () throws(LogError) -> String in
            try log.maintenance.withLock { _ throws(LogError) -> String in
                self.io.handles.evictDirectory(log.directory)
                let id =
                    String(UInt64.random(in: .min ... .max), radix: 16)
                    + String(UInt64.random(in: .min ... .max), radix: 16)
                let doomed = "\(log.directory).\(id)-delete"
                try FileSystem.move(log.directory, to: doomed)
                try FileSystem.syncDirectory(directory)
                return doomed
            }
        }
        state.withLock { _ = $0.logs.removeValue(forKey: topicPartition) }
        io.descriptors.releasePartitions(1)
        io.submit { _ in
            do {
                try FileSystem.removeTree(doomed)
            } catch {
                self.io.logger.warning(
                    "Removing a deleted log failed",
                    metadata: ["directory": "\(doomed)", "error": "\(error)"]
                )
            }
        }
        io.logger.info("Deleted log", metadata: ["topicPartition": "\(topicPartition)"])
    }

    // MARK: - Checkpoints

    /// Writes the recovery point, log start and cleaner checkpoints of every log (and changed leader-epoch files).
    ///
    /// Logs whose data is fsynced past their recovery point have their index entries persisted first, so the new
    /// recovery point covers data and indexes.
    public func checkpoint() async throws(LogError) {
        let logs = self.logs
        try await io.run { () throws(LogError) in
            for log in logs {
                let (flushed, recoveryPoint) = log.state.withLock { ($0.flushedOffset, $0.recoveryPoint) }
                if flushed > recoveryPoint { try log.flushBlocking() }
            }
            try self.writeCheckpoints(logs)
        }
    }

    private func writeCheckpoints(_ logs: [PartitionLog]) throws(LogError) {
        try checkpointLock.withLock { _ throws(LogError) in
            var recoveryPoints: [TopicPartition: Int64] = [:]
            var logStarts: [TopicPartition: Int64] = [:]
            var cleanerOffsets: [TopicPartition: Int64] = [:]
            for log in logs {
                let (recoveryPoint, logStart, cleaner, epochs) = log.state.withLock {
                    ($0.recoveryPoint, $0.logStartOffset, $0.cleanerCheckpoint, $0.leaderEpochs)
                }
                recoveryPoints[log.topicPartition] = recoveryPoint
                logStarts[log.topicPartition] = logStart
                if let cleaner { cleanerOffsets[log.topicPartition] = cleaner }
                if epochs.isDirty {
                    var written = epochs
                    try written.write(directory: log.directory)
                    log.state.withLock { state in
                        if state.leaderEpochs == epochs { state.leaderEpochs.isDirty = false }
                    }
                }
            }
            let directory = configuration.directory
            try CheckpointFile.writeOffsets(directory + "/" + LogManager.recoveryPointFile, recoveryPoints)
            try CheckpointFile.writeOffsets(directory + "/" + LogManager.logStartFile, logStarts)
            try CheckpointFile.writeOffsets(directory + "/" + LogManager.cleanerFile, cleanerOffsets)
        }
    }

    /// Stops the I/O threads without flushing, checkpointing or writing the clean-shutdown marker: what a crash
    /// leaves behind, for recovery tests in this process.
    func stopWithoutShutdown() async {
        state.withLock { $0.closed = true }
        for log in logs { await log.stop() }
        await io.shutdown()
    }

    /// Shuts down cleanly: every log finishes its queued appends and is flushed with complete indexes, the
    /// checkpoints are written, then the clean-shutdown marker, so the next start skips recovery.
    public func close() async throws(LogError) {
        let logs = state.withLock { state -> [PartitionLog] in
            state.closed = true
            return Array(state.logs.values)
        }
        var failure: LogError?
        for log in logs {
            do {
                try await log.close()
            } catch {
                failure = failure ?? error
                io.logger.error(
                    "Closing a log failed",
                    metadata: ["topicPartition": "\(log.topicPartition)", "error": "\(error)"]
                )
            }
        }
        let directory = configuration.directory
        let allClosed = failure == nil
        do {
            try await io.run { () throws(LogError) in
                try self.writeCheckpoints(logs)
                // A failed log must be recovered next time: no marker.
                if allClosed {
                    try FileSystem.writeAtomically(
                        directory + "/" + LogManager.cleanShutdownFile,
                        contents: "{\"version\":0,\"brokerEpoch\":-1}"
                    )
                }
            }
        } catch {
            failure = failure ?? error
        }
        // A closed manager keeps no file open.
        state.withLock { $0.logs = [:] }
        io.descriptors.releasePartitions(logs.count)
        io.handles.evictAll()
        await io.shutdown()
        if let failure { throw failure }
    }
}
