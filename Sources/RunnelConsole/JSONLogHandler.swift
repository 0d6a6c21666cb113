import Foundation
public import Logging
public import NIOCore
import RunnelJSON

/// `--log-format json`: one JSON object per line on standard error, for log shippers: `time` (ISO-8601, UTC, with
/// milliseconds), `level`, `logger`, `message`, `source` (the module), then the metadata's keys.
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = Self.line(label: label, event: event, metadata: metadata)
        line.writeStaticString("\n")
        // One write per line: lines from several threads never interleave.
        FileHandle.standardError.write(Data(line.readableBytesView))
    }

    /// One event as a JSON object (without a newline).
    public static func line(label: String, event: LogEvent, metadata: Logger.Metadata) -> ByteBuffer {
        var writer = JSONWriter()
        writer.raw("{\"time\":")
        writer.string(timestamp(Date()))
        writer.raw(",\"level\":")
        writer.string(event.level.rawValue)
        writer.raw(",\"logger\":")
        writer.string(label)
        writer.raw(",\"message\":")
        writer.string(event.message.description)
        writer.raw(",\"source\":")
        writer.string(event.source)
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for key in merged.keys.sorted() where !["time", "level", "logger", "message", "source"].contains(key) {
            guard let value = merged[key] else { continue }
            writer.raw(",")
            writer.string(key)
            writer.raw(":")
            writer.string(value.description)
        }
        writer.raw("}")
        return writer.buffer
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        )
    }
}
