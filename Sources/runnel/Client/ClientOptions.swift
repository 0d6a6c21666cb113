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

    @Option(
        name: .long,
        help: ArgumentHelp("The API key to authenticate with (default: RUNNEL_API_KEY).", valueName: "key")
    )
    var apiKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The API key's secret (default: RUNNEL_API_SECRET; prefer the variable: a command line is visible to other users).",
            valueName: "secret"
        )
    )
    var apiSecret: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PEM file of the certificate authority to trust for https:// URLs, e.g. a self-signed server certificate (default: RUNNEL_CA_CERT, else the system's).",
            valueName: "file"
        )
    )
    var caCert: String?

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
        let environment = ProcessInfo.processInfo.environment
        func setting(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        var credentials: (key: String, secret: String)?
        switch (setting(apiKey, "RUNNEL_API_KEY"), setting(apiSecret, "RUNNEL_API_SECRET")) {
        case (let key?, let secret?): credentials = (key, secret)
        case (nil, nil): credentials = nil
        default:
            throw ValidationError(
                "Give both an API key and its secret (--api-key and --api-secret, or RUNNEL_API_KEY and RUNNEL_API_SECRET)"
            )
        }
        return try RunnelAPI(
            proxy: proxyBase,
            connect: connectBase,
            credentials: credentials,
            trustedCertificates: setting(caCert, "RUNNEL_CA_CERT")
        )
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
