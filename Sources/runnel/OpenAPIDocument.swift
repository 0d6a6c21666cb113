import HTTPTypes
import Hummingbird
import NIOCore
import RunnelHTTP

/// `GET /openapi.yaml` on both ports: the spec of the whole HTTP surface, compiled into the binary.
enum OpenAPIDocument {
    static func addRoute<Context: RequestContext>(to routes: RouteTable<Context>) {
        routes.get("/openapi.yaml") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml"
            return Response(
                status: .ok,
                headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml))
            )
        }
    }
}
