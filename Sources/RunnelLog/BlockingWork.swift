public import NIOPosix

extension NIOThreadPool {
    /// Runs blocking work (file I/O, SQLite) on this pool, off Swift's cooperative threads, and returns its result
    /// with its own typed error; `notRunning` is the error when the pool has shut down.
    public func run<T: Sendable, Failure: Error>(
        _ body: @escaping @Sendable () throws(Failure) -> T,
        notRunning: (any Error) -> Failure
    ) async throws(Failure) -> T {
        let result: Result<T, Failure>
        do {
            result = try await runIfActive { Result { () throws(Failure) in try body() } }
        } catch {
            throw notRunning(error)
        }
        return try result.get()
    }
}
