import RunnelRecords

/// The partition's leader epochs and the offset each began at (`leader-epoch-checkpoint`).
///
/// A single node is leader of every partition in epoch 0, so normally there is one entry, `0 <log start>`; segments
/// written elsewhere may carry other epochs, which recovery records.
struct LeaderEpochCache: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var epoch: Int32
        var startOffset: Int64
    }

    static let fileName = "leader-epoch-checkpoint"

    private(set) var entries: [Entry] = []
    /// Changed since last written.
    var isDirty = false

    var latestEpoch: Int32 { entries.last?.epoch ?? 0 }

    /// Records that `epoch` starts at `startOffset`, if it is newer than the latest epoch (or the cache is empty).
    mutating func assign(epoch: Int32, startOffset: Int64) {
        guard epoch >= 0 else { return }
        if let last = entries.last, epoch <= last.epoch { return }
        entries.append(Entry(epoch: epoch, startOffset: startOffset))
        isDirty = true
    }

    /// Drops entries that start at or after `offset` (the log was truncated there).
    mutating func truncate(fromEnd offset: Int64) {
        let before = entries.count
        entries.removeAll { $0.startOffset >= offset }
        if entries.count != before { isDirty = true }
    }

    /// Moves the first entry up to the new log start offset, dropping entries wholly below it.
    mutating func truncate(fromStart offset: Int64) {
        guard let keep = entries.lastIndex(where: { $0.startOffset <= offset }) else { return }
        var changed = keep > 0
        entries.removeFirst(keep)
        if entries[0].startOffset < offset {
            entries[0].startOffset = offset
            changed = true
        }
        if changed { isDirty = true }
    }

    static func read(directory: String) throws(LogError) -> LeaderEpochCache? {
        let path = directory + "/" + fileName
        guard let lines = try CheckpointFile.read(path) else { return nil }
        var cache = LeaderEpochCache()
        for line in lines {
            guard line.count == 2, let epoch = Int32(line[0]), let start = Int64(line[1]) else {
                throw LogError(.corruptCheckpoint, "\(path): malformed entry '\(line.joined(separator: " "))'")
            }
            cache.entries.append(Entry(epoch: epoch, startOffset: start))
        }
        return cache
    }

    mutating func write(directory: String) throws(LogError) {
        try CheckpointFile.write(
            directory + "/" + LeaderEpochCache.fileName,
            entries: entries.map { "\($0.epoch) \($0.startOffset)" }
        )
        isDirty = false
    }
}
