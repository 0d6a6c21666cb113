import ArgumentParser
import Foundation

/// How a client command reaches the server and prints what it gets: shared by every command but `serve`.
struct ClientOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The REST proxy's URL (default: RUNNEL_URL, else http://127.0.0.1:8082).",
            valueName: "url"
        )
    )
    var url: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The Kafka Connect REST URL (default: RUNNEL_CONNECT_URL, else the proxy's URL + /connect).",
            valueName: "url"
        )
    )
    var connectURL: String?

    @Option(name: [.short, .long], help: "Print a table for people, or JSON for scripts.")
    var output: OutputFormat = .table

    var proxyBase: String {
        let environment = ProcessInfo.processInfo.environment
        return Self.trimmed(
            url ?? environment["RUNNEL_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8082"
        )
    }

    var connectBase: String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = connectURL ?? environment["RUNNEL_CONNECT_URL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return Self.trimmed(explicit)
        }
        return proxyBase + "/connect"
    }

    func api() throws -> RunnelAPI {
        for base in [proxyBase, connectBase] {
            guard let parsed = URL(string: base), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil
            else {
                throw ValidationError("\(base) is not an http:// or https:// URL")
            }
        }
        return RunnelAPI(proxy: proxyBase, connect: connectBase)
    }

    private static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}
