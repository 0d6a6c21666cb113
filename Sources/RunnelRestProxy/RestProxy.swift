import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
public import RunnelBrokerAPI
public import RunnelHTTP
import RunnelJSON
public import ServiceLifecycle

/// Confluent REST Proxy v2 and v3 over a ``Broker``: metadata and admin, produce, v2 consumer instances, and a
/// stateless partition read. It works against any ``Broker``, embedded or a Kafka cluster.
public final class RestProxy: Sendable {
    let broker: any Broker
    let configuration: RestProxyConfiguration
    let consumers: ConsumerManager
    let logger: Logger

    public init(broker: any Broker, configuration: RestProxyConfiguration = RestProxyConfiguration(), logger: Logger) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        self.consumers = ConsumerManager(broker: broker, configuration: configuration, logger: logger)
    }

    /// The consumer instances' housekeeping (heartbeats, rebalances, expiry): run it with the HTTP server.
    public var services: [any Service] { [consumers] }

    /// Registers every route, controller by controller.
    public func addRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
        V2Controller(broker: broker, configuration: configuration).register(on: routes)
        V2ConsumerController(broker: broker, configuration: configuration, consumers: consumers)
            .register(on: routes.accepting(EmbeddedFormat.v2ManagementBodies))
        let v3 = routes.accepting(.json)
        V3AdminController(broker: broker, configuration: configuration).register(on: v3)
        V3AclController(broker: broker, configuration: configuration).register(on: v3)
        V3RecordsController(broker: broker, configuration: configuration).register(on: v3)
    }
}

/// A group of the proxy's routes: a small value holding only what its routes use, registering them on a
/// ``RouteTable`` (``V2Controller``, ``V2ConsumerController``, ``V3AdminController``, ``V3AclController``,
/// ``V3RecordsController``). The lookups and JSON shapes the groups share are in this protocol's extensions.
protocol ProxyController: Sendable {
    var broker: any Broker { get }
    var configuration: RestProxyConfiguration { get }
    func register<Context: RequestContext>(on routes: RouteTable<Context>)
}

extension ProxyController {
    /// The absolute URL of the server as the client addressed it, for `base_uri` and v3 `self` links.
    func baseURL(_ request: Request) -> String {
        let host = request.head.authority ?? "localhost"
        return "\(configuration.scheme)://\(host)"
    }

    /// A topic's description; 40401 when it does not exist.
    func topic(_ name: String) async throws(APIError) -> TopicDescription {
        do {
            return try await broker.describeTopic(name)
        } catch  where error.code == .unknownTopicOrPartition || error.code == .invalidTopic {
            throw APIError.topicNotFound()
        } catch {
            throw APIError(error)
        }
    }
}

/// Parameters read from a path.
extension Request {
    func partitionParameter(_ context: some RequestContext, _ name: String = "partition_id") throws -> Int32 {
        guard let text = context.parameters.get(name), let value = Int32(text), value >= 0 else {
            throw APIError.partitionNotFound()
        }
        return value
    }
}

extension RequestContext {
    func requiredParameter(_ name: String) throws -> String {
        guard let value = parameters.get(name) else { throw APIError.notFound("HTTP 404 Not Found") }
        return value
    }
}

extension Response {
    /// A JSON answer made from fetched records: their share of the fetch memory, plus the answer's own bytes, stays
    /// counted until the answer has been written (or the client has gone).
    static func json(
        bytes: ByteBuffer,
        contentType: String = MediaType.json,
        holding memory: [MemoryLease]
    ) -> Response {
        guard let first = memory.first else { return .json(bytes: bytes, contentType: contentType) }
        first.resize(to: first.bytes + bytes.readableBytes)
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(contentLength: bytes.readableBytes) { writer in
                try await writer.write(bytes)
                try await writer.finish(nil)
                for lease in memory { lease.release() }
            }
        )
    }
}
