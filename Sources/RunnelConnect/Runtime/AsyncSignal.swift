import Synchronization

/// A wake-up with memory: ``notify()`` wakes the waiter, or the next one if nobody waits now. Waiting ends early
/// when the waiting task is cancelled.
final class AsyncSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextId: UInt64 = 0
    }

    private let state = Mutex(State())

    func notify() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.pending = true
            return nil
        }
        continuation?.resume()
    }

    /// Returns once notified (consuming the notification) or cancelled.
    func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    // A cancelled waiter leaves a later notification for the next one.
                    if Task.isCancelled { return true }
                    let previous = state.waiter
                    state.waiter = (id, continuation)
                    previous?.continuation.resume()
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            continuation?.resume()
        }
    }
}

/// Sleeps, returning false when cancelled.
func pause(milliseconds: Int64) async -> Bool {
    do {
        try await Task.sleep(for: .milliseconds(milliseconds))
        return true
    } catch {
        return false
    }
}

/// Runs `body` to completion even if the calling task is cancelled (a commit that must not be cut in half).
func shielded<T: Sendable>(
    _ body: @escaping @Sendable () async throws(ConnectError) -> T
) async throws(ConnectError) -> T {
    let result = await Task { () async -> Result<T, ConnectError> in
        do {
            let value = try await body()
            return .success(value)
        } catch {
            return .failure(ConnectError.wrapping(error))
        }
    }.value
    return try result.get()
}

/// Waits until cancelled.
func waitForCancellation() async {
    let signal = AsyncSignal()
    await signal.wait()
}
