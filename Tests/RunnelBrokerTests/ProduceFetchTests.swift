import NIOCore
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Synchronization
import Testing

@testable import RunnelBroker

@Suite struct ProduceFetchTests {
    @Test func keyedRecordsLandWhereTheJavaClientPutsThem() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 6))
        let keys = ["", "a", "key1", "hello"]
        let results = try await broker.produceAll(
            "t",
            keys.map { ProducerRecord(key: buffer($0), value: buffer("v-\($0)")) }
        )
        #expect(results.map(\.partition) == [3, 4, 2, 3])
        #expect(results.map(\.offset) == [0, 0, 0, 1])
        let partition3 = try await broker.readAll(tp("t", 3))
        #expect(partition3.map { string($0.key) } == ["", "hello"])
        try await broker.close()
    }

    @Test func recordsRoundTripWithHeadersTimestampsAndNulls() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let headers = [RecordHeader(key: "trace", value: buffer("abc")), RecordHeader(key: "empty", value: nil)]
        let produced = try await broker.produceAll(
            "t",
            [
                ProducerRecord(key: buffer("k"), value: buffer("v"), headers: headers, timestamp: 1_600_000_000_000),
                ProducerRecord(key: buffer("tombstone"), value: nil),
            ]
        )
        #expect(produced[0].timestamp == 1_600_000_000_000)
        #expect(produced[0].timestampType == .createTime)
        let records = try await broker.readAll(tp("t", 0))
        #expect(records.count == 2)
        #expect(records[0].headers == headers)
        #expect(records[0].timestamp == 1_600_000_000_000)
        #expect(string(records[0].value) == "v")
        #expect(records[1].value == nil)
        #expect(records[1].offset == 1)
        try await broker.close()
    }

    @Test func oversizedRecordsFailAloneAndTheRestAreAppended() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", configs: ["max.message.bytes": "1000"]))
        let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: 2000)
        let outcomes = try await broker.produce(
            topic: "t",
            records: [
                ProducerRecord(value: buffer("small-1"), partition: 0),
                ProducerRecord(value: big, partition: 0),
                ProducerRecord(value: buffer("small-2"), partition: 0),
                ProducerRecord(value: buffer("nowhere"), partition: 7),
            ],
            options: ProduceOptions()
        )
        #expect(try outcomes[0].get().offset == 0)
        #expect(throws: BrokerError.self) { try outcomes[1].get() }
        if case .failure(let error) = outcomes[1] { #expect(error.code == .messageTooLarge) }
        #expect(try outcomes[2].get().offset == 1)
        if case .failure(let error) = outcomes[3] {
            #expect(error.code == .unknownTopicOrPartition)
        } else {
            Issue.record("partition 7 of a 1-partition topic was accepted")
        }
        #expect(try await broker.readAll(tp("t", 0)).map { string($0.value) } == ["small-1", "small-2"])
        try await broker.close()
    }

    @Test func recordsTheTopicRefusesFailAlone() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(
            CreateTopicRequest(
                name: "t",
                configs: ["cleanup.policy": "compact", "message.timestamp.before.max.ms": "60000"]
            )
        )
        let now = try #require(fixture.clock).nowMilliseconds()
        let outcomes = try await broker.produce(
            topic: "t",
            records: [
                ProducerRecord(key: buffer("k1"), value: buffer("ok")),
                ProducerRecord(key: nil, value: buffer("no key")),
                ProducerRecord(key: buffer("k2"), value: buffer("old"), timestamp: now - 3_600_000),
                ProducerRecord(key: buffer("k3"), value: buffer("negative"), timestamp: -5),
                ProducerRecord(key: buffer("k4"), value: buffer("ok too")),
            ],
            options: ProduceOptions()
        )
        let codes = outcomes.map { outcome -> String in
            switch outcome {
            case .success: return "ok"
            case .failure(let error): return error.code.name
            }
        }
        #expect(codes == ["ok", "INVALID_RECORD", "INVALID_TIMESTAMP", "INVALID_TIMESTAMP", "ok"])
        #expect(try await broker.readAll(tp("t", 0)).map { string($0.value) } == ["ok", "ok too"])
        try await broker.close()
    }

    @Test func manySmallRecordsAreSplitIntoBatchesUnderMaxMessageBytes() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", configs: ["max.message.bytes": "1000"]))
        let records = (0..<100).map { ProducerRecord(value: buffer("record-\($0)-padding-padding"), partition: 0) }
        let results = try await broker.produceAll("t", records)
        #expect(results.map(\.offset) == Array(0..<100))
        #expect(try await broker.readAll(tp("t", 0)).count == 100)
        try await broker.close()
    }

    @Test func logAppendTimeTopicsReportTheAppendTime() async throws {
        let fixture = BrokerFixture(manualClock: true)
        let broker = try await fixture.open()
        _ = try await broker.createTopic(
            CreateTopicRequest(name: "t", configs: ["message.timestamp.type": "LogAppendTime"])
        )
        let now = try #require(fixture.clock).nowMilliseconds()
        let result = try await broker.produceAll("t", [ProducerRecord(value: buffer("v"), timestamp: 42)])
        #expect(result[0].timestamp == now)
        #expect(result[0].timestampType == .logAppendTime)
        let records = try await broker.readAll(tp("t", 0))
        #expect(records[0].timestamp == now)
        #expect(records[0].timestampType == .logAppendTime)
        try await broker.close()
    }

    @Test func minInsyncReplicasAboveOneRefusesAcksAll() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", configs: ["min.insync.replicas": "2"]))
        let outcomes = try await broker.produce(
            topic: "t",
            records: [ProducerRecord(value: buffer("v"))],
            options: ProduceOptions(acks: .all)
        )
        if case .failure(let error) = outcomes[0] {
            #expect(error.code == .notEnoughReplicas)
        } else {
            Issue.record("acks=all with min.insync.replicas=2 was accepted")
        }
        let leaderOnly = try await broker.produce(
            topic: "t",
            records: [ProducerRecord(value: buffer("v"))],
            options: ProduceOptions(acks: .leader)
        )
        #expect(try leaderOnly[0].get().offset == 0)
        try await broker.close()
    }

    @Test func fetchOutOfRangeAndUnknownPartitionsAreErrorsPerPartition() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        try await broker.produceAll("t", [ProducerRecord(value: buffer("a")), ProducerRecord(value: buffer("b"))])
        let fetched = try await broker.fetch(
            FetchRequest(partitions: [
                .init(tp("t", 0), offset: 5), .init(tp("t", 3), offset: 0), .init(tp("t", 0), offset: 1),
            ])
        )
        #expect(fetched[0].error?.code == .offsetOutOfRange)
        #expect(fetched[0].highWatermark == 2)
        #expect(fetched[1].error?.code == .unknownTopicOrPartition)
        #expect((try fetched[2].records()).map { string($0.value) } == ["b"])
        #expect(fetched[2].nextOffset == 2)
        try await broker.close()
    }

    @Test func listOffsetsEarliestLatestAndByTimestamp() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let partition = tp("t", 0)
        #expect(try await broker.listOffset(partition, at: .latest).offset == 0)
        try await broker.produceAll(
            "t",
            (0..<5).map { ProducerRecord(value: buffer("\($0)"), timestamp: 1000 + Int64($0) * 100) }
        )
        #expect(try await broker.listOffset(partition, at: .earliest).offset == 0)
        #expect(try await broker.listOffset(partition, at: .latest).offset == 5)
        #expect(
            try await broker.listOffset(partition, at: .timestamp(1150)) == ListedOffset(offset: 2, timestamp: 1200)
        )
        #expect(try await broker.listOffset(partition, at: .timestamp(9999)).offset == -1)
        #expect(try await broker.listOffset(partition, at: .maxTimestamp) == ListedOffset(offset: 4, timestamp: 1400))
        await #expect(throws: BrokerError.self) { try await broker.listOffset(tp("t", 1), at: .latest) }
        try await broker.close()
    }

    @Test func longPollReturnsWhenDataArrives() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        let started = ContinuousClock.now
        async let fetched = broker.fetch(
            FetchRequest(partitions: [.init(tp("t", 0), offset: 0), .init(tp("t", 1), offset: 0)], maxWaitMs: 30_000)
        )
        try await Task.sleep(for: .milliseconds(50))
        try await broker.produceAll("t", [ProducerRecord(value: buffer("wake"), partition: 1)])
        let result = try await fetched
        // Returned on the data, long before the 30 s wait.
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect((try result[1].records()).map { string($0.value) } == ["wake"])
        #expect((try result[0].records()).isEmpty)
        try await broker.close()
    }

    @Test func fetchMinBytesWaitsForEnoughData() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        try await broker.produceAll("t", [ProducerRecord(value: buffer("small"))])
        async let fetched = broker.fetch(
            FetchRequest(partitions: [.init(tp("t", 0), offset: 0)], maxWaitMs: 30_000, minBytes: 1000)
        )
        try await Task.sleep(for: .milliseconds(50))
        try await broker.produceAll("t", [ProducerRecord(value: ByteBuffer(repeating: 0x61, count: 2000))])
        let result = try await fetched
        #expect((try result[0].records()).count == 2)
        try await broker.close()
    }

    @Test func aLongPollOnADeletedTopicEndsWithAnError() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let started = ContinuousClock.now
        async let fetched = broker.fetch(FetchRequest(partitions: [.init(tp("t", 0), offset: 0)], maxWaitMs: 30_000))
        try await Task.sleep(for: .milliseconds(50))
        try await broker.deleteTopic("t")
        let result = try await fetched
        #expect(result[0].error?.code == .unknownTopicOrPartition)
        #expect(ContinuousClock.now - started < .seconds(20))
        try await broker.close()
    }

    @Test func longPollTimesOutEmpty() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let result = try await broker.fetch(FetchRequest(partitions: [.init(tp("t", 0), offset: 0)], maxWaitMs: 100))
        #expect((try result[0].records()).isEmpty)
        #expect(result[0].error == nil)
        try await broker.close()
    }

    @Test func fetchMaxBytesStillReturnsOneBatch() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        try await broker.produceAll("t", (0..<10).map { ProducerRecord(value: buffer("value-\($0)"), partition: 0) })
        try await broker.produceAll("t", [ProducerRecord(value: buffer("second batch"), partition: 0)])
        let result = try await broker.fetch(
            FetchRequest(partitions: [.init(tp("t", 0), offset: 3)], maxBytes: 1, maxPartitionBytes: 1)
        )
        // The first batch (offsets 0-9) is returned whole, filtered to the fetch offset.
        #expect((try result[0].records()).map(\.offset) == Array(3..<10))
        #expect(result[0].nextOffset == 10)
        try await broker.close()
    }

    @Test func manyProducersAndFetchersOnOnePartition() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        let producers = 8
        let perProducer = 200
        try await withThrowingTaskGroup(of: [ConsumerRecord].self) { group in
            for fetcher in 0..<4 {
                group.addTask {
                    // Each fetcher long-polls until it has seen every record, in offset order.
                    var seen: [ConsumerRecord] = []
                    var offset: Int64 = 0
                    while seen.count < producers * perProducer {
                        let fetched = try await broker.fetch(
                            FetchRequest(partitions: [.init(tp("t", 0), offset: offset)], maxWaitMs: 5000)
                        )
                        if let error = fetched[0].error { throw error }
                        seen += (try fetched[0].records())
                        offset = fetched[0].nextOffset
                    }
                    _ = fetcher
                    return seen
                }
            }
            for producer in 0..<producers {
                group.addTask {
                    for index in 0..<perProducer {
                        try await broker.produceAll(
                            "t",
                            [ProducerRecord(key: buffer("p\(producer)"), value: buffer("p\(producer)-\(index)"))]
                        )
                    }
                    return []
                }
            }
            for try await seen in group where !seen.isEmpty {
                #expect(seen.map(\.offset) == Array(0..<Int64(producers * perProducer)))
                // Each producer's records are in its order.
                for producer in 0..<producers {
                    let mine = seen.compactMap { string($0.value) }.filter { $0.hasPrefix("p\(producer)-") }
                    #expect(mine == (0..<perProducer).map { "p\(producer)-\($0)" })
                }
            }
        }
        try await broker.close()
    }

    /// What a Kafka producer sends: batches of its own, numbered from 0, appended as they came.
    static func clientBatch(_ values: [String], compression: CompressionCodec = .none) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(compression: compression, producerId: 7, producerEpoch: 0, baseSequence: 0)
        for value in values {
            builder.append(key: buffer("k-" + value), value: buffer(value), timestamp: 1_700_000_000_000)
        }
        return try builder.build().bytes
    }

    @Test func clientBatchesAreAppendedAsTheyCameWithTheirOffsets() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t", partitions: 2))
        var two = try Self.clientBatch(["a", "b"])
        var gzip = try Self.clientBatch(["c"], compression: .gzip)
        two.writeImmutableBuffer(gzip)
        let sent = two
        var corrupt = try Self.clientBatch(["x"])
        corrupt.setInteger(UInt8(ascii: "y"), at: corrupt.writerIndex - 1)
        let results = try await broker.produce(
            [
                PartitionBatches(tp("t", 0), batches: sent),
                PartitionBatches(tp("t", 1), batches: corrupt),
                PartitionBatches(tp("t", 9), batches: try Self.clientBatch(["z"])),
                PartitionBatches(tp("t", 0), batches: try Self.clientBatch(["d"])),
            ],
            options: ProduceOptions()
        )
        #expect(results.map(\.topicPartition) == [tp("t", 0), tp("t", 1), tp("t", 9), tp("t", 0)])
        #expect(try results[0].result.get().baseOffset == 0)
        #expect(try results[3].result.get().baseOffset == 3)
        #expect(results[1].result.failure?.code == .corruptMessage)
        #expect(results[2].result.failure?.code == .unknownTopicOrPartition)

        // Stored byte for byte but for the offset and leader epoch the log gave them (outside the CRC), gzip as sent.
        let fetched = try await broker.fetch(FetchRequest(partitions: [.init(tp("t", 0), offset: 0)]))
        let stored = try RecordBatch.split(fetched[0].batches)
        #expect(stored.count == 3)
        #expect(stored[1].header.compression == .gzip)
        gzip = stored[1].bytes
        let original = try Self.clientBatch(["c"], compression: .gzip)
        #expect(Array(gzip.readableBytesView.dropFirst(17)) == Array(original.readableBytesView.dropFirst(17)))
        #expect(try fetched[0].records().map { string($0.value) } == ["a", "b", "c", "d"])
        #expect(try fetched[0].records().map(\.offset) == [0, 1, 2, 3])
        #expect(try await broker.readAll(tp("t", 1)).isEmpty)
        try await broker.close()
    }

    @Test func aFetchFromTheMiddleOfABatchSkipsWhatCameBefore() async throws {
        let fixture = BrokerFixture()
        let broker = try await fixture.open()
        _ = try await broker.createTopic(CreateTopicRequest(name: "t"))
        _ = try await broker.produceAll("t", (0..<5).map { ProducerRecord(value: buffer("v\($0)"), partition: 0) })
        let fetched = try await broker.fetch(FetchRequest(partitions: [.init(tp("t", 0), offset: 3)]))
        // The batch is served whole, as Kafka does; the records before the fetch offset are not part of the answer.
        #expect(try RecordBatch.split(fetched[0].batches).first?.baseOffset == 0)
        #expect(try fetched[0].records().map { string($0.value) } == ["v3", "v4"])
        #expect(fetched[0].nextOffset == 5)
        try await broker.close()
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
