import Foundation
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

/// ACL matching (Kafka's rules), the authorizing broker's checks, and API keys with their cached verification.
@Suite struct SecurityTests {
    static let alice = Caller(principal: "User:ALICE", host: "10.0.0.1")

    static func allow(
        _ type: AclResourceType,
        _ name: String,
        _ operation: AclOperation,
        pattern: AclPatternType = .literal,
        principal: String = "User:ALICE",
        host: String = "*",
        permission: AclPermission = .allow
    ) -> AclBinding {
        AclBinding(
            resourceType: type,
            resourceName: name,
            patternType: pattern,
            principal: principal,
            host: host,
            operation: operation,
            permission: permission
        )
    }

    @Test func aclsFollowKafkasRules() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let authorizer = broker.authorizer
        try await authorizer.createAcls([
            Self.allow(.topic, "orders", .read),
            Self.allow(.topic, "logs-", .write, pattern: .prefixed),
            Self.allow(.topic, "*", .describeConfigs, principal: "User:*"),
            Self.allow(.group, "g", .all),
            Self.allow(.topic, "logs-secret", .write, permission: .deny),
            Self.allow(.topic, "shared", .all, host: "10.0.0.9"),
            Self.allow(.topic, "cfg", .alterConfigs),
        ])
        func allowed(_ operation: AclOperation, _ resource: AclResource, _ caller: Caller = SecurityTests.alice) -> Bool
        {
            authorizer.isAllowed(caller, operation, resource)
        }
        #expect(allowed(.read, .topic("orders")))
        #expect(allowed(.describe, .topic("orders")), "READ implies DESCRIBE")
        #expect(!allowed(.write, .topic("orders")))
        #expect(!allowed(.read, .topic("orders2")), "a literal name is exact")
        #expect(allowed(.write, .topic("logs-app")))
        #expect(!allowed(.write, .topic("logs")), "a prefix must match whole")
        #expect(!allowed(.write, .topic("logs-secret")), "DENY wins over a matching ALLOW")
        #expect(allowed(.describe, .topic("logs-secret")), "a DENY of WRITE does not deny DESCRIBE")
        #expect(allowed(.describeConfigs, .topic("anything")), "User:* and the literal * match everyone, everything")
        #expect(allowed(.describeConfigs, .topic("x"), Caller(principal: "User:BOB")))
        #expect(allowed(.read, .group("g")) && allowed(.delete, .group("g")), "ALL allows every operation")
        #expect(!allowed(.read, .group("g2")))
        #expect(!allowed(.read, .topic("shared")), "the ACL is for another host")
        #expect(allowed(.read, .topic("shared"), Caller(principal: "User:ALICE", host: "10.0.0.9")))
        #expect(allowed(.describeConfigs, .topic("cfg")), "ALTER_CONFIGS implies DESCRIBE_CONFIGS")
        #expect(!allowed(.describe, .topic("cfg")))
        #expect(!allowed(.create, .cluster))

        // Filters: MATCH finds what applies to a name; literal and prefixed filters are exact.
        let matching = authorizer.describeAcls(
            AclFilter(resourceType: .topic, resourceName: "logs-secret", patternType: .match)
        )
        #expect(Set(matching.map(\.resourceName)) == ["logs-", "logs-secret", "*"])
        #expect(authorizer.describeAcls(AclFilter(resourceName: "logs-", patternType: .literal)).isEmpty)
        #expect(authorizer.describeAcls(AclFilter(principal: "User:*")).count == 1)

