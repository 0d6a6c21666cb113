#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kafka's access-control model: a binding allows or denies a principal an operation on the resources a pattern
/// names, from a host. Names and values are Kafka's (and the Confluent v3 ACL API's).
public enum AclResourceType: String, Sendable, Hashable, CaseIterable {
    /// Filters only: any type.
    case any = "ANY"
    case topic = "TOPIC"
    case group = "GROUP"
    case cluster = "CLUSTER"
    /// A Kafka Connect connector (an extension of Kafka's types): DESCRIBE or READ to see it, CREATE to create it,
    /// ALTER to configure, pause, resume, restart or stop it and change its offsets, DELETE to delete it.
    case connector = "CONNECTOR"
}

public enum AclPatternType: String, Sendable, Hashable, CaseIterable {
    /// Filters only: any pattern type.
    case any = "ANY"
    /// Filters only: every binding that applies to the filter's resource name (literal, wildcard or prefix).
    case match = "MATCH"
    /// The name is the resource's name, or `*` for every resource of the type.
    case literal = "LITERAL"
    /// The name is a prefix of the resources' names.
    case prefixed = "PREFIXED"
}

public enum AclOperation: String, Sendable, Hashable, CaseIterable {
    /// Filters only.
    case any = "ANY"
    case all = "ALL"
    case read = "READ"
    case write = "WRITE"
    case create = "CREATE"
    case delete = "DELETE"
    case alter = "ALTER"
    case describe = "DESCRIBE"
    case describeConfigs = "DESCRIBE_CONFIGS"
    case alterConfigs = "ALTER_CONFIGS"

    /// Operations an ALLOW of this one also allows, as in Kafka: reading, writing, deleting or altering a resource
    /// includes describing it; altering configs includes describing them.
    package var implied: Set<AclOperation> {
        switch self {
        case .read, .write, .delete, .alter: [.describe]
        case .alterConfigs: [.describeConfigs]
        default: []
        }
    }
}

public enum AclPermission: String, Sendable, Hashable, CaseIterable {
    /// Filters only.
    case any = "ANY"
    case allow = "ALLOW"
    case deny = "DENY"
}

/// A resource an operation is checked against.
public struct AclResource: Sendable, Hashable, CustomStringConvertible {
    public var type: AclResourceType
    public var name: String

    public init(_ type: AclResourceType, _ name: String) {
        self.type = type
        self.name = name
    }

    /// The cluster's one name in Kafka's ACLs.
    public static let clusterName = "kafka-cluster"
    public static let cluster = AclResource(.cluster, clusterName)
    public static func topic(_ name: String) -> AclResource { AclResource(.topic, name) }
    public static func group(_ name: String) -> AclResource { AclResource(.group, name) }
    public static func connector(_ name: String) -> AclResource { AclResource(.connector, name) }

    public var description: String { "\(type.rawValue):\(name)" }
}

/// One ACL.
public struct AclBinding: Sendable, Hashable, Comparable {
    public var resourceType: AclResourceType
    public var resourceName: String
    public var patternType: AclPatternType
    /// `User:<name>`, or `User:*` for every principal.
    public var principal: String
    /// A client address, or `*` for any.
    public var host: String
    public var operation: AclOperation
    public var permission: AclPermission

    public init(
        resourceType: AclResourceType,
        resourceName: String,
        patternType: AclPatternType,
        principal: String,
        host: String = "*",
        operation: AclOperation,
        permission: AclPermission
    ) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    /// Checks that the binding can be stored: concrete types (no ANY/MATCH), a `Type:name` principal, and the
    /// cluster's only name for CLUSTER. Kafka refuses the same.
    public func validate() throws(BrokerError) {
        func invalid(_ message: String) -> BrokerError { BrokerError(.invalidRequest, message) }
        guard resourceType != .any else {
            throw invalid("resource_type must be TOPIC, GROUP, CLUSTER or CONNECTOR, not ANY")
        }
        guard patternType == .literal || patternType == .prefixed else {
            throw invalid("pattern_type must be LITERAL or PREFIXED, not \(patternType.rawValue)")
        }
        guard operation != .any else { throw invalid("operation must not be ANY") }
        guard permission != .any else { throw invalid("permission must be ALLOW or DENY, not ANY") }
        guard !resourceName.isEmpty else { throw invalid("resource_name must not be empty") }
        if resourceType == .cluster && resourceName != AclResource.clusterName {
            throw invalid("The only valid name for the CLUSTER resource is \(AclResource.clusterName)")
        }
        let parts = principal.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw invalid("principal must be of the form Type:name (e.g. User:ABCD1234), not '\(principal)'")
        }
        guard host == "*" || Self.isAddress(host) else {
            throw invalid("host must be * or an IPv4 or IPv6 address, not '\(host)'")
        }
    }

    package static func isAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// Whether the binding's pattern covers a resource.
    package func covers(_ resource: AclResource) -> Bool {
        guard resourceType == resource.type else { return false }
        switch patternType {
        case .literal: return resourceName == resource.name || resourceName == "*"
        case .prefixed: return resource.name.hasPrefix(resourceName)
        case .any, .match: return false
        }
    }

    package var sortKey: [String] {
        [
            resourceType.rawValue, resourceName, patternType.rawValue, principal, host, operation.rawValue,
            permission.rawValue,
        ]
    }

    public static func < (lhs: AclBinding, rhs: AclBinding) -> Bool {
        lhs.sortKey.lexicographicallyPrecedes(rhs.sortKey)
    }
}

/// Selects bindings, as Kafka's `AclBindingFilter`: nil strings and ANY match everything; MATCH selects the
/// bindings that apply to a resource name.
public struct AclFilter: Sendable, Hashable {
    public var resourceType: AclResourceType = .any
    public var resourceName: String?
    public var patternType: AclPatternType = .any
    public var principal: String?
    public var host: String?
    public var operation: AclOperation = .any
    public var permission: AclPermission = .any

    public init(
        resourceType: AclResourceType = .any,
        resourceName: String? = nil,
        patternType: AclPatternType = .any,
        principal: String? = nil,
        host: String? = nil,
        operation: AclOperation = .any,
        permission: AclPermission = .any
    ) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    public func matches(_ binding: AclBinding) -> Bool {
        if resourceType != .any && resourceType != binding.resourceType { return false }
        if let principal, principal != binding.principal { return false }
        if let host, host != binding.host { return false }
        if operation != .any && operation != binding.operation { return false }
        if permission != .any && permission != binding.permission { return false }
        switch patternType {
        case .any:
            if let resourceName, resourceName != binding.resourceName { return false }
        case .literal, .prefixed:
            if patternType != binding.patternType { return false }
            if let resourceName, resourceName != binding.resourceName { return false }
        case .match:
            guard let resourceName else { return true }
            switch binding.patternType {
            case .literal: return binding.resourceName == resourceName || binding.resourceName == "*"
            case .prefixed: return resourceName.hasPrefix(binding.resourceName)
            case .any, .match: return false
            }
        }
        return true
    }
}
