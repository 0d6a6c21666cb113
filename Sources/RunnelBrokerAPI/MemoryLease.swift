import Synchronization

/// Where leased bytes come from and go back to (the embedded broker's fetch memory budget).
public protocol MemoryPool: Sendable {
    /// Counts `bytes` more as held, at once.
    func take(_ bytes: Int)
    /// Counts `bytes` as free again.
    func give(_ bytes: Int)
}

/// Bytes of a ``MemoryPool`` held until ``release()`` (or until the lease is gone): a fetch result carries one so
/// that the bytes stay counted until the front end has sent them.
public final class MemoryLease: Sendable {
    private let budget: any MemoryPool
    private let held: Mutex<Int>

    public init(budget: any MemoryPool, bytes: Int) {
        self.budget = budget
        held = Mutex(bytes)
    }

    public var bytes: Int { held.withLock { $0 } }

    /// Holds `bytes` from now on: less gives the rest back; more is taken at once (the budget may run over by what
    /// one answer needs beyond its reservation, never more).
    public func resize(to bytes: Int) {
        let change = held.withLock { held -> Int in
            let change = max(0, bytes) - held
            held = max(0, bytes)
            return change
        }
        if change < 0 { budget.give(-change) } else if change > 0 { budget.take(change) }
    }

    public func release() { resize(to: 0) }

    deinit {
        let left = held.withLock { $0 }
        if left > 0 { budget.give(left) }
    }
}