        // Stored: a new broker on the same directory enforces the same ACLs; deletes return what they deleted.
        try await broker.close()
        let reopened = try await fixture.open()
        #expect(reopened.authorizer.isAllowed(Self.alice, .write, .topic("logs-app")))
        let deleted = try await reopened.authorizer.deleteAcls([AclFilter(resourceType: .topic, patternType: .prefixed)]
        )
        #expect(deleted.map(\.resourceName) == ["logs-"])
        #expect(!reopened.authorizer.isAllowed(Self.alice, .write, .topic("logs-app")))
        try await reopened.close()
    }

    @Test func invalidAclsAreRefused() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let invalid = [
            Self.allow(.cluster, "other", .alter),
            Self.allow(.any, "x", .read),
            Self.allow(.topic, "x", .read, pattern: .match),
            Self.allow(.topic, "x", .any),
            Self.allow(.topic, "x", .read, principal: "ALICE"),
            Self.allow(.topic, "", .read),
            Self.allow(.topic, "x", .read, permission: .any),
        ]
        for binding in invalid {
            await #expect(throws: BrokerError.self, "\(binding)") { try await broker.createAcls([binding]) }
        }
        #expect(try await broker.describeAcls(AclFilter()).isEmpty)
        try await broker.close()
    }

    @Test func theAuthorizingBrokerChecksEveryOperationForTheCaller() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let guarded = AuthorizingBroker(wrapping: broker, authorizer: broker.authorizer)
        _ = try await broker.createTopic(CreateTopicRequest(name: "mine"))
        _ = try await broker.createTopic(CreateTopicRequest(name: "theirs"))
        try await broker.createAcls([Self.allow(.topic, "mine", .write), Self.allow(.topic, "mine", .read)])

        // Nobody bound: everything is refused (fail closed).
        await #expect(throws: BrokerError.self) { try await guarded.listTopics(includeInternal: false) }

        try await Caller.$current.withValue(Self.alice) {
            #expect(try await guarded.listTopics(includeInternal: true).map(\.name) == ["mine"])
            let produced = try await guarded.produce(
                topic: "mine",
                records: [ProducerRecord(value: buffer("v"))],
                options: ProduceOptions()
            )
            #expect(produced.count == 1)
            // Kafka-format batches: the partitions of a topic without WRITE fail alone.
            let batches = try ProduceFetchTests.clientBatch(["v"])
            let results = try await guarded.produce(
                [
                    PartitionBatches(tp("theirs", 0), batches: batches),
                    PartitionBatches(tp("mine", 0), batches: batches),
                ],
                options: ProduceOptions()
            )
            #expect(results[0].result.failure?.code == .topicAuthorizationFailed)
            #expect(try results[1].result.get().baseOffset == 1)
            do {
                _ = try await guarded.produce(
                    topic: "theirs",
                    records: [ProducerRecord(value: buffer("v"))],
                    options: ProduceOptions()
                )
                Issue.record("produce to a topic without WRITE succeeded")
            } catch {
                #expect((error as? BrokerError)?.code == .topicAuthorizationFailed)
            }
            do {
                _ = try await guarded.describeTopic("does-not-exist")
                Issue.record("describe without DESCRIBE succeeded")
            } catch {
                // Refused before existence is looked at, so names cannot be probed.
                #expect((error as? BrokerError)?.code == .topicAuthorizationFailed)
            }
            do {
                _ = try await guarded.createTopic(CreateTopicRequest(name: "new"))
                Issue.record("create without CREATE succeeded")
            } catch {
                #expect((error as? BrokerError)?.code == .topicAuthorizationFailed)
            }
            do {
                try await guarded.createAcls([Self.allow(.cluster, "kafka-cluster", .all)])
                Issue.record("granting oneself ALL succeeded")
            } catch {
                #expect((error as? BrokerError)?.code == .clusterAuthorizationFailed)
            }
            #expect(try await guarded.listGroups().isEmpty)
            #expect(try await guarded.partitionStorage().map(\.topicPartition.topic) == ["mine"])
        }
        try await broker.close()
    }

    @Test func apiKeysAreHashedVerifiedOnceAndRevocable() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let keys = broker.apiKeys
        let created = try await keys.create(description: "test", superUser: false)
        let principal = created.apiKey.principal
        #expect(created.apiKey.key.count == 16)
        #expect(created.secret.count == 64)
        #expect(
            try await keys.authenticate(key: created.apiKey.key, secret: created.secret)
                == .authenticated(principal: principal)
        )
        // Remembered: the same secret again is answered from the cache (no assertion on time; the path is exercised).
        #expect(
            try await keys.authenticate(key: created.apiKey.key, secret: created.secret)
                == .authenticated(principal: principal)
        )
        #expect(try await keys.authenticate(key: created.apiKey.key, secret: created.secret + "x") == .rejected)
        #expect(try await keys.authenticate(key: created.apiKey.key, secret: created.secret + "x") == .rejected)
        #expect(try await keys.authenticate(key: "NOSUCHKEY", secret: created.secret) == .rejected)
        #expect(!broker.authorizer.isSuperUser(created.apiKey.principal))

        let admin = try await keys.create(description: "admin", superUser: true)
        #expect(broker.authorizer.isSuperUser(admin.apiKey.principal))
        #expect(Set(try await keys.list().map(\.key)) == [created.apiKey.key, admin.apiKey.key])

        #expect(try await keys.delete(created.apiKey.key))
        #expect(try await keys.authenticate(key: created.apiKey.key, secret: created.secret) == .rejected)
        #expect(try await !keys.delete(created.apiKey.key))
        #expect(try await keys.delete(admin.apiKey.key))
        #expect(!broker.authorizer.isSuperUser(admin.apiKey.principal))
        try await broker.close()

        // Only the hash is stored.
        let catalog = try Data(contentsOf: URL(fileURLWithPath: fixture.directory.path + "/metadata.db"))
        #expect(catalog.range(of: Data(created.secret.utf8)) == nil)
    }

    /// A NUL (or any control character) in a key id or secret: refused before any lookup, so `KEY\0x` cannot pass
    /// for `KEY` and a C library can never see a shortened secret.
    @Test func controlCharactersInCredentialsAreRefused() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let keys = broker.apiKeys
        let created = try await keys.create(description: "test", superUser: false)
        let key = created.apiKey.key
        for (id, secret) in [
            (key + "\u{0}x", created.secret), (key, created.secret + "\u{0}"), (key + "\n", created.secret),
            (key, created.secret + "\u{7F}"), ("\u{0}" + key, created.secret),
        ] {
            #expect(try await keys.authenticate(key: id, secret: secret, from: "10.0.0.\(id.count)") == .rejected)
        }
        #expect(
            try await keys.authenticate(key: key, secret: created.secret) == .authenticated(principal: "User:" + key)
        )
        try await broker.close()
    }

    /// Failures past the limit are throttled (per key id and per address) without being checked; the right secret
    /// still gets in, and an unknown key id counts like a wrong secret.
    @Test func failedAuthenticationsAreThrottledButTheRightSecretIsNot() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let created = try await broker.apiKeys.create(description: "test", superUser: false)
        let key = created.apiKey.key
        var throttled = 0
        for attempt in 0..<15 {
            let result = try await broker.apiKeys.authenticate(key: key, secret: "wrong\(attempt)", from: "192.0.2.1")
            if case .throttled(let retryAfter) = result {
                throttled += 1
                #expect(retryAfter > .zero)
            }
        }
        #expect(throttled == 5, "ten failures are allowed at once, then each waits for its token")
        #expect(
            try await broker.apiKeys.authenticate(key: key, secret: created.secret, from: "192.0.2.1")
                == .authenticated(principal: "User:" + key)
        )
        // From that address, another key id is throttled too; from elsewhere, an unknown id is just rejected.
        if case .throttled = try await broker.apiKeys.authenticate(key: "OTHERKEY", secret: "x", from: "192.0.2.1") {
        } else {
            Issue.record("the address's failures should throttle it")
        }
        #expect(try await broker.apiKeys.authenticate(key: "NOSUCHKEY", secret: "x", from: "192.0.2.2") == .rejected)
        try await broker.close()
    }

    @Test func keysMadeOfflineAreSeenByARunningBroker() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let offline = try await APIKeyStore.open(dataDirectory: fixture.directory.path)
        let created = try await offline.create(description: "offline", superUser: true)
        try offline.close()
        #expect(
            try await broker.apiKeys.authenticate(key: created.apiKey.key, secret: created.secret)
                == .authenticated(principal: created.apiKey.principal)
        )
        #expect(broker.authorizer.isSuperUser(created.apiKey.principal), "learned when the key authenticated")
        try await broker.close()
    }
}
