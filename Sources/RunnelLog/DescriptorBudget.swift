import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
import RunnelRecords
#endif

/// The process's file descriptors, shared out so the process never runs out of them: running out is not an error a
/// server can answer well (on Linux the Swift runtime's thread pool reads `/proc` files, and stops the process when
/// it cannot open one).
///
/// From the open-file limit (`RLIMIT_NOFILE`, whose soft value ``raiseProcessLimit()`` lifts to the hard one) it
/// keeps ``headroom`` aside for short-lived files nobody counts: checkpoints, the SQLite catalogs and their journals,
/// connectors' files, files opened for one read. The rest is handed out as:
///
/// - **firm** descriptors, held until given back: one per partition (its active segment's log file) and one per
///   client connection. A request that does not fit is refused: a topic is not created, a connection gets 503.
/// - **cached** descriptors, the sealed-segment files kept open for reads, which take only what firm users leave and
///   give it back first (the cache shrinks when firm users need room).
///
/// ``reservedForConnections`` of the firm share is kept for connections: partitions cannot take it, so clients can
/// always reach the server to delete topics.
public final class DescriptorBudget: Sendable {
    /// The open-file limit the budget was made for.
    public let limit: Int
    /// Descriptors never handed out.
    public let headroom: Int
    /// Of the rest, what only connections may use.
    public let reservedForConnections: Int

    private struct State {
        /// Open at start (standard streams, event loops, the catalog), counted as firm.
        var firm: Int
        var cached = 0
        var connections = 0
    }

    private let state: Mutex<State>
    /// Asked to close this many cached files when firm users need their room.
    private let shrinkCache = Mutex<(@Sendable (Int) -> Void)?>(nil)

    /// - Parameters:
    ///   - limit: the open-file limit.
    ///   - inUse: descriptors already open, which count as firm.
    public init(limit: Int, inUse: Int = 0) {
        self.limit = max(limit, 64)
        headroom = max(48, min(1024, self.limit / 16))
        let capacity = self.limit - headroom
        reservedForConnections = max(8, min(1024, capacity / 4))
        state = Mutex(State(firm: max(0, inUse)))
    }

    /// No limit worth counting (tests, tools).
    public static let unlimited = DescriptorBudget(limit: Int(Int32.max))

    /// What firm and cached users may hold together.
    public var capacity: Int { limit - headroom }

    /// Firm descriptors held, cached ones held, and connections among the firm ones.
    public var usage: (firm: Int, cached: Int, connections: Int) {
        state.withLock { ($0.firm, $0.cached, $0.connections) }
    }

    /// How many more partitions could be created now, keeping the connections' reserve.
    public var partitionsAvailable: Int {
        state.withLock { state in
            let connectionsLeft = max(0, reservedForConnections - state.connections)
            return max(0, capacity - state.firm - connectionsLeft)
        }
    }

    // MARK: Firm

    /// Takes `count` descriptors for partitions' files; false (nothing taken) when they would eat into the
    /// connections' reserve.
    public func acquirePartitions(_ count: Int) -> Bool {
        acquireFirm(count, connections: false)
    }

    public func releasePartitions(_ count: Int) { releaseFirm(count, connections: false) }

    /// Takes a descriptor for a client connection; false when none is left.
    public func acquireConnection() -> Bool { acquireFirm(1, connections: true) }

    public func releaseConnection() { releaseFirm(1, connections: true) }

    private func acquireFirm(_ count: Int, connections: Bool) -> Bool {
        let (granted, shrink) = state.withLock { state -> (Bool, Int) in
            let reserve = connections ? 0 : max(0, reservedForConnections - state.connections)
            guard state.firm + count + reserve <= capacity else { return (false, 0) }
            state.firm += count
            if connections { state.connections += count }
            return (true, max(0, state.firm + state.cached - capacity))
        }
        if shrink > 0, let close = shrinkCache.withLock({ $0 }) { close(shrink) }
        return granted
    }

    private func releaseFirm(_ count: Int, connections: Bool) {
        state.withLock { state in
            state.firm = max(0, state.firm - count)
            if connections { state.connections = max(0, state.connections - count) }
        }
    }

    // MARK: Cached

    /// Lets the cache be told to close files when firm users need room.
    func onShrinkCache(_ body: @escaping @Sendable (Int) -> Void) {
        shrinkCache.withLock { $0 = body }
    }

    /// Takes a descriptor for the cache; false when the firm users leave none.
    func acquireCached() -> Bool {
        state.withLock { state in
            guard state.firm + state.cached + 1 <= capacity else { return false }
            state.cached += 1
            return true
        }
    }

    func releaseCached(_ count: Int = 1) {
        state.withLock { $0.cached = max(0, $0.cached - count) }
    }

    // MARK: The process's limit

    /// Raises the soft open-file limit to the hard one and returns the limit in force, with the descriptors open
    /// now (Linux: counted in `/proc/self/fd`).
    public static func raiseProcessLimit() -> (limit: Int, inUse: Int) {
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return (1024, openDescriptors()) }
        // RLIM_INFINITY is all ones; no kernel lets a process open that many (Linux: fs.nr_open, 1 Mi by default).
        let infinity = rlim_t.max
        var hard = limits.rlim_max
        if hard == infinity { hard = 1 << 20 }
        if limits.rlim_cur < hard {
            var raised = limits
            raised.rlim_cur = hard
            if setrlimit(resource, &raised) == 0 { limits = raised }
        }
        let limit = limits.rlim_cur == infinity ? Int(1 << 20) : Int(clamping: limits.rlim_cur)
        return (limit, openDescriptors())
    }

    /// Descriptors open in this process (an estimate from the highest one where /proc is missing).
    static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 16 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        // ".", "..", and the descriptor of the listing itself.
        return max(0, count - 3)
    }
}
