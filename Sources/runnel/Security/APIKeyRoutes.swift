import Foundation
import HTTPTypes
import Hummingbird
import RunnelBroker
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRestProxy

/// API keys over HTTP (`/security/api-keys`): list, create (the answer carries the secret, the only time it is
/// shown), describe, delete. Reading needs DESCRIBE on the cluster, changing ALTER; only a super user may create a
/// super-user key or delete one, and no request may delete the key it authenticates with, when authentication is
/// on.
struct APIKeyRoutes: Sendable {
    let keys: APIKeyStore
    /// The broker the callers' rights are checked with (the authorizing one when authentication is on).
    let access: any Broker
    /// Present when authentication is on.
    let authorizer: Authorizer?
    let maxRequestBytes: Int

    func addRoutes<Context: RequestContext>(to routes: RouteTable<Context>) {
        routes.get("/security/api-keys") { _, _ in
            try await authorize(.describe)
            let all = try await brokerCall { () async throws(BrokerError) in try await keys.list() }
            return .json(["kind": "ApiKeyList", "data": .array(all.map { $0.json() })])
        }
        routes.post("/security/api-keys") { request, _ in
            try await authorize(.alter)
            let body = try await request.jsonBody(limit: maxRequestBytes) ?? .object([])
            guard body.members != nil else { throw APIError(.badRequest, 40002, "The body must be a JSON object") }
            let description = body["description"]?.stringValue ?? ""
            let superUser = body["super_user"]?.boolValue ?? false
            if let value = body["super_user"], value.boolValue == nil, !value.isNull {
                throw APIError(.badRequest, 40002, "super_user must be true or false")
            }
            if superUser { try requireSuperUser("create a super-user key") }
            let created = try await brokerCall { () async throws(BrokerError) in
                try await keys.create(description: description, superUser: superUser)
            }
            var headers = HTTPFields()
            headers[.location] = "/security/api-keys/\(created.apiKey.key)"
            return .json(created.apiKey.json(secret: created.secret), status: .created, headers: headers)
        }
        routes.get("/security/api-keys/{key}") { _, context in
            try await authorize(.describe)
            let key = context.decodedParameter("key") ?? ""
            guard let found = try await brokerCall({ () async throws(BrokerError) in try await keys.describe(key) })
            else {
                throw Self.notFound(key)
            }
            return .json(found.json())
        }
        routes.delete("/security/api-keys/{key}") { _, context in
            try await authorize(.alter)
            let key = context.decodedParameter("key") ?? ""
            guard let found = try await brokerCall({ () async throws(BrokerError) in try await keys.describe(key) })
            else {
                throw Self.notFound(key)
            }
            if found.superUser { try requireSuperUser("delete a super-user key") }
            // So nobody locks themselves out by mistake (the data directory can always make a new key).
            if authorizer != nil && Caller.current?.principal == found.principal {
                throw APIError(
                    .conflict,
                    40903,
                    "Illegal state: this request authenticates with API key \(key); delete it with another key"
                )
            }
            _ = try await brokerCall { () async throws(BrokerError) in try await keys.delete(key) }
            return .noContent()
        }
    }

    private func authorize(_ operation: AclOperation) async throws {
        try await brokerCall { () async throws(BrokerError) in try await access.authorize(operation, on: .cluster) }
    }

    private func requireSuperUser(_ action: String) throws {
        guard let authorizer else { return }
        let principal = Caller.current?.principal ?? Caller.anonymousPrincipal
        guard authorizer.isSuperUser(principal) else {
            throw APIError(.forbidden, 40301, "Only a super user may \(action); \(principal) is not one")
        }
    }

    private static func notFound(_ key: String) -> APIError {
        APIError(.notFound, 40404, "API key \(key) does not exist")
    }

}

extension APIKey {
    /// A key as the API and the CLI show it; `secret` only in the answer that creates it.
    func json(secret: String? = nil) -> JSONValue {
        let created = Date(timeIntervalSince1970: Double(createdAt) / 1000).formatted(.iso8601)
        var fields: [(String, JSONValue)] = [("key", .string(key))]
        if let secret { fields.append(("secret", .string(secret))) }
        fields += [
            ("principal", .string(principal)), ("description", .string(description)),
            ("super_user", .bool(superUser)), ("created_at", .string(created)),
        ]
        return .object(fields)
    }
}
