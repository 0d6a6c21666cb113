import Logging
import NIOPosix
import RunnelRecords

/// What the logs of one manager share: the threads that do their blocking file I/O, the cache of open segment files,
/// the clock and the logger.
///
/// Every `fsync`, `pread` and `pwrite` of the engine runs on `pool`, never on Swift's cooperative thread pool.
final class LogIO: Sendable {
    let pool: NIOThreadPool
    let handles: FileHandleCache
    let clock: any WallClock
    let logger: Logger

    let descriptors: DescriptorBudget

    init(threads: Int, maxOpenFiles: Int, descriptors: DescriptorBudget, clock: any WallClock, logger: Logger) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        self.descriptors = descriptors
        handles = FileHandleCache(capacity: maxOpenFiles, descriptors: descriptors)
        self.clock = clock
        self.logger = logger
    }

    /// Runs blocking work on an I/O thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(LogError) -> T) async throws(LogError) -> T {
        try await pool.run(body) { _ in LogError(.logClosed, "the log engine has shut down") }
    }

    /// Starts blocking work on an I/O thread without waiting; `body` learns whether the pool still runs.
    func submit(_ body: @escaping @Sendable (_ isActive: Bool) -> Void) {
        pool.submit { state in
            if case .active = state { body(true) } else { body(false) }
        }
    }

    func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
