import HTTPTypes
import Hummingbird
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelConnect
import RunnelConsole
import RunnelHTTP
import RunnelJSON
import RunnelRestProxy

/// The routes of the two listeners: the REST proxy's port and the connect port, each also serving the OpenAPI
/// document of the whole surface and the process's metrics, and counting its requests. The proxy port also serves
/// the dashboard, API keys and quotas, and the connect API under `/connect` (so the dashboard, and anyone behind one forwarded
/// port, reaches everything through one origin). Built here once, for `runnel serve` and for the test that checks
/// every route is in openapi.yaml.
///
/// Both refuse what a web page would make a browser send (``BrowserGuard``) before anything else.
/// With `authentication`, every request but those to its open paths must carry an API key, and runs as its
/// principal; `access` (then an ``AuthorizingBroker``) decides what each may do outside the broker's own
/// operations: DESCRIBE on the cluster for `/metrics` and the dashboard's data.
struct HTTPSurface {
    typealias Context = RunnelRequestContext

    let proxyRouter: Router<Context>
    let connectRouter: Router<Context>
    let proxyRoutes: [RouteTable<Context>.Route]
    let connectRoutes: [RouteTable<Context>.Route]

    init(
        proxy: RestProxy,
        connect: ConnectAPI,
        metrics: MetricsEndpoint,
        dashboard: Dashboard,
        quotas: QuotaRoutes,
        apiKeys: APIKeyRoutes,
        access: any Broker,
        browserGuard: BrowserGuard = BrowserGuard(scheme: "http", boundHost: "127.0.0.1", allowedHosts: []),
        authentication: AuthenticationMiddleware? = nil,
        openAPIDocument: [UInt8] = PackageResources.openapi_yaml
    ) {
        let document = ByteBuffer(bytes: openAPIDocument)
        func serveDocument(_ routes: RouteTable<Context>) {
            routes.get("/openapi.yaml") { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = "application/yaml"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: document))
            }
        }
        /// DESCRIBE on the cluster, refused in the listener's error format: Confluent's 40301, or the HTTP status on
        /// the connect port.
        func describeCluster(connectFormat: Bool) -> RouteTable<Context>.Check {
            { _, _ in
                do throws(BrokerError) {
                    try await access.authorize(.describe, on: .cluster)
                } catch {
                    throw connectFormat ? ConnectAPI.apiError(error) : APIError(error)
                }
            }
        }
        let metricsAreOpen = authentication?.openPaths.contains("/metrics") ?? true
        func serveMetrics(_ routes: RouteTable<Context>, connectFormat: Bool) {
            metrics.addRoute(
                to: metricsAreOpen ? routes : routes.checking(describeCluster(connectFormat: connectFormat))
            )
        }

        proxyRouter = Router(context: Context.self)
        proxyRouter.middlewares.add(RequestMetricsMiddleware(listener: "proxy"))
        proxyRouter.middlewares.add(APIErrorMiddleware())
        var proxyGuard = browserGuard
        proxyGuard.errorCode = { $0 == "/connect" || $0.hasPrefix("/connect/") ? 403 : 40301 }
        proxyRouter.middlewares.add(proxyGuard)
        if let authentication { proxyRouter.middlewares.add(authentication) }
        let proxyTable = RouteTable(router: proxyRouter)
        proxy.addRoutes(to: proxyTable)
        serveDocument(proxyTable)
        serveMetrics(proxyTable, connectFormat: false)
        dashboard.addRoutes(to: proxyTable, checkingData: describeCluster(connectFormat: false))
        apiKeys.addRoutes(to: proxyTable)
        quotas.addRoutes(to: proxyTable)
        let connectMount = RouteTable(router: proxyRouter, prefix: "/connect")
        connect.addRoutes(to: connectMount)
        proxyRoutes = (proxyTable.routes + connectMount.routes).sorted()
        proxyRouter.middlewares.add(MethodNotAllowedMiddleware(routes: proxyRoutes))

        connectRouter = Router(context: Context.self)
        connectRouter.middlewares.add(RequestMetricsMiddleware(listener: "connect"))
        connectRouter.middlewares.add(APIErrorMiddleware())
        var connectGuard = browserGuard
        connectGuard.errorCode = { _ in 403 }
        connectRouter.middlewares.add(connectGuard)
        if var authentication {
            // Kafka Connect's errors carry the HTTP status as their code.
            authentication.errorCode = { _ in 401 }
            connectRouter.middlewares.add(authentication)
        }
        let connectTable = RouteTable(router: connectRouter)
        connect.addRoutes(to: connectTable)
        serveDocument(connectTable)
        serveMetrics(connectTable, connectFormat: true)
        connectRouter.middlewares.add(connectTable.methodNotAllowedMiddleware())
        connectRoutes = connectTable.routes
    }
}
