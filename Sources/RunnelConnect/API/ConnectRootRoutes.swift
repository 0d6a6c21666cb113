public import Hummingbird
public import RunnelBroker
public import RunnelHTTP

/// The connect worker's REST API. Until the worker runs connectors, it answers the root document only.
public struct ConnectAPI: Sendable {
    let broker: any Broker
    let version: String
    let commit: String

    public init(broker: any Broker, version: String, commit: String) {
        self.broker = broker
        self.version = version
        self.commit = commit
    }

    public func addRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
        // Kafka Connect's root: the worker's version and the Kafka cluster it works with.
        routes.get("/") { _, _ in
            let clusterId: String
            do {
                clusterId = try await broker.describeCluster().clusterId
            } catch {
                throw APIError(.internalServerError, 500, "\(error)")
            }
            return .json(
                ["version": .string(version), "commit": .string(commit), "kafka_cluster_id": .string(clusterId)]
            )
        }
    }
}
