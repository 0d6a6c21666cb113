import Logging
public import RunnelRecords
public import ServiceLifecycle
import Synchronization

extension LogManager {
    /// Flushes every log whose `flush.ms` has passed (one pass of the flush service).
    public func flushDueLogs() async {
        let now = clock.nowMilliseconds()
        for log in logs where log.needsTimedFlush(nowMs: now) {
            do {
                try await log.flush()
            } catch {
                logger.error(
                    "Timed flush failed",
                    metadata: ["topicPartition": "\(log.topicPartition)", "error": "\(error)"]
                )
            }
        }
    }

    /// Applies retention to every log (one pass of the retention service); returns the number of deleted segments.
    @discardableResult
    public func applyRetention() async -> Int {
        var deleted = 0
        for log in logs {
            do {
                deleted += try await log.applyRetention()
            } catch {
                logger.error(
                    "Retention failed",
                    metadata: ["topicPartition": "\(log.topicPartition)", "error": "\(error)"]
                )
            }
        }
        return deleted
    }

    /// Compacts the dirtiest compacted log whose dirty ratio exceeds `min.cleanable.dirty.ratio` (or whose
    /// `max.compaction.lag.ms` has passed). Returns whether a log was compacted.
    @discardableResult
    public func compactDirtiestLog() async throws(LogError) -> Bool {
        let cleaner = LogCleaner(dedupeBufferBytes: configuration.cleanerDedupeBufferBytes)
        let now = clock.nowMilliseconds()
        let logs = self.logs
        let candidate = try await io.run { () throws(LogError) -> PartitionLog? in
            var best: (log: PartitionLog, ratio: Double)?
            for log in logs {
                guard let dirtiness = try cleaner.dirtiness(of: log, nowMs: now),
                    cleaner.isCleanable(dirtiness, config: log.config)
                else { continue }
                let ratio = dirtiness.compactionOverdue ? 2 : dirtiness.ratio
                if ratio > (best?.ratio ?? -1) { best = (log, ratio) }
            }
            return best?.log
        }
        guard let candidate else { return false }
        return try await compact(candidate.topicPartition)
    }

    /// Compacts one log if it needs it (`force`: whatever its dirty ratio). Returns whether it was compacted.
    @discardableResult
    public func compact(_ topicPartition: TopicPartition, force: Bool = false) async throws(LogError) -> Bool {
        guard let log = log(for: topicPartition) else { throw LogError(.unknownLog, "no log for \(topicPartition)") }
        let cleaner = LogCleaner(dedupeBufferBytes: configuration.cleanerDedupeBufferBytes)
        let now = clock.nowMilliseconds()
        return try await io.run { () throws(LogError) -> Bool in
            try cleaner.cleanIfNeeded(log, nowMs: now, force: force) != nil
        }
    }
}

/// Runs `pass` every `intervalMs` of the manager's clock until graceful shutdown.
private func runPeriodically(
    _ manager: LogManager,
    intervalMs: Int64,
    _ pass: @escaping @Sendable () async -> Void
) async {
    do {
        try await cancelWhenGracefulShutdown {
            while true {
                try await manager.clock.sleep(milliseconds: intervalMs)
                await pass()
            }
        }
    } catch {
        // Cancelled: graceful shutdown.
    }
}

/// Flushes logs when their `flush.ms` passes and writes the recovery-point checkpoints every
/// `checkpointIntervalMs` (Kafka's log flusher and recovery-point checkpointer).
public struct LogFlushService: Service, CustomStringConvertible {
    let manager: LogManager
    public var description: String { "LogFlushService" }

    public init(manager: LogManager) {
        self.manager = manager
    }

    public func run() async throws {
        let manager = self.manager
        let tick = max(1, manager.configuration.flushCheckIntervalMs)
        let checkpointEvery = max(1, manager.configuration.checkpointIntervalMs / tick)
        let ticks = TickCounter()
        await runPeriodically(manager, intervalMs: tick) {
            await manager.flushDueLogs()
            if ticks.next() % checkpointEvery == 0 {
                do {
                    try await manager.checkpoint()
                } catch {
                    manager.logger.error("Writing checkpoints failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Deletes segments past `retention.ms` / `retention.bytes` every `retentionCheckIntervalMs`.
public struct LogRetentionService: Service, CustomStringConvertible {
    let manager: LogManager
    public var description: String { "LogRetentionService" }

    public init(manager: LogManager) {
        self.manager = manager
    }

    public func run() async throws {
        let manager = self.manager
        await runPeriodically(manager, intervalMs: manager.configuration.retentionCheckIntervalMs) {
            await manager.applyRetention()
        }
    }
}

/// Compacts the dirtiest compacted log, one after another, sleeping `cleanerBackoffMs` when none needs it.
public struct LogCleanerService: Service, CustomStringConvertible {
    let manager: LogManager
    public var description: String { "LogCleanerService" }

    public init(manager: LogManager) {
        self.manager = manager
    }

    public func run() async throws {
        let manager = self.manager
        let backoff = manager.configuration.cleanerBackoffMs
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    var cleaned = false
                    do {
                        cleaned = try await manager.compactDirtiestLog()
                    } catch {
                        manager.logger.error("Compaction failed", metadata: ["error": "\(error)"])
                    }
                    if !cleaned { try await manager.clock.sleep(milliseconds: backoff) }
                    try Task.checkCancellation()
                }
            }
        } catch {
            // Cancelled: graceful shutdown.
        }
    }
}

/// A counter shared with a `@Sendable` closure.
private final class TickCounter: Sendable {
    private let value = Mutex<Int64>(0)
    func next() -> Int64 {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
