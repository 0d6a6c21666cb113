import HTTPTypes
import Hummingbird
import RunnelBroker
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRestProxy

/// Byte-rate quotas over HTTP (`/security/quotas`): Kafka's `producer_byte_rate` and `consumer_byte_rate` per
/// principal (`User:<key>`, `User:ANONYMOUS` without authentication, or `<default>` for everyone without their own).
/// Reading needs DESCRIBE_CONFIGS on the cluster, changing ALTER_CONFIGS, as Kafka's client-quota APIs.
struct QuotaRoutes: Sendable {
    let quotas: Quotas
    let access: any Broker
    let maxRequestBytes: Int

    func addRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
        routes.get("/security/quotas") { _, _ in
            try await authorize(.describeConfigs)
            return .json(["kind": "QuotaList", "data": .array(quotas.list().map(Self.json))])
        }
        routes.get("/security/quotas/{principal}") { _, context in
            try await authorize(.describeConfigs)
            let principal = context.decodedParameter("principal") ?? ""
            guard let quota = quotas.list().first(where: { $0.principal == principal }) else {
                throw Self.notFound(principal)
            }
            return .json(Self.json(quota))
        }
        routes.put("/security/quotas/{principal}") { request, context in
            try await authorize(.alterConfigs)
            let principal = context.decodedParameter("principal") ?? ""
            guard principal == Quota.defaultPrincipal || principal.split(separator: ":").count == 2 else {
                throw APIError(.badRequest, 40002, "principal must be <default> or Type:name, not '\(principal)'")
            }
            guard let body = try await request.jsonBody(limit: maxRequestBytes), body.members != nil else {
                throw APIError(.badRequest, 40002, "The body must be a JSON object")
            }
            func rate(_ field: String) throws -> Int64? {
                guard let value = body[field], !value.isNull else { return nil }
                guard let number = value.int64Value, number > 0 else {
                    throw APIError(.badRequest, 40002, "\(field) must be a positive whole number of bytes per second")
                }
                return number
            }
            let quota = Quota(
                principal: principal,
                producerByteRate: try rate("producer_byte_rate"),
                consumerByteRate: try rate("consumer_byte_rate")
            )
            try await brokerCall { () async throws(BrokerError) in try await quotas.set(quota) }
            return .json(Self.json(quota))
        }
        routes.delete("/security/quotas/{principal}") { _, context in
            try await authorize(.alterConfigs)
            let principal = context.decodedParameter("principal") ?? ""
            let existed = try await brokerCall { () async throws(BrokerError) in try await quotas.delete(principal) }
            guard existed else { throw Self.notFound(principal) }
            return .noContent()
        }
    }

    private func authorize(_ operation: AclOperation) async throws {
        try await brokerCall { () async throws(BrokerError) in try await access.authorize(operation, on: .cluster) }
    }

    private static func notFound(_ principal: String) -> APIError {
        APIError(.notFound, 40404, "No quota is set for \(principal)")
    }

    static func json(_ quota: Quota) -> JSONValue {
        [
            "principal": .string(quota.principal),
            "producer_byte_rate": quota.producerByteRate.map { .int($0) } ?? .null,
            "consumer_byte_rate": quota.consumerByteRate.map { .int($0) } ?? .null,
        ]
    }
}
