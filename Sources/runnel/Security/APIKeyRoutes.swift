import Foundation
import HTTPTypes
import Hummingbird
import RunnelBroker
import RunnelHTTP
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
            let all = try await call { () async throws(BrokerError) in try await keys.list() }
            return .json(["kind": "ApiKeyList", "data": .array(all.map(Self.json))])
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
            let created = try await call { () async throws(BrokerError) in
                try await keys.create(description: description, superUser: superUser)
            }
            guard case .object(var fields) = Self.json(created.apiKey) else { throw APIError.notFound("") }
            fields.insert(("secret", .string(created.secret)), at: 2)
            var headers = HTTPFields()
            headers[.location] = "/security/api-keys/\(created.apiKey.key)"
            return .json(.object(fields), status: .created, headers: headers)
        }
        routes.get("/security/api-keys/{key}") { _, context in
            try await authorize(.describe)
            let key = QuotaRoutes.parameter(context, "key")
            guard let found = try await call({ () async throws(BrokerError) in try await keys.describe(key) }) else {
                throw Self.notFound(key)
            }
            return .json(Self.json(found))
        }
        routes.delete("/security/api-keys/{key}") { _, context in
            try await authorize(.alter)
            let key = QuotaRoutes.parameter(context, "key")
            guard let found = try await call({ () async throws(BrokerError) in try await keys.describe(key) }) else {
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
            _ = try await call { () async throws(BrokerError) in try await keys.delete(key) }
            return .noContent()
        }
    }

    private func authorize(_ operation: AclOperation) async throws {
        try await call { () async throws(BrokerError) in try await access.authorize(operation, on: .cluster) }
    }

    private func requireSuperUser(_ action: String) throws {
        guard let authorizer else { return }
        let principal = Caller.current?.principal ?? Caller.anonymousPrincipal
        guard authorizer.isSuperUser(principal) else {
            throw APIError(.forbidden, 40301, "Only a super user may \(action); \(principal) is not one")
        }
    }

    private func call<T>(_ body: () async throws(BrokerError) -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            throw APIError(error)
        }
    }

    private static func notFound(_ key: String) -> APIError {
        APIError(.notFound, 40404, "API key \(key) does not exist")
    }

    static func json(_ key: APIKey) -> JSONValue {
        let created = Date(timeIntervalSince1970: Double(key.createdAt) / 1000)
        return [
            "key": .string(key.key),
            "principal": .string(key.principal),
            "description": .string(key.description),
            "super_user": .bool(key.superUser),
            "created_at": .string(created.formatted(.iso8601)),
        ]
    }
}
