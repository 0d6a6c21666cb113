import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time in milliseconds (what record timestamps, retention, segment age and session timeouts are measured
/// in) and sleeping on it (what background services wait with).
///
/// Inject ``ManualWallClock`` in tests so retention, compaction, rolling and timeouts run without waiting.
public protocol WallClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMilliseconds() -> Int64
    /// Suspends for `milliseconds` of this clock's time; throws `CancellationError` when the task is cancelled.
    func sleep(milliseconds: Int64) async throws
}

/// The real clock.
public struct SystemWallClock: WallClock {
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
public final class ManualWallClock: WallClock {
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
