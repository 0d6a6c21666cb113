import HTTPTypes
import Hummingbird
import NIOCore
import RunnelConnect
import RunnelConsole
import RunnelHTTP
import RunnelRestProxy

/// The routes of the two listeners: the REST proxy's port and the connect port, each also serving the OpenAPI
/// document of the whole surface and the process's metrics, and counting its requests. The proxy port also serves
/// the dashboard, and the connect API under `/connect` (so the dashboard, and anyone behind one forwarded port,
/// reaches everything through one origin). Built here once, for `runnel serve` and for the test that checks every
/// route is in openapi.yaml.
struct HTTPSurface {
    let proxyRouter: Router<BasicRequestContext>
    let connectRouter: Router<BasicRequestContext>
    let proxyRoutes: [RouteTable<BasicRequestContext>.Route]
    let connectRoutes: [RouteTable<BasicRequestContext>.Route]

    init(
        proxy: RestProxy,
        connect: ConnectAPI,
        metrics: MetricsEndpoint,
        dashboard: Dashboard,
        openAPIDocument: [UInt8] = PackageResources.openapi_yaml
    ) {
        let document = ByteBuffer(bytes: openAPIDocument)
        func serveDocument(_ routes: RouteTable<BasicRequestContext>) {
            routes.get("/openapi.yaml") { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = "application/yaml"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: document))
            }
        }

        proxyRouter = Router()
        proxyRouter.middlewares.add(RequestMetricsMiddleware(listener: "proxy"))
        proxyRouter.middlewares.add(APIErrorMiddleware())
        let proxyTable = RouteTable(router: proxyRouter)
        proxy.addRoutes(to: proxyTable)
        serveDocument(proxyTable)
        metrics.addRoute(to: proxyTable)
        dashboard.addRoutes(to: proxyTable)
        let connectMount = RouteTable(router: proxyRouter, prefix: "/connect")
        connect.addRoutes(to: connectMount)
        proxyRoutes = (proxyTable.routes + connectMount.routes).sorted()
        proxyRouter.middlewares.add(MethodNotAllowedMiddleware(routes: proxyRoutes))

        connectRouter = Router()
        connectRouter.middlewares.add(RequestMetricsMiddleware(listener: "connect"))
        connectRouter.middlewares.add(APIErrorMiddleware())
        let connectTable = RouteTable(router: connectRouter)
        connect.addRoutes(to: connectTable)
        serveDocument(connectTable)
        metrics.addRoute(to: connectTable)
        connectRouter.middlewares.add(connectTable.methodNotAllowedMiddleware())
        connectRoutes = connectTable.routes
    }
}
