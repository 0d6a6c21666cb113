import Foundation
import HTTPTypes
import Hummingbird
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON

/// Confluent's v3 ACL API: list with a search filter, create one or a batch, delete by filter
/// (`/v3/clusters/{cluster_id}/acls`). Values are Kafka's names (`TOPIC`, `PREFIXED`, `READ`, `ALLOW`, ...).
struct V3AclController: ProxyController {
    let broker: any Broker
    let configuration: RestProxyConfiguration

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        let acls = "/v3/clusters/{cluster_id}/acls"
        routes.get(acls) { request, context in
            let scope = try await self.scope(request, context)
            let filter = try Self.aclFilter(request, required: false)
            let found = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeAcls(filter)
            }
            return .json(
                [
                    "kind": "KafkaAclList",
                    "metadata": ["self": .string(scope.clusterURL + "/acls" + Self.query(request))],
                    "data": .array(found.map { Self.aclJSON(scope, $0) }),
                ]
            )
        }
        routes.post(acls) { request, context in
            let scope = try await self.scope(request, context)
            let binding = try Self.aclBinding(try await self.v3Body(request))
            try await brokerCall { () async throws(BrokerError) in try await self.broker.createAcls([binding]) }
            var headers = HTTPFields()
            headers[.location] = Self.searchURL(scope, binding)
            return Response(status: .created, headers: headers)
        }
        routes.post(acls + ":batch") { request, context in
            _ = try await self.scope(request, context)
            let body = try await self.v3Body(request)
            guard let entries = body["data"]?.arrayValue else {
                throw APIError.payload("data is required: an array of ACLs")
            }
            let bindings = try entries.map(Self.aclBinding)
            try await brokerCall { () async throws(BrokerError) in try await self.broker.createAcls(bindings) }
            return Response(status: .created)
        }
        routes.delete(acls) { request, context in
            let scope = try await self.scope(request, context)
            let filter = try Self.aclFilter(request, required: true)
            let deleted = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.deleteAcls([filter])
            }
            return .json(["data": .array(deleted.map { Self.aclJSON(scope, $0) })])
        }
    }
}

extension ProxyController {

    // MARK: Reading requests

    fileprivate static func aclBinding(_ body: JSONValue) throws -> AclBinding {
        func field(_ name: String) throws -> String {
            guard let value = body[name]?.stringValue else { throw APIError.payload("\(name) is required (a string)") }
            return value
        }
        let binding = AclBinding(
            resourceType: try value(AclResourceType.self, "resource_type", try field("resource_type")),
            resourceName: try field("resource_name"),
            patternType: try value(AclPatternType.self, "pattern_type", try field("pattern_type")),
            principal: try field("principal"),
            host: try field("host"),
            operation: try value(AclOperation.self, "operation", try field("operation")),
            permission: try value(AclPermission.self, "permission", try field("permission"))
        )
        do {
            try binding.validate()
        } catch {
            throw APIError(error)
        }
        return binding
    }

    /// The search filter of a list (every field optional) or a delete (type, pattern type, operation and permission
    /// required, as in Confluent's API).
    fileprivate static func aclFilter(_ request: Request, required: Bool) throws -> AclFilter {
        let query = request.uri.queryParameters
        func text(_ name: Substring) -> String? { query[name].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        func parsed<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ name: Substring, _ fallback: T) throws -> T
        where T.RawValue == String {
            guard let raw = text(name) else {
                if required { throw APIError.badRequest("\(name) is required to delete ACLs") }
                return fallback
            }
            return try value(type, String(name), raw)
        }
        return AclFilter(
            resourceType: try parsed(AclResourceType.self, "resource_type", .any),
            resourceName: text("resource_name"),
            patternType: try parsed(AclPatternType.self, "pattern_type", .any),
            principal: text("principal"),
            host: text("host"),
            operation: try parsed(AclOperation.self, "operation", .any),
            permission: try parsed(AclPermission.self, "permission", .any)
        )
    }

    fileprivate static func value<T: RawRepresentable & CaseIterable>(
        _ type: T.Type,
        _ name: String,
        _ raw: String
    ) throws
        -> T
    where T.RawValue == String {
        guard let value = T(rawValue: raw.uppercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.badRequest("\(name) must be one of \(allowed), not '\(raw)'")
        }
        return value
    }

    // MARK: Writing responses

    fileprivate static func aclJSON(_ scope: V3Scope, _ binding: AclBinding) -> JSONValue {
        [
            "kind": "KafkaAcl",
            "metadata": ["self": .string(searchURL(scope, binding))],
            "cluster_id": .string(scope.clusterId),
            "resource_type": .string(binding.resourceType.rawValue),
            "resource_name": .string(binding.resourceName),
            "pattern_type": .string(binding.patternType.rawValue),
            "principal": .string(binding.principal),
            "host": .string(binding.host),
            "operation": .string(binding.operation.rawValue),
            "permission": .string(binding.permission.rawValue),
        ]
    }

    /// The search URL that finds exactly this ACL: its `self` link and the `Location` of its creation.
    fileprivate static func searchURL(_ scope: V3Scope, _ binding: AclBinding) -> String {
        let pairs = [
            ("resource_type", binding.resourceType.rawValue), ("resource_name", binding.resourceName),
            ("pattern_type", binding.patternType.rawValue), ("principal", binding.principal), ("host", binding.host),
            ("operation", binding.operation.rawValue), ("permission", binding.permission.rawValue),
        ]
        return scope.clusterURL + "/acls?" + pairs.map { "\($0.0)=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    fileprivate static func query(_ request: Request) -> String {
        guard let query = request.uri.query, !query.isEmpty else { return "" }
        return "?" + query
    }

    fileprivate static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~*")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
