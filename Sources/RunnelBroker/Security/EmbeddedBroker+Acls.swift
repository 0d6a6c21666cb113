public import RunnelBrokerAPI

extension EmbeddedBroker {
    /// Nothing is enforced here; an ``AuthorizingBroker`` around this broker enforces the ACLs.
    public func authorize(anyOf checks: [AclCheck]) async throws(BrokerError) {}

    public func isAuthorized(_ operation: AclOperation, on resource: AclResource) async -> Bool { true }

    public func createAcls(_ bindings: [AclBinding]) async throws(BrokerError) {
        try await authorizer.createAcls(bindings)
    }

    public func describeAcls(_ filter: AclFilter) async throws(BrokerError) -> [AclBinding] {
        authorizer.describeAcls(filter)
    }

    public func deleteAcls(_ filters: [AclFilter]) async throws(BrokerError) -> [AclBinding] {
        try await authorizer.deleteAcls(filters)
    }
}
