public import RunnelBrokerAPI
import Synchronization

/// The bytes of fetched records that front ends hold at once, from the fetch until the answer has been sent: one
/// budget shared by the REST proxy, the connect worker and any other front end, so a burst of large reads waits its
/// turn (or is refused) instead of growing the process without bound.
///
/// A reservation larger than the whole budget is cut to it (the caller then reads less); one that cannot be had
/// within its wait fails with THROTTLING_QUOTA_EXCEEDED (429 over HTTP). Waiters are served in order.
public final class MemoryBudget: MemoryPool {
    public let limit: Int

    private struct Waiter {
        let id: UInt64
        let bytes: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextId: UInt64 = 0
        /// Reservations that will wait but have not queued yet, and those of them withdrawn meanwhile.
        var arriving: Set<UInt64> = []
        var withdrawn: Set<UInt64> = []
    }

    private let state: Mutex<State>

    public init(limit: Int) {
        self.limit = max(1, limit)
        state = Mutex(State(available: max(1, limit)))
    }

    /// Bytes reserved now (for metrics and tests).
    public var reserved: Int { state.withLock { limit - $0.available } }

    /// Reserves up to `bytes` (at most ``limit``), waiting up to `wait` for them; the lease gives them back.
    public func reserve(_ bytes: Int, waitingAtMost wait: Duration) async throws(BrokerError) -> MemoryLease {
        let wanted = min(max(bytes, 0), limit)
        let (granted, id) = state.withLock { state -> (Bool, UInt64) in
            state.nextId += 1
            if state.waiters.isEmpty && state.available >= wanted {
                state.available -= wanted
                return (true, state.nextId)
            }
            state.arriving.insert(state.nextId)
            return (false, state.nextId)
        }
        if granted { return MemoryLease(budget: self, bytes: wanted) }
        let obtained = await withTaskGroup(of: Bool?.self) { group -> Bool in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        self.enqueue(Waiter(id: id, bytes: wanted, continuation: continuation))
                    }
                } onCancel: {
                    self.withdraw(id)
                }
            }
            group.addTask {
                try? await Task.sleep(for: wait)
                self.withdraw(id)
                return nil
            }
            var result = false
            while let next = await group.next() {
                if let next {
                    result = next
                    break
                }
            }
            group.cancelAll()
            return result
        }
        guard obtained else {
            throw BrokerError(
                .throttlingQuotaExceeded,
                "The server is busy sending other large answers: retry shortly, or ask for fewer bytes (max_bytes)"
            )
        }
        return MemoryLease(budget: self, bytes: wanted)
    }

    private func enqueue(_ waiter: Waiter) {
        let queued = state.withLock { state -> Bool in
            state.arriving.remove(waiter.id)
            // Withdrawn before it could queue (timed out or cancelled at once): answer no.
            if state.withdrawn.remove(waiter.id) != nil { return false }
            state.waiters.append(waiter)
            return true
        }
        if !queued { waiter.continuation.resume(returning: false) }
        grantWaiting()
    }

    /// Takes a waiter out of the queue and tells it no; nothing when it was already served.
    private func withdraw(_ id: UInt64) {
        let removed = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                if state.arriving.contains(id) { state.withdrawn.insert(id) }
                return nil
            }
            return state.waiters.remove(at: index)
        }
        removed?.continuation.resume(returning: false)
        grantWaiting()
    }

    public func give(_ bytes: Int) {
        state.withLock { $0.available += bytes }
        grantWaiting()
    }

    /// Takes more for a lease without waiting (the answer turned out larger than its records).
    public func take(_ bytes: Int) {
        state.withLock { $0.available -= bytes }
    }

    /// Serves the waiters at the head of the queue that fit.
    private func grantWaiting() {
        let served = state.withLock { state -> [Waiter] in
            var served: [Waiter] = []
            while let first = state.waiters.first, state.available >= first.bytes {
                state.available -= first.bytes
                served.append(state.waiters.removeFirst())
            }
            return served
        }
        for waiter in served { waiter.continuation.resume(returning: true) }
    }
}
