import Foundation
public import Logging
import Synchronization

/// The process's log levels by logger namespace, changed at runtime through `/admin/loggers` (Kafka Connect's
/// dynamic log levels). A logger's level is that of its nearest namespace with an explicit level, or root's.
public final class LoggerLevels: Sendable {
    struct Explicit {
        var level: String
        var lastModified: Int64?
    }

    private struct State {
        var root: Explicit
        var explicit: [String: Explicit] = [:]
        var known: Set<String>
    }

    private let state: Mutex<State>

    /// Kafka's level names, and the swift-log level each one sets.
    static let levels: [(String, Logger.Level)] = [
        ("TRACE", .trace), ("DEBUG", .debug), ("INFO", .info), ("WARN", .warning), ("ERROR", .error),
        ("FATAL", .critical), ("OFF", .critical),
    ]

    public init(root: Logger.Level, loggers: [String]) {
        let name = Self.levels.first { $0.1 == root }?.0 ?? "INFO"
        state = Mutex(State(root: Explicit(level: name, lastModified: nil), known: Set(loggers)))
    }

    static func swiftLevel(_ name: String) -> Logger.Level? {
        levels.first { $0.0 == name.uppercased() }?.1
    }

    /// The level a logger with this label logs at.
    public func level(for label: String) -> Logger.Level {
        state.withLock { state in
            var namespace = label
            while true {
                if let explicit = state.explicit[namespace] { return Self.swiftLevel(explicit.level) ?? .info }
                guard let dot = namespace.lastIndex(of: ".") else { break }
                namespace = String(namespace[..<dot])
            }
            return Self.swiftLevel(state.root.level) ?? .info
        }
    }

    /// Root and every logger with an explicit level.
    func all() -> [(String, String, Int64?)] {
        state.withLock { state in
            [("root", state.root.level, state.root.lastModified)]
                + state.explicit.sorted { $0.key < $1.key }.map { ($0.key, $0.value.level, $0.value.lastModified) }
        }
    }

    /// The level of a known logger (or root); nil when there is no such logger.
    func level(named name: String) -> (String, Int64?)? {
        state.withLock { state in
            if name == "root" { return (state.root.level, state.root.lastModified) }
            if let explicit = state.explicit[name] { return (explicit.level, explicit.lastModified) }
            guard state.known.contains(name) else { return nil }
            var namespace = name
            while let dot = namespace.lastIndex(of: ".") {
                namespace = String(namespace[..<dot])
                if let explicit = state.explicit[namespace] { return (explicit.level, nil) }
            }
            return (state.root.level, nil)
        }
    }

    /// Sets a namespace's level (root: every logger's); returns the loggers it affects.
    func set(_ namespace: String, level: String) -> [String]? {
        guard Self.swiftLevel(level) != nil else { return nil }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return state.withLock { state in
            let entry = Explicit(level: level.uppercased(), lastModified: now)
            if namespace == "root" {
                state.root = entry
                let affected = ["root"] + state.known.sorted()
                for name in state.explicit.keys { state.explicit[name] = entry }
                return affected
            }
            state.known.insert(namespace)
            var affected: [String] = []
            for name in state.known.sorted() where name == namespace || name.hasPrefix(namespace + ".") {
                state.explicit[name] = entry
                affected.append(name)
            }
            return affected
        }
    }
}
