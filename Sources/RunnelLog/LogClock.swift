import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time source of the log engine: wall-clock milliseconds (what record timestamps, retention and segment age
/// are measured in) and sleeping (what background services wait with).
///
/// Inject ``ManualLogClock`` in tests so retention, compaction and rolling run without waiting.
public protocol LogClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMilliseconds() -> Int64
    /// Suspends for `milliseconds` of this clock's time; throws `CancellationError` when the task is cancelled.
    func sleep(milliseconds: Int64) async throws
}

/// The real clock.
public struct SystemLogClock: LogClock {
    public init() {}

    public func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    public func sleep(milliseconds: Int64) async throws {
        try await Task.sleep(for: .milliseconds(milliseconds))
    }
}

/// A clock that moves only when told to; sleepers wake when ``advance(by:)`` passes their deadline.
public final class ManualLogClock: LogClock {
    private struct Sleeper {
        let id: UInt64
        let deadline: Int64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Int64
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    private let state: Mutex<State>

    public init(startingAt milliseconds: Int64 = 1_700_000_000_000) {
        state = Mutex(State(now: milliseconds))
    }

    public func nowMilliseconds() -> Int64 { state.withLock { $0.now } }

    /// The number of tasks sleeping on this clock (tests wait for services to reach their sleep).
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves time forward and wakes the sleepers whose deadline has passed.
    public func advance(by milliseconds: Int64) {
        let woken = state.withLock { state -> [Sleeper] in
            state.now += milliseconds
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    public func sleep(milliseconds: Int64) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Decision { case wait, resume, cancel }
                let decision = state.withLock { state -> Decision in
                    // Checked under the lock: a cancellation handler that ran before the append below has already
                    // set the flag, and one that runs after it finds the sleeper.
                    if Task.isCancelled { return .cancel }
                    if milliseconds <= 0 { return .resume }
                    state.sleepers.append(
                        Sleeper(id: id, deadline: state.now + milliseconds, continuation: continuation)
                    )
                    return .wait
                }
                switch decision {
                case .wait: break
                case .resume: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// A server-wide durability choice; it sets the default `flush.messages` / `flush.ms` of every log.
public enum FlushPolicy: Sendable, Hashable {
    /// fsync before acknowledging every append (`flush.messages=1`); concurrent appends share one fsync.
    case everyAppend
    /// fsync every `milliseconds` (`flush.ms`); an acknowledged append may be lost on power failure, not on a crash.
    case interval(milliseconds: Int64)
    /// Never force an fsync; the operating system writes data back (Kafka's default, which relies on replication).
    case operatingSystem

    /// The config with this policy's `flush.messages` and `flush.ms`.
    public func applied(to config: LogConfig) -> LogConfig {
        var config = config
        switch self {
        case .everyAppend:
            config.flushMessages = 1
            config.flushMs = .max
        case .interval(let milliseconds):
            config.flushMessages = .max
            config.flushMs = milliseconds
        case .operatingSystem:
            config.flushMessages = .max
            config.flushMs = .max
        }
        return config
    }
}
