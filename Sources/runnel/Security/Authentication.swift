import ArgumentParser
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON

/// The request context of both listeners: Hummingbird's, plus the client's address (for ACL hosts and audit lines).
struct RunnelRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// How `runnel serve` decides whether callers must authenticate.
enum AuthMode: String, CaseIterable, ExpressibleByArgument, LosslessStringConvertible {
    /// Required unless every listener is on a loopback address.
    case auto
    case required
    case off

    init?(_ description: String) { self.init(rawValue: description.lowercased()) }

    var description: String { rawValue }

    /// Whether authentication is on for a listener bound to `host`.
    func isRequired(host: String) -> Bool {
        switch self {
        case .required: true
        case .off: false
        case .auto: !Self.isLoopback(host)
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// HTTP Basic authentication with API keys (key as user, secret as password) on every route but `openPaths`; the
/// rest of the request runs as the key's principal (``Caller/current``), which the authorizing broker checks. A
/// missing or wrong credential gets 401 with a `WWW-Authenticate` challenge (so a browser asks for it) and an audit
/// line naming the key tried, never the secret.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = RunnelRequestContext

    let keys: APIKeyStore
    /// Paths served without credentials (`/metrics` with `--open-metrics`).
    let openPaths: Set<String>
    /// The `error_code` of a 401: Confluent's 40101, or the HTTP status on Kafka Connect's paths.
    var errorCode: @Sendable (_ path: String) -> Int = { _ in 40101 }
    let audit = Logger(label: "runnel.audit")

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        if openPaths.contains(path) { return try await next(request, context) }
        let host = context.remoteAddress?.ipAddress ?? ""
        guard let credentials = request.headers.basic else {
            return challenge(request, "Authentication required: send an API key and its secret with HTTP Basic")
        }
        let result: AuthenticationResult
        do {
            result = try await keys.authenticate(
                key: credentials.username,
                secret: credentials.password,
                from: host
            )
        } catch {
            throw APIError(.internalServerError, 50002, "Cannot check credentials: \(error.message)")
        }
        let principal: String
        switch result {
        case .authenticated(let authenticated):
            principal = authenticated
        case .rejected:
            audit.notice(
                "Authentication failed",
                metadata: ["key": "\(Audit.printable(credentials.username))", "host": "\(host)", "path": "\(path)"]
            )
            return challenge(request, "Authentication failed: unknown API key or wrong secret")
        case .throttled(let retryAfter):
            // Not logged one by one: a flood of wrong secrets must not become a flood of audit lines.
            let seconds = max(1, Int((retryAfter / .seconds(1)).rounded(.up)))
            var response = APIError(
                .tooManyRequests,
                429,
                "Too many failed authentications for this API key or from this address: retry after \(seconds) s"
            ).response(contentType: MediaType.preferredErrorType(for: request))
            response.headers[.retryAfter] = "\(seconds)"
            return response
        }
        return try await Caller.$current.withValue(Caller(principal: principal, host: host)) {
            try await next(request, context)
        }
    }

    private func challenge(_ request: Request, _ message: String) -> Response {
        var response = APIError(.unauthorized, errorCode(request.uri.path), message).response(
            contentType: MediaType.preferredErrorType(for: request)
        )
        response.headers[.wwwAuthenticate] = "Basic realm=\"Runnel\", charset=\"UTF-8\""
        return response
    }
}
