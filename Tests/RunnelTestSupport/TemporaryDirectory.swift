import Foundation

/// A fresh directory under the system temporary directory, removed when the test lets go of it.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "runnel-tests/\(safe)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    public func file(_ relative: String) -> String { path + "/" + relative }
}
