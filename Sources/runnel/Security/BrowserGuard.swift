import HTTPTypes
import Hummingbird
import NIOCore
import RunnelConsole
import RunnelHTTP
import RunnelJSON

/// Keeps web pages from using a developer's browser against the server (cross-site request forgery), and from
/// reaching it under their own host name (DNS rebinding), which matters most in the default mode: loopback, no
/// authentication. Programs that are not browsers (curl, the CLI, Kafka tools) send none of the headers it looks at
/// and pass untouched.
///
/// - `Host`: when the listeners are bound to a loopback address, it must name a loopback address (`localhost`,
///   `*.localhost`, `127.x.x.x`, `[::1]`), the bound host, or one of `--allowed-hosts`.
/// - `Origin`: when present, it must be this server's own origin (the scheme, host and port the request was sent
///   to). Browsers send it on every cross-origin request and on every POST.
/// - `Sec-Fetch-Site`: a request a page on another site made (`cross-site` or `same-site`: another port of
///   localhost is the same site) is refused, except a top-level navigation to read a page (a link to `/ui`).
/// - A browser's write (any method but GET and HEAD) must also carry a header no form can send: a JSON
///   Content-Type, or `X-Requested-With` (the dashboard's calls send it).
///
/// Refusals are 403 in the listener's error format. Every answer carries `X-Content-Type-Options: nosniff`.
struct BrowserGuard: RouterMiddleware {
    typealias Context = RunnelRequestContext

    /// `http` or `https`: the scheme of this server's own origin.
    let scheme: String
    /// Whether `Host` is checked (the listeners are bound to loopback).
    let checksHost: Bool
    /// Host names (lowercased, without port) accepted besides loopback addresses.
    let allowedHosts: Set<String>
    /// The `error_code` of a refusal: Confluent's 40301, or the HTTP status on Kafka Connect's paths.
    var errorCode: @Sendable (_ path: String) -> Int = { _ in 40301 }

    init(scheme: String, boundHost: String, allowedHosts: [String]) {
        self.scheme = scheme
        self.checksHost = AuthMode.isLoopback(boundHost)
        self.allowedHosts = Set((allowedHosts + [boundHost]).map { Self.hostName($0.lowercased()) })
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let refusal = refusal(request) {
            var response = APIError(.forbidden, errorCode(request.uri.path), refusal).response(
                contentType: MediaType.preferredErrorType(for: request)
            )
            response.headers[.xContentTypeOptions] = "nosniff"
            return response
        }
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }

    /// Why the request is refused, or nil.
    func refusal(_ request: Request) -> String? {
        let authority = request.head.authority
        if checksHost, let authority, !isAllowedHost(Self.hostName(authority.lowercased())) {
            return
                "The Host header names \(Self.quoted(authority)), which is not an address of this server (a page using DNS rebinding would do this); list the name in --allowed-hosts to use it"
        }
        let headers = request.headers
        let isWrite = request.method != .get && request.method != .head
        if let origin = headers[.origin] {
            guard let authority, Self.sameOrigin(origin, scheme: scheme, authority: authority) else {
                return
                    "Requests from another origin (\(Self.quoted(origin))) are refused: a web page may not use this server through a browser"
            }
        }
        if let site = headers[.secFetchSite]?.lowercased(), site == "cross-site" || site == "same-site" {
            let isNavigation = headers[.secFetchMode]?.lowercased() == "navigate" && !isWrite
            guard isNavigation else {
                return "Requests made by a page of another site are refused: a web page may not use this server"
            }
        }
        if isWrite, headers[.origin] != nil || headers[.secFetchSite] != nil {
            let type = headers[.contentType].map { MediaType.essence($0).lowercased() } ?? ""
            let isJSON = type == MediaType.json || (type.hasPrefix("application/vnd.kafka.") && type.hasSuffix("+json"))
            guard isJSON || headers[.xRequestedWith] != nil else {
                return "A browser's write must carry a JSON Content-Type or X-Requested-With"
            }
        }
        return nil
    }

    private func isAllowedHost(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        if Self.isIPv4Loopback(host) { return true }
        return allowedHosts.contains(host)
    }

    /// `127.0.0.0/8` written as a dotted quad.
    static func isIPv4Loopback(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in part.count <= 3 && UInt8(part) != nil }
    }

    /// The host of an authority (`host:port`, `[v6]:port`, `host`), without brackets or port.
    static func hostName(_ authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<end])
        }
        if authority.filter({ $0 == ":" }).count > 1 { return authority }  // a bare IPv6 address
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "")
    }

    /// Whether `origin` (`scheme://host[:port]`) is the origin a request to `authority` over `scheme` has.
    static func sameOrigin(_ origin: String, scheme: String, authority: String) -> Bool {
        let prefix = scheme + "://"
        let lowered = origin.lowercased()
        guard lowered.hasPrefix(prefix) else { return false }
        let defaultPort = scheme == "https" ? "443" : "80"
        return withPort(String(lowered.dropFirst(prefix.count)), defaultPort)
            == withPort(authority.lowercased(), defaultPort)
    }

    /// `host:port`, with the scheme's port when none is written.
    private static func withPort(_ authority: String, _ defaultPort: String) -> String {
        let host = hostName(authority)
        let rest = authority.hasPrefix("[") ? authority.drop { $0 != "]" }.dropFirst() : authority.dropFirst(host.count)
        let port = rest.hasPrefix(":") ? String(rest.dropFirst()) : defaultPort
        return "\(host):\(port)"
    }

    /// A caller's header value for a message: at most 100 characters, control characters escaped.
    private static func quoted(_ text: String) -> String {
        let escaped = EscapingLogHandler.escaped(String(text.prefix(100)))
        return text.count > 100 ? escaped + "..." : escaped
    }
}
