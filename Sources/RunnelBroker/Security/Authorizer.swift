public import RunnelBrokerAPI
import Synchronization

/// Kafka's standard authorizer over the catalog's ACLs: super users may do anything; otherwise a DENY that matches
/// wins, then an ALLOW that matches (an ALLOW of READ, WRITE, DELETE or ALTER also allows DESCRIBE; ALTER_CONFIGS
/// allows DESCRIBE_CONFIGS); with no match the answer is no. ACLs live in memory (read at start) and in
/// `metadata.db`; changes are written first, then applied.
public final class Authorizer: Sendable {
    private struct State {
        var acls: Set<AclBinding>
        var superUsers: Set<String>
    }

    private let catalog: MetadataCatalog
    private let state: Mutex<State>
    private let changes = AsyncLock()

    init(catalog: MetadataCatalog) async throws(BrokerError) {
        self.catalog = catalog
        let acls = try await catalog.loadAcls()
        let superUsers = try await catalog.loadAPIKeys().filter(\.superUser).map { Caller.principal(ofKey: $0.key) }
        state = Mutex(State(acls: Set(acls), superUsers: Set(superUsers)))
    }

    // MARK: Checks

    public func isSuperUser(_ principal: String) -> Bool {
        state.withLock { $0.superUsers.contains(principal) }
    }

    public func isAllowed(_ caller: Caller, _ operation: AclOperation, _ resource: AclResource) -> Bool {
        state.withLock { state in
            if state.superUsers.contains(caller.principal) { return true }
            var allowed = false
            for binding in state.acls where binding.covers(resource) {
                guard binding.principal == caller.principal || binding.principal == "User:*" else { continue }
                guard binding.host == "*" || binding.host == caller.host else { continue }
                switch binding.permission {
                case .deny:
                    if binding.operation == .all || binding.operation == operation { return false }
                case .allow:
                    if binding.operation == .all || binding.operation == operation
                        || binding.operation.implied.contains(operation)
                    {
                        allowed = true
                    }
                case .any:
                    continue
                }
            }
            return allowed
        }
    }

    /// Records a principal's super-user standing (from its API key).
    func setSuperUser(_ principal: String, _ isSuperUser: Bool) {
        state.withLock { state in
            if isSuperUser { state.superUsers.insert(principal) } else { state.superUsers.remove(principal) }
        }
    }

    // MARK: Managing ACLs

    public func createAcls(_ bindings: [AclBinding]) async throws(BrokerError) {
        for binding in bindings { try binding.validate() }
        try await changes.withLock { () async throws(BrokerError) in
            try await catalog.insertAcls(bindings)
            state.withLock { $0.acls.formUnion(bindings) }
        }
    }

    public func describeAcls(_ filter: AclFilter) -> [AclBinding] {
        state.withLock { $0.acls.filter(filter.matches) }.sorted()
    }

    /// Deletes the ACLs each filter matches, returning them.
    public func deleteAcls(_ filters: [AclFilter]) async throws(BrokerError) -> [AclBinding] {
        try await changes.withLock { () async throws(BrokerError) -> [AclBinding] in
            let doomed = state.withLock { state in
                state.acls.filter { binding in filters.contains { $0.matches(binding) } }
            }
            guard !doomed.isEmpty else { return [] }
            try await catalog.deleteAcls(Array(doomed))
            state.withLock { $0.acls.subtract(doomed) }
            return doomed.sorted()
        }
    }
}
