import NIOCore
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

@Suite struct ConfigTests {
    @Test func topicConfigsHaveKafkaNamesAndDefaults() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let configs = Dictionary(
            uniqueKeysWithValues: try await broker.describeTopicConfigs("t").map { ($0.name, $0) }
        )
        let expected: [String: String] = [
            "cleanup.policy": "delete",
            "retention.ms": "604800000",
            "retention.bytes": "-1",
            "segment.bytes": "1073741824",
            "segment.ms": "604800000",
            "min.cleanable.dirty.ratio": "0.5",
            "delete.retention.ms": "86400000",
            "max.message.bytes": "1048588",
            "message.timestamp.type": "CreateTime",
            "compression.type": "producer",
            "flush.messages": "9223372036854775807",
            "flush.ms": "9223372036854775807",
            "min.insync.replicas": "1",
        ]
        for (name, value) in expected {
            #expect(configs[name]?.value == value, "\(name)")
            #expect(configs[name]?.source == .defaultConfig, "\(name)")
            #expect(configs[name]?.isDefault == true, "\(name)")
        }
        #expect(configs["retention.ms"]?.synonyms.first?.name == "log.retention.ms")
        try await broker.close()
    }

    @Test func invalidConfigsAreClearErrorsAndNothingIsApplied() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        let unknown = await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "t", configs: ["retention.msx": "1"]))
        }
        #expect(unknown == BrokerError(.invalidConfig, "Unknown topic config name: retention.msx"))
        let bad = await #expect(throws: BrokerError.self) {
            try await broker.createTopic(CreateTopicRequest(name: "t", configs: ["retention.ms": "soon"]))
        }
        #expect(bad?.code == .invalidConfig)
        #expect(bad?.message.contains("retention.ms") == true)
        for (key, value) in [
            ("cleanup.policy", "archive"), ("min.insync.replicas", "0"), ("min.cleanable.dirty.ratio", "2"),
            ("message.timestamp.type", "WallClock"), ("segment.bytes", "10"), ("compression.type", "brotli"),
        ] {
            await #expect(throws: BrokerError.self, "\(key)=\(value)") {
                try await broker.createTopic(CreateTopicRequest(name: "t", configs: [key: value]))
            }
        }
        #expect(try await broker.listTopics(includeInternal: false).isEmpty)

        _ = try await broker.createTopic(CreateTopicRequest(name: "t", configs: ["retention.ms": "1000"]))
        // One bad change in a set: none is applied.
        await #expect(throws: BrokerError.self) {
            try await broker.alterTopicConfigs(
                "t",
                [.set("retention.bytes", "100"), .set("flush.ms", "-5")],
                validateOnly: false
            )
        }
        let overrides = try await broker.describeTopic("t").configOverrides
        #expect(overrides == ["retention.ms": "1000"])
        try await broker.close()
    }

    @Test func alteredConfigsApplyToLiveLogsAndSurviveRestart() async throws {
        let fixture = BrokerFixture()
        var broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        try await broker.alterTopicConfigs(
            "t",
            [.set("max.message.bytes", "2000"), .set("message.timestamp.type", "LogAppendTime")],
            validateOnly: false
        )
        for partition: Int32 in 0..<2 {
            let log = try #require(broker.logManager.log(for: tp("t", partition)))
            #expect(log.config.maxMessageBytes == 2000)
            #expect(log.config.messageTimestampType == .logAppendTime)
        }
        let configs = try await broker.describeTopicConfigs("t")
        let entry = try #require(configs.first { $0.name == "max.message.bytes" })
        #expect(entry.value == "2000")
        #expect(entry.source == .dynamicTopicConfig)
        #expect(entry.synonyms.map(\.source) == [.dynamicTopicConfig, .defaultConfig])

        // validateOnly changes nothing.
        try await broker.alterTopicConfigs("t", [.set("retention.ms", "5")], validateOnly: true)
        #expect(try await broker.describeTopic("t").configOverrides["retention.ms"] == nil)
        try await broker.close()

        broker = try await fixture.open()
        #expect(try #require(broker.logManager.log(for: tp("t", 1))).config.maxMessageBytes == 2000)
        // Deleting an override falls back to the default, on the live log.
        try await broker.alterTopicConfigs("t", [.delete("max.message.bytes")], validateOnly: false)
        #expect(try #require(broker.logManager.log(for: tp("t", 1))).config.maxMessageBytes == 1_048_588)
        try await broker.close()
    }

    @Test func brokerDefaultsComeFromServerProperties() async throws {
        let text = """
            # a Kafka server.properties
            log.retention.hours=24
            message.max.bytes = 5000
            log.cleanup.policy=compact
            listeners=PLAINTEXT://:9092
            num.partitions=4
            """
        let config = try BrokerConfig(properties: BrokerConfig.parseProperties(text))
        #expect(config.topicDefaults["retention.ms"] == "86400000")
        #expect(config.topicDefaults["max.message.bytes"] == "5000")
        #expect(config.numPartitions == 4)
        #expect(config.ignoredKeys == ["listeners"])

        let fixture = BrokerFixture(config: config)
        let broker = try await fixture.open()
        let created = try await broker.createTopic(CreateTopicRequest(name: "t"))
        #expect(created.partitions.count == 4)
        let configs = try await broker.describeTopicConfigs("t")
        let retention = try #require(configs.first { $0.name == "retention.ms" })
        #expect(retention.value == "86400000")
        #expect(retention.source == .staticBrokerConfig)
        #expect(retention.synonyms.first?.name == "log.retention.ms")
        #expect(try #require(broker.logManager.log(for: tp("t", 0))).config.maxMessageBytes == 5000)
        let brokerConfigs = try await broker.describeBrokerConfigs(nodeId: 1)
        let messageMaxBytes = try #require(brokerConfigs.first { $0.name == "message.max.bytes" })
        #expect(messageMaxBytes.value == "5000")
        #expect(messageMaxBytes.source == .staticBrokerConfig)
        let offsetsPartitions = try #require(brokerConfigs.first { $0.name == "offsets.topic.num.partitions" })
        #expect(offsetsPartitions.source == .staticBrokerConfig)  // the fixture sets 5
        let segmentBytes = try #require(brokerConfigs.first { $0.name == "log.segment.bytes" })
        #expect(segmentBytes.value == "1073741824")
        #expect(segmentBytes.source == .defaultConfig)
        try await broker.close()
    }

    @Test func badBrokerPropertiesAreErrors() {
        #expect(throws: BrokerError.self) { try BrokerConfig(properties: ["message.max.bytes": "lots"]) }
        #expect(throws: BrokerError.self) { try BrokerConfig(properties: ["default.replication.factor": "3"]) }
        #expect(throws: BrokerError.self) { try BrokerConfig(properties: ["auto.create.topics.enable": "yes"]) }
        #expect(throws: BrokerError.self) { try BrokerConfig.parseProperties("just a line") }
    }
}
