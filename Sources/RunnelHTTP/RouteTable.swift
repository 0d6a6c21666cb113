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

    public let router: Router<Context>
    private var registered: [Route] = []

    public init(router: Router<Context>) {
        self.router = router
    }

    public var routes: [Route] { registered.sorted() }

    public func on(
        _ path: String,
        method: HTTPRequest.Method,
        use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        registered.append(Route(method: method.rawValue, path: path))
        router.on(RouterPath(path), method: method, use: handler)
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
