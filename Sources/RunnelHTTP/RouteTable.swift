import Foundation
public import HTTPTypes
public import Hummingbird

/// Registers routes on a Hummingbird router and remembers them, so the HTTP surface can be listed and checked
/// against `openapi.yaml`. Paths are written in OpenAPI's template form (`/topics/{topic_name}`).
public final class RouteTable<Context: RequestContext> {
    public struct Route: Sendable, Hashable, Comparable {
        public var method: String
        public var path: String

        public static func < (lhs: Route, rhs: Route) -> Bool { (lhs.path, lhs.method) < (rhs.path, rhs.method) }
    }

    public typealias Check = @Sendable (Request, Context) async throws -> Void

    public let router: Router<Context>
    /// Put before every path registered through this table (`/connect` mounts the connect API on the proxy port).
    public let prefix: String
    private var registered: [Route] = []
    /// A table that registers into `parent`, running `check` before each handler.
    private let parent: RouteTable?
    private let check: Check?

    public init(router: Router<Context>, prefix: String = "") {
        self.router = router
        self.prefix = prefix
        self.parent = nil
        self.check = nil
    }

    private init(parent: RouteTable, check: @escaping Check) {
        self.router = parent.router
        self.prefix = parent.prefix
        self.parent = parent
        self.check = check
    }

    /// A view of this table whose routes first run `check` (which throws to refuse the request).
    public func checking(_ check: @escaping Check) -> RouteTable {
        RouteTable(parent: self, check: check)
    }

    public var routes: [Route] { parent?.routes ?? registered.sorted() }

    public func on(
        _ path: String,
        method: HTTPRequest.Method,
        use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        if let parent, let check {
            parent.on(path, method: method) { request, context in
                try await check(request, context)
                return try await handler(request, context)
            }
            return
        }
        let full = path == "/" && !prefix.isEmpty ? prefix : prefix + path
        registered.append(Route(method: method.rawValue, path: full))
        router.on(RouterPath(full), method: method, use: handler)
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
