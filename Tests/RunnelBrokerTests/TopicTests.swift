import Foundation
import NIOCore
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

@Suite struct TopicTests {
    @Test func createDescribeListDelete() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let created = try await broker.createTopic(CreateTopicRequest(name: "orders", partitions: 3))
        #expect(created.partitions.map(\.partition) == [0, 1, 2])
        #expect(created.partitions.allSatisfy { $0.leader == 1 && $0.replicas == [1] && $0.inSyncReplicas == [1] })
        #expect(created.replicationFactor == 1)
        #expect(created.topicId.count == 22)

        let listed = try await broker.listTopics(includeInternal: false)
        #expect(listed.map(\.name) == ["orders"])
        let withInternal = try await broker.listTopics(includeInternal: true)
        #expect(withInternal.map(\.name) == ["__consumer_offsets", "orders"])
        #expect(withInternal.first?.isInternal == true)
        #expect(try await broker.describeTopic("orders") == created)

        try await broker.produceAll("orders", [ProducerRecord(value: buffer("x"))])
        try await broker.deleteTopic("orders")
        await #expect(throws: BrokerError(.unknownTopicOrPartition, "This server does not host this topic: orders")) {
            try await broker.describeTopic("orders")
        }
        try await broker.close()
        // Deletion is renamed away, then removed in the background; nothing of the topic stays on disk.
        let leftovers = filesUnder(fixture.directory.file("logs")).filter { $0.hasPrefix("orders") }
        #expect(leftovers.isEmpty, "left on disk: \(leftovers)")
    }

    @Test(arguments: [
        ("", "it can't be empty"),
        (".", "cannot be \".\" or \"..\""),
        ("..", "cannot be \".\" or \"..\""),
        (String(repeating: "a", count: 250), "can't be longer than 249 characters"),
        ("bad name", "contains a character other than ASCII alphanumerics"),
        ("tópico", "contains a character other than ASCII alphanumerics"),
        ("a/b", "contains a character other than ASCII alphanumerics"),
    ])
    func invalidNamesAreRejected(name: String, message: String) async throws {
        let fixture = BrokerFixture("invalidNames")
        let broker = try await fixture.open()
        let error = await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: name))
        }
        #expect(error?.code == .invalidTopic)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        try await broker.close()
    }

    @Test func longestLegalNameIsAccepted() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let name = String(repeating: "n", count: 249)
        _ = try await broker.createTopic(CreateTopicRequest(name: name))
        #expect(try await broker.describeTopic(name).name == name)
        try await broker.close()
    }

    @Test func internalNamesAreReserved() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        for name in ["__consumer_offsets", "__transaction_state"] {
            let error = await #expect(throws: BrokerError.self) {
                try await broker.createTopic(CreateTopicRequest(name: name))
            }
            #expect(error?.code == .invalidRequest)
        }
        await #expect(throws: BrokerError.self) { try await broker.deleteTopic("__consumer_offsets") }
        await #expect(throws: BrokerError.self) {
            try await broker.createPartitions(topic: "__consumer_offsets", totalCount: 60, validateOnly: false)
        }
        let produced = await #expect(throws: BrokerError.self) {
            try await broker.produce(
                topic: "__consumer_offsets",
                records: [ProducerRecord(value: buffer("x"))],
                options: ProduceOptions()
            )
        }
        #expect(produced?.code == .invalidTopic)
        try await broker.close()
    }

    @Test func namesCollidingAfterFoldingPeriodsAreRejected() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "metrics.cpu"))
        let error = await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "metrics_cpu"))
        }
        #expect(error?.code == .invalidTopic)
        #expect(error?.message == "Topic 'metrics_cpu' collides with existing topic: metrics.cpu")
        // Mixing '.' and '_' in one name is allowed (with a warning in the log).
        _ = try await broker.createTopic(CreateTopicRequest(name: "app.user_events"))
        #expect(TopicNames.hasCollisionChars("app.user_events"))
        let duplicate = await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "metrics.cpu"))
        }
        #expect(duplicate == BrokerError(.topicAlreadyExists, "Topic 'metrics.cpu' already exists."))
        try await broker.close()
    }

    @Test func replicationFactorAboveOneIsRefused() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let error = await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 1, replicationFactor: 3))
        }
        #expect(
            error == BrokerError(.invalidReplicationFactor, "Replication factor: 3 larger than available brokers: 1.")
        )
        await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "t", replicationFactor: 0))
        }
        await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 0))
        }
        #expect(try await broker.listTopics(includeInternal: false).isEmpty)
        try await broker.close()
    }

    @Test func partitionsGrowButNeverShrink() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        try await broker.createPartitions(topic: "t", totalCount: 5, validateOnly: false)
        #expect(try await broker.describeTopic("t").partitions.count == 5)
        let shrink = await #expect(throws: BrokerError.self) {
            try await broker.createPartitions(topic: "t", totalCount: 3, validateOnly: false)
        }
        #expect(
            shrink
                == BrokerError(
                    .invalidPartitions,
                    "Topic currently has 5 partitions, which is higher than the requested 3."
                )
        )
        let same = await #expect(throws: BrokerError.self) {
            try await broker.createPartitions(topic: "t", totalCount: 5, validateOnly: false)
        }
        #expect(same?.code == .invalidPartitions)
        try await broker.createPartitions(topic: "t", totalCount: 8, validateOnly: true)
        #expect(try await broker.describeTopic("t").partitions.count == 5)
        // The new partitions take records.
        try await broker.produceAll("t", [ProducerRecord(value: buffer("p4"), partition: 4)])
        #expect(try await broker.readAll(tp("t", 4)).map { string($0.value) } == ["p4"])
        try await broker.close()
    }

    @Test func validateOnlyCreatesNothing() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let description = try await broker.createTopic(
            CreateTopicRequest(name: "t", partitions: 4, configs: ["retention.ms": "1000"], validateOnly: true)
        )
        #expect(description.partitions.count == 4)
        #expect(try await broker.listTopics(includeInternal: false).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory.file("logs/t-0")))
        try await broker.close()
    }

    @Test func topicsConfigsAndIdsSurviveRestart() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        let clusterId = broker.clusterId
        let created = try await broker.createTopic(
            CreateTopicRequest(
                name: "t",
                partitions: 3,
                configs: ["retention.ms": "60000", "cleanup.policy": "compact"]
            )
        )
        try await broker.produceAll("t", [ProducerRecord(key: buffer("k"), value: buffer("v"))])
        try await broker.close()

        broker = try await fixture.open()
        #expect(broker.clusterId == clusterId)
        #expect(try await broker.describeTopic("t") == created)
        let log = try #require(broker.logManager.log(for: tp("t", 0)))
        #expect(log.config.retentionMs == 60000)
        #expect(log.config.cleanupPolicy == .compact)
        try await broker.close()

        let meta = try String(contentsOfFile: fixture.directory.file("meta.properties"), encoding: .utf8)
        #expect(meta.contains("cluster.id=\(clusterId)\n"))
        #expect(meta.contains("node.id=1\n"))
        #expect(meta.contains("version=1\n"))
    }

    @Test func aDataDirectoryServesOneBrokerAtATime() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let error = await #expect(throws: BrokerError.self) { try await fixture.open() }
        #expect(error?.message.contains("is in use by another process") == true, "\(error?.message ?? "")")
        try await broker.close()
        // Released on close.
        try await fixture.open().close()
    }

    @Test func aDifferentNodeIdIsRefused() async throws {
        let fixture = BrokerFixture()
        try await fixture.open().close()
        var configuration = fixture.configuration
        configuration.config.nodeId = 7
        let error = await #expect(throws: BrokerError.self) {
            try await EmbeddedBroker.open(configuration, logger: quietLogger)
        }
        #expect(error?.message.contains("doesn't match the configured node.id 7") == true)
    }

    @Test func theOffsetsTopicHasFiftyCompactedPartitionsByDefault() async throws {
        let fixture = BrokerFixture()
        // The fixture lowers the partition count to keep tests fast; use the built-in defaults here.
        var configuration = fixture.configuration
        configuration.config = BrokerConfig()
        let broker = try await EmbeddedBroker.open(configuration, logger: quietLogger)
        let offsets = try await broker.describeTopic("__consumer_offsets")
        #expect(offsets.partitions.count == 50)
        #expect(offsets.isInternal)
        let configs = try await broker.describeTopicConfigs("__consumer_offsets")
        #expect(configs.first { $0.name == "cleanup.policy" }?.value == "compact")
        #expect(configs.first { $0.name == "segment.bytes" }?.value == "104857600")
        try await broker.close()
    }

    @Test func autoCreateIsOffByDefaultAndConfigurable() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        let error = await #expect(throws: BrokerError.self) {
            try await broker.produce(
                topic: "typo",
                records: [ProducerRecord(value: buffer("x"))],
                options: ProduceOptions()
            )
        }
        #expect(error?.code == .unknownTopicOrPartition)
        #expect(try await broker.listTopics(includeInternal: false).isEmpty)
        try await broker.close()

        var configuration = fixture.configuration
        configuration.config = try BrokerConfig(properties: [
            "auto.create.topics.enable": "true", "num.partitions": "3",
        ])
        configuration.config.offsetsTopicNumPartitions = 5
        broker = try await EmbeddedBroker.open(configuration, logger: quietLogger)
        let outcome = try await broker.produceAll("fresh", [ProducerRecord(value: buffer("x"))])
        #expect(outcome.count == 1)
        #expect(try await broker.describeTopic("fresh").partitions.count == 3)
        try await broker.close()
    }

    @Test func logsWithoutACatalogEntryAreDeletedAtStart() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "kept", partitions: 1))
        try await broker.close()
        // A topic deleted from the catalog just before a crash leaves its log behind.
        try FileManager.default.createDirectory(
            atPath: fixture.directory.file("logs/ghost-0"),
            withIntermediateDirectories: true
        )
        broker = try await fixture.open()
        #expect(try await broker.listTopics(includeInternal: false).map(\.name) == ["kept"])
        try await broker.close()
        #expect(!filesUnder(fixture.directory.file("logs")).contains { $0.hasPrefix("ghost") })
    }

    @Test func logsAreAdoptedWhenTheCatalogWasNeverReconciled() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "events", partitions: 2))
        try await broker.produceAll("events", [ProducerRecord(value: buffer("kept"), partition: 0)])
        try await broker.close()
        // The catalog is lost, and a start that created a new one failed before reconciling: the next start must
        // still adopt the logs, not delete them as leftovers of deleted topics.
        for file in ["metadata.db", "metadata.db-wal", "metadata.db-shm"] {
            try? FileManager.default.removeItem(atPath: fixture.directory.file(file))
        }
        try MetadataCatalog.open(path: fixture.directory.file("metadata.db")).close()
        broker = try await fixture.open()
        #expect(try await broker.readAll(tp("events", 0)).map { string($0.value) } == ["kept"])
        try await broker.close()
    }

    @Test func logsAreAdoptedWhenTheCatalogIsNew() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "events", partitions: 2))
        try await broker.produceAll("events", [ProducerRecord(value: buffer("kept"), partition: 1)])
        try await broker.close()
        for file in ["metadata.db", "metadata.db-wal", "metadata.db-shm"] {
            try? FileManager.default.removeItem(atPath: fixture.directory.file(file))
        }
        broker = try await fixture.open()
        #expect(try await broker.describeTopic("events").partitions.count == 2)
        #expect(try await broker.readAll(tp("events", 1)).map { string($0.value) } == ["kept"])
        try await broker.close()
    }
}
