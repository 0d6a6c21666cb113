import Foundation
public import HTTPTypes
public import Hummingbird
import RunnelJSON

/// The media types a route's request body may have: checked before its handler, on every method that can change
/// state, so a web page cannot reach a route with a body a cross-site form or `fetch` sends without a CORS preflight
/// (`text/plain`, form and multipart bodies), and a body without any Content-Type is refused.
public struct BodyTypes: Sendable, Hashable {
    /// Lowercased media types without parameters; nil accepts anything (a route that reads and ignores its body).
    public let types: Set<String>?

    public init(_ types: Set<String>) {
        self.types = Set(types.map { $0.lowercased() })
    }

    private init(any: Void) { types = nil }

    /// `application/json`.
    public static let json = BodyTypes([MediaType.json])
    /// Any body, or none: for a route that changes nothing.
    public static let any = BodyTypes(any: ())

    public func union(_ other: BodyTypes) -> BodyTypes {
        guard let types, let others = other.types else { return .any }
        return BodyTypes(types.union(others))
    }

    /// 415 in the API's error format unless the request's body is one of these types. A request without a body
    /// may omit the Content-Type; one that declares it must declare an accepted type.
    public func check(_ request: Request) throws {
        guard let types else { return }
        if let contentType = request.headers[.contentType] {
            guard types.contains(MediaType.essence(contentType).lowercased()) else {
                throw APIError.unsupportedMediaType(contentType)
            }
        } else if request.hasBody {
            throw APIError.unsupportedMediaType(nil)
        }
    }
}

extension Request {
    /// Whether the request carries a body (a non-zero Content-Length, or a Transfer-Encoding).
    public var hasBody: Bool {
        if headers[.transferEncoding] != nil { return true }
        guard let length = headers[.contentLength] else { return false }
        return length.trimmingCharacters(in: .whitespaces) != "0"
    }
}

/// Registers routes on a Hummingbird router and remembers them, so the HTTP surface can be listed and checked
/// against `openapi.yaml`. Paths are written in OpenAPI's template form (`/topics/{topic_name}`). Every route but a
/// GET or HEAD checks its request's media type first (``BodyTypes``): the table's, or a view's (``accepting(_:)``).
public final class RouteTable<Context: RequestContext> {
    public struct Route: Sendable, Hashable, Comparable {
        public var method: String
        public var path: String
        /// The body types it accepts (nil for any; unchecked for GET and HEAD).
        public var bodyTypes: Set<String>?

        public static func < (lhs: Route, rhs: Route) -> Bool { (lhs.path, lhs.method) < (rhs.path, rhs.method) }
    }

    public typealias Check = @Sendable (Request, Context) async throws -> Void

    public let router: Router<Context>
    /// Put before every path registered through this table (`/connect` mounts the connect API on the proxy port).
    public let prefix: String
    /// The request bodies this table's routes accept.
    public let bodyTypes: BodyTypes
    private var registered: [Route] = []
    /// A table that registers into `parent`, running `check` before each handler.
    private let parent: RouteTable?
    private let check: Check?

    public init(router: Router<Context>, prefix: String = "", bodyTypes: BodyTypes = .json) {
        self.router = router
        self.prefix = prefix
        self.bodyTypes = bodyTypes
        self.parent = nil
        self.check = nil
    }

    private init(parent: RouteTable, check: Check?, bodyTypes: BodyTypes) {
        self.router = parent.router
        self.prefix = parent.prefix
        self.bodyTypes = bodyTypes
        self.parent = parent
        self.check = check
    }

    /// A view of this table whose routes first run `check` (which throws to refuse the request).
    public func checking(_ check: @escaping Check) -> RouteTable {
        RouteTable(parent: self, check: check, bodyTypes: bodyTypes)
    }

    /// A view of this table whose routes accept these request bodies instead.
    public func accepting(_ bodyTypes: BodyTypes) -> RouteTable {
        RouteTable(parent: self, check: nil, bodyTypes: bodyTypes)
    }

    public var routes: [Route] { parent?.routes ?? registered.sorted() }

    public func on(
        _ path: String,
        method: HTTPRequest.Method,
        use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        register(path, method: method, bodyTypes: bodyTypes, use: handler)
    }

    private func register(
        _ path: String,
        method: HTTPRequest.Method,
        bodyTypes: BodyTypes,
        use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        if let parent {
            guard let check else {
                parent.register(path, method: method, bodyTypes: bodyTypes, use: handler)
                return
            }
            parent.register(path, method: method, bodyTypes: bodyTypes) { request, context in
                try await check(request, context)
                return try await handler(request, context)
            }
            return
        }
        let full = path == "/" && !prefix.isEmpty ? prefix : prefix + path
        let checksBody = method != .get && method != .head
        registered.append(Route(method: method.rawValue, path: full, bodyTypes: checksBody ? bodyTypes.types : nil))
        guard checksBody else {
            router.on(RouterPath(full), method: method, use: handler)
            return
        }
        router.on(RouterPath(full), method: method) { request, context in
            try bodyTypes.check(request)
            return try await handler(request, context)
        }
    }

    public func get(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(path, method: .get, use: handler)
    }

    public func post(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(path, method: .post, use: handler)
    }

    public func put(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(path, method: .put, use: handler)
    }

    public func patch(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(path, method: .patch, use: handler)
    }

    public func delete(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(path, method: .delete, use: handler)
    }
}

extension RequestContext {
    /// A path parameter, percent-decoded (a connector named `a b/c` is `/connectors/a%20b%2Fc`; `<default>` is
    /// `%3Cdefault%3E`); nil when the route has no such parameter.
    public func decodedParameter(_ name: String) -> String? {
        guard let raw = parameters.get(name) else { return nil }
        return raw.removingPercentEncoding ?? raw
    }
}

extension RouteTable {
    /// Middleware to add after every route: a request for a known path with a method it does not have gets 405
    /// (with `Allow`) instead of the router's 404, as Confluent and Kafka Connect answer.
    public func methodNotAllowedMiddleware() -> MethodNotAllowedMiddleware<Context> {
        MethodNotAllowedMiddleware(routes: routes)
    }
}

public struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    private let templates: [(method: String, segments: [Substring])]

    public init(routes: [RouteTable<Context>.Route]) {
        templates = routes.map { ($0.method, $0.path.split(separator: "/")) }
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let segments = request.uri.path.split(separator: "/")
            let allowed = Set(templates.filter { Self.matches($0.segments, segments) }.map(\.method)).sorted()
            guard !allowed.isEmpty else { throw error }
            var headers = HTTPFields()
            headers[.allow] = allowed.joined(separator: ", ")
            let body = APIError(.methodNotAllowed, 405, "HTTP 405 Method Not Allowed").body
            headers[.contentType] = MediaType.preferredErrorType(for: request)
            return Response(status: .methodNotAllowed, headers: headers, body: ResponseBody(byteBuffer: body.bytes))
        }
    }

    private static func matches(_ template: [Substring], _ path: [Substring]) -> Bool {
        guard template.count == path.count else { return false }
        for (expected, actual) in zip(template, path) where !(expected.first == "{" && expected.last == "}") {
            if expected != actual { return false }
        }
        return true
    }
}
