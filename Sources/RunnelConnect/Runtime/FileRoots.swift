import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file or folder on the server that a connector's config names, and the config key that names it.
public struct ServerPath: Sendable, Hashable {
    public var key: String
    public var path: String

    public init(key: String, path: String) {
        self.key = key
        self.path = path
    }
}

/// The folders connectors may read and write on the server (`--connector-file-roots`, by default the data
/// directory), for every principal, super users included; never the server's own state inside them (the logs,
/// `metadata.db`, `connect.db`, `meta.properties`, the TLS files).
///
/// A path is resolved as the kernel would open it: symbolic links and `..` are followed through the part that exists,
/// so neither can lead out of a root. A refused path gets one answer whatever the reason (outside every root, one of
/// the server's files, a link out, missing), so a config cannot probe which files exist outside the roots.
public struct FileRoots: Sendable, Hashable {
    /// Absolute, resolved folders.
    public let roots: [String]
    /// Absolute, resolved files and folders never given to a connector.
    public let reserved: [String]

    /// Resolves `roots` and the data directory's own files now (blocking: call at start-up).
    public init(roots: [String], dataDirectory: String, otherReserved: [String] = []) {
        self.roots = roots.map(Self.resolved)
        let own = [
            "logs", "metadata.db", "metadata.db-wal", "metadata.db-shm", "metadata.db-journal", "connect.db",
            "connect.db-wal", "connect.db-shm", "connect.db-journal", "meta.properties", ".lock",
        ].map { dataDirectory + "/" + $0 }
        self.reserved = (own + otherReserved).map(Self.resolved)
    }

    /// The problems of each key whose path is refused (empty when all are allowed). Resolving paths touches the file
    /// system, so it runs on NIO's thread pool.
    public func problems(_ paths: [ServerPath]) async -> [String: [String]] {
        guard !paths.isEmpty else { return [:] }
        let refused: [ServerPath]
        do {
            refused = try await NIOThreadPool.singleton.runIfActive { paths.filter { !self.allows($0.path) } }
        } catch {
            refused = paths
        }
        var problems: [String: [String]] = [:]
        for path in refused {
            problems[path.key, default: []].append(
                "\(path.path) is not a path connectors may use on this server: it must be inside one of the folders the server allows (--connector-file-roots), and not one of the server's own files"
            )
        }
        return problems
    }

    /// Whether `path` resolves inside a root and outside every reserved path. Blocking.
    public func allows(_ path: String) -> Bool {
        guard !path.isEmpty, !path.contains("\0") else { return false }
        let target = Self.resolved(path)
        guard roots.contains(where: { Self.isInside(target, $0) }) else { return false }
        return !reserved.contains { Self.isInside(target, $0) }
    }

    static func isInside(_ path: String, _ folder: String) -> Bool {
        path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/")
    }

    /// `path` made absolute, with the longest prefix that exists resolved by `realpath` (links, `.`, `..`) and the
    /// rest normalized by name.
    static func resolved(_ path: String) -> String {
        let absolute =
            path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var existing = absolute
        var rest: [Substring] = []
        while true {
            if let real = realPath(existing) {
                return normalized(real, rest)
            }
            guard let slash = existing.lastIndex(of: "/"), existing != "/" else { return normalized("/", rest) }
            rest.insert(existing[existing.index(after: slash)...], at: 0)
            existing = slash == existing.startIndex ? "/" : String(existing[..<slash])
        }
    }

    private static func normalized(_ base: String, _ rest: [Substring]) -> String {
        var components = base.split(separator: "/")
        for component in rest {
            switch component {
            case "", ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
