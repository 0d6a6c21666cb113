import Hummingbird
import RunnelBrokerAPI
import RunnelHTTP

/// A group of Kafka Connect's routes: a small value that holds only what its routes use and registers them on a
/// ``RouteTable`` (``ConnectorController``, ``PluginController``, ``LoggerController``). Each checks the caller's
/// rights through the broker and answers in Connect's error format (``ConnectAPI/apiError(_:)``).
protocol ConnectController: Sendable {
    var broker: any Broker { get }
    func register<Context: RequestContext>(on routes: RouteTable<Context>)
}

extension ConnectController {
    /// Refuses (403) unless the caller may do `operation` on the connector `name`, or holds the cluster-wide right
    /// that covers it (DESCRIBE on the cluster to see, ALTER to do anything else).
    func require(_ operation: AclOperation, connector name: String) async throws {
        let onCluster: AclOperation = operation == .describe || operation == .read ? .describe : .alter
        try await require(anyOf: [AclCheck(operation, .connector(name)), AclCheck(onCluster, .cluster)])
    }

    func require(anyOf checks: [AclCheck]) async throws {
        do throws(BrokerError) {
            try await broker.authorize(anyOf: checks)
        } catch {
            throw ConnectAPI.apiError(error)
        }
    }

    /// Runs a worker call, mapping its errors to the API's (the one place they are mapped).
    /// `notFound` replaces the message of a 404, for routes whose wording Kafka words differently.
    func call<T>(notFound: String? = nil, _ body: () async throws(WorkerError) -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            if error.code == .notFound, let notFound { throw APIError.notFound(notFound) }
            throw ConnectAPI.apiError(error)
        }
    }
}
