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
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
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
            if state.entries.count >= capacity,
                let oldest = state.entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key
            {
                state.entries.removeValue(forKey: oldest)
            }
            state.entries[path] = Entry(handle: opened, lastUsed: state.tick)
            return opened
        }
    }

    /// Forgets `path` (before the file is renamed or deleted).
    func evict(_ path: String) {
        _ = state.withLock { $0.entries.removeValue(forKey: path) }
    }

    /// Forgets every file.
    func evictAll() {
        state.withLock { $0.entries = [:] }
    }

    /// Forgets every file in `directory`.
    func evictDirectory(_ directory: String) {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        state.withLock { state in
            state.entries = state.entries.filter { !$0.key.hasPrefix(prefix) }
        }
    }
}
