import RunnelRecords
import Synchronization

/// Read-only handles of sealed segment files, least recently used evicted first, so that the number of open files
/// stays bounded however many segments the logs hold.
///
/// An evicted handle closes when its last user lets go of it (``FileHandle`` is reference counted).
final class FileHandleCache: Sendable {
    private struct Entry {
        let handle: FileHandle
        var lastUsed: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var tick: UInt64 = 0
    }

    let capacity: Int
    private let descriptors: DescriptorBudget
    private let state = Mutex(State())

    /// Holds at most `capacity` files, and only as many as `descriptors` lets it (it closes its oldest when the
    /// budget's firm users need their room).
    init(capacity: Int, descriptors: DescriptorBudget = .unlimited) {
        self.capacity = max(1, capacity)
        self.descriptors = descriptors
        descriptors.onShrinkCache { [weak self] count in self?.evictOldest(count) }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// The cached handle for `path`, opening it read-only on a miss.
    func handle(for path: String) throws(LogError) -> FileHandle {
        let cached = state.withLock { state -> FileHandle? in
            state.tick += 1
            guard var entry = state.entries[path] else { return nil }
            entry.lastUsed = state.tick
            state.entries[path] = entry
            return entry.handle
        }
        if let cached { return cached }
        let opened = try FileHandle(path: path, mode: .readOnly)
        return state.withLock { state -> FileHandle in
            if let raced = state.entries[path] { return raced.handle }
            // A slot: the oldest entry's when full or when the budget has none to give; none at all means the file
            // is used for this read only (closed when the reader is done).
            if state.entries.count >= capacity || !descriptors.acquireCached() {
                guard let oldest = state.entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key else {
                    return opened
                }
                state.entries.removeValue(forKey: oldest)
            }
            state.entries[path] = Entry(handle: opened, lastUsed: state.tick)
            return opened
        }
    }

    /// Closes the `count` least recently used files (readers still using one keep it until they finish).
    func evictOldest(_ count: Int) {
        let removed = state.withLock { state -> Int in
            let oldest = state.entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(count).map(\.key)
            for path in oldest { state.entries.removeValue(forKey: path) }
            return oldest.count
        }
        descriptors.releaseCached(removed)
    }

    /// Forgets `path` (before the file is renamed or deleted).
    func evict(_ path: String) {
        if state.withLock({ $0.entries.removeValue(forKey: path) }) != nil { descriptors.releaseCached() }
    }

    /// Forgets every file.
    func evictAll() {
        let count = state.withLock { state -> Int in
            defer { state.entries = [:] }
            return state.entries.count
        }
        descriptors.releaseCached(count)
    }

    /// Forgets every file in `directory`.
    func evictDirectory(_ directory: String) {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let count = state.withLock { state -> Int in
            let before = state.entries.count
            state.entries = state.entries.filter { !$0.key.hasPrefix(prefix) }
            return before - state.entries.count
        }
        descriptors.releaseCached(count)
    }
}
