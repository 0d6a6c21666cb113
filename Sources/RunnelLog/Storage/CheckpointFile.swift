import NIOCore
import RunnelRecords

/// Kafka's checkpoint text files: a version line, an entry-count line, then one entry per line.
///
/// Used for `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and `cleaner-offset-checkpoint`
/// (entries `topic partition offset`) and for each partition's `leader-epoch-checkpoint` (entries
/// `epoch startOffset`). Writes are atomic: temporary file, fsync, rename, fsync of the directory.
enum CheckpointFile {
    static let version = 0
    /// Checkpoint files are small; a larger one is corrupt, and is not read into memory.
    static let maxFileBytes = 64 << 20

    /// Reads the entries, each split on whitespace. Returns `nil` when the file does not exist.
    static func read(_ path: String) throws(LogError) -> [[Substring]]? {
        guard FileSystem.fileExists(path) else { return nil }
        let buffer = try FileSystem.readFile(path, maxBytes: maxFileBytes)
        let text = String(buffer: buffer)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        guard lines.count >= 2 else {
            throw LogError(.corruptCheckpoint, "\(path): expected a version line and a count line")
        }
        guard let version = Int(lines[0].trimmingWhitespace()), version == CheckpointFile.version else {
            throw LogError(.corruptCheckpoint, "\(path): unsupported version line '\(lines[0])' (expected 0)")
        }
        guard let count = Int(lines[1].trimmingWhitespace()), count >= 0 else {
            throw LogError(.corruptCheckpoint, "\(path): bad entry count line '\(lines[1])'")
        }
        let entries = lines.dropFirst(2).map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) }
        guard entries.count == count else {
            throw LogError(
                .corruptCheckpoint,
                "\(path): the count line says \(count) entries but \(entries.count) follow"
            )
        }
        return entries
    }

    static func write(_ path: String, entries: [String]) throws(LogError) {
        var text = "\(version)\n\(entries.count)\n"
        for entry in entries { text += entry + "\n" }
        try FileSystem.writeAtomically(path, contents: text)
    }

    /// Reads an offset checkpoint (`topic partition offset` entries).
    static func readOffsets(_ path: String) throws(LogError) -> [TopicPartition: Int64]? {
        guard let entries = try read(path) else { return nil }
        var offsets: [TopicPartition: Int64] = [:]
        for entry in entries {
            guard entry.count == 3, let partition = Int32(entry[1]), let offset = Int64(entry[2]) else {
                throw LogError(.corruptCheckpoint, "\(path): malformed entry '\(entry.joined(separator: " "))'")
            }
            offsets[
                try recordFormat { () throws(RecordError) in
                    try TopicPartition(topic: String(entry[0]), partition: partition)
                }
            ] = offset
        }
        return offsets
    }

    static func writeOffsets(_ path: String, _ offsets: [TopicPartition: Int64]) throws(LogError) {
        let entries = offsets.sorted { $0.key < $1.key }.map { "\($0.key.topic) \($0.key.partition) \($0.value)" }
        try write(path, entries: entries)
    }
}
