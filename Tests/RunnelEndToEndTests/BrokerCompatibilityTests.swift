import Foundation
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

/// The broker's Kafka-visible choices checked against kafka-python, which shares no code with ours: where keyed
/// records land, and the format of committed offsets in `__consumer_offsets`.
@Suite struct BrokerCompatibilityTests {
    @Test func keyedRecordsLandOnTheSamePartitionsAsWithKafkaPython() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        var generator = SystemRandomNumberGenerator()
        let keys: [[UInt8]] = (0..<2000).map { index in
            (0..<(index % 40)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        let keysFile = directory.file("keys.txt")
        try keys.map { $0.map { String(format: "%02x", $0) }.joined() }.joined(separator: "\n")
            .write(toFile: keysFile, atomically: true, encoding: .utf8)
        let counts: [Int32] = [1, 3, 6, 7, 12, 50, 1000]

        let output = try await runProcess(
            python,
            [pythonScript("partition_keys.py"), keysFile] + counts.map(String.init)
        )
        #expect(output.status == 0, "\(output.stderr)")
        let expected = output.stdoutLines.map { $0.split(separator: " ").compactMap { Int32($0) } }
        #expect(expected.count == keys.count)
        for (key, partitions) in zip(keys, expected) {
            let ours = counts.map { Murmur2.partition(forKey: ByteBuffer(bytes: key), partitions: $0) }
            #expect(ours == partitions, "key \(key)")
        }
    }

    @Test func committedOffsetsAreKafkasOffsetCommitRecords() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        var configuration = EmbeddedBroker.Configuration(dataDirectory: directory.path)
        configuration.config.offsetsTopicNumPartitions = 50
        let broker = try await EmbeddedBroker.open(configuration, logger: quietLogger)
        _ = try await broker.createTopic(CreateTopicRequest(name: "orders", partitions: 3))
        let group = "billing-service"
        _ = try await broker.commitOffsets(
            OffsetCommitRequest(
                groupId: group,
                offsets: [
                    try TopicPartition(topic: "orders", partition: 0): CommittedOffset(
                        offset: 42,
                        metadata: "checkpoint"
                    ),
                    try TopicPartition(topic: "orders", partition: 2): CommittedOffset(offset: 7),
                ]
            )
        )
        try await broker.deleteGroup(group)
        try await broker.close()

        // Java: Math.abs("billing-service".hashCode()) % 50.
        let partition = TopicNames.offsetsPartition(forGroup: group, partitions: 50)
        let output = try await runProcess(
            python,
            [pythonScript("decode_offsets.py"), directory.file("logs/__consumer_offsets-\(partition)")]
        )
        #expect(output.status == 0, "\(output.stderr)")
        let entries = try output.stdoutLines.map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        let commits = entries.filter { $0["group"] != nil }
        #expect(commits.count == 4)
        #expect(commits[0]["group"] as? String == group)
        #expect(commits[0]["topic"] as? String == "orders")
        #expect(commits[0]["partition"] as? Int == 0)
        #expect(commits[0]["offset"] as? Int == 42)
        #expect(commits[0]["metadata"] as? String == "checkpoint")
        #expect(commits[1]["partition"] as? Int == 2)
        #expect(commits[1]["offset"] as? Int == 7)
        // Deleting the group wrote tombstones for both offsets, and one for the group.
        #expect(commits[2]["offset"] is NSNull)
        #expect(commits[3]["offset"] is NSNull)
        #expect(entries.last?["group_records"] as? Int == 1)
    }

    @Test func consumerProtocolBytesAreWhatKafkasSchemasDescribe() async throws {
        let python = try pythonInterpreter()
        let directory = TemporaryDirectory()
        let subscription = ConsumerProtocol.Subscription(
            topics: ["orders", "payments"],
            userData: [1, 2, 3],
            ownedPartitions: [
                try TopicPartition(topic: "orders", partition: 4), try TopicPartition(topic: "orders", partition: 1),
            ]
        )
        let assignment = ConsumerProtocol.Assignment(
            partitions: [
                try TopicPartition(topic: "payments", partition: 0), try TopicPartition(topic: "orders", partition: 2),
            ]
        )
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        let input = directory.file("protocol.txt")
        try "subscription \(hex(subscription.encoded()))\nassignment \(hex(assignment.encoded()))\n"
            .write(toFile: input, atomically: true, encoding: .utf8)

        let output = try await runProcess(python, [pythonScript("consumer_protocol.py"), input])
        #expect(output.status == 0, "\(output.stderr)")
        let decoded = try output.stdoutLines.map { try jsonObject($0) }
        try #require(decoded.count == 2)
        #expect(decoded[0]["topics"] as? [String] == ["orders", "payments"])
        #expect(decoded[0]["user_data"] as? String == "010203")
        let owned = decoded[0]["owned_partitions"] as? [[String: Any]]
        #expect(owned?.first?["topic"] as? String == "orders")
        #expect(owned?.first?["partitions"] as? [Int] == [1, 4])
        let assigned = decoded[1]["assigned_partitions"] as? [[String: Any]]
        #expect(assigned?.map { $0["topic"] as? String } == ["orders", "payments"])
        #expect(assigned?.map { $0["partitions"] as? [Int] } == [[2], [0]])
        // kafka-python, encoding the same values from Kafka's schemas, produces exactly our bytes.
        #expect(decoded[0]["reencoded"] as? String == hex(subscription.encoded()))
        #expect(decoded[1]["reencoded"] as? String == hex(assignment.encoded()))
    }
}
