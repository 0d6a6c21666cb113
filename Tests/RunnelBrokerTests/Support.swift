import Foundation
import Logging
import NIOCore
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

func tp(_ topic: String, _ partition: Int32) -> TopicPartition {
    try! TopicPartition(topic: topic, partition: partition)
}

/// A broker in a temporary directory; `reopen()` closes it cleanly and opens the same directory again.
final class BrokerFixture: Sendable {
    let directory: TemporaryDirectory
    let configuration: EmbeddedBroker.Configuration
    let clock: ManualWallClock?

    init(
        _ name: String = #function,
        manualClock: Bool = false,
        config: BrokerConfig = BrokerConfig(),
        configure: (inout EmbeddedBroker.Configuration) -> Void = { _ in }
    ) {
        directory = TemporaryDirectory(name)
        var configuration = EmbeddedBroker.Configuration(dataDirectory: directory.path)
        var config = config
        // Fewer offsets partitions keep tests fast; one test checks the default of 50.
        if config.offsetsTopicNumPartitions == 50 { config.offsetsTopicNumPartitions = 5 }
        configuration.config = config
        let clock = manualClock ? ManualWallClock() : nil
        if let clock { configuration.clock = clock }
        configure(&configuration)
        self.configuration = configuration
        self.clock = clock
    }

    func open() async throws -> EmbeddedBroker {
        try await EmbeddedBroker.open(configuration, logger: quietLogger)
    }
}

extension EmbeddedBroker {
    /// Produces records and fails the test on any per-record error.
    @discardableResult
    func produceAll(_ topic: String, _ records: [ProducerRecord]) async throws -> [RecordMetadata] {
        try await produce(topic: topic, records: records, options: ProduceOptions()).map { try $0.get() }
    }

    /// Every record of a partition from `offset`, without waiting.
    func readAll(_ topicPartition: TopicPartition, from offset: Int64 = 0) async throws -> [ConsumerRecord] {
        var records: [ConsumerRecord] = []
        var next = offset
        while true {
            let fetched = try await fetch(FetchRequest(partitions: [.init(topicPartition, offset: next)]))
            let partition = try #require(fetched.first)
            if let error = partition.error { throw error }
            if (try partition.records()).isEmpty { return records }
            records += (try partition.records())
            next = partition.nextOffset
        }
    }
}

/// Files under a directory, recursively, relative to it.
func filesUnder(_ path: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
    return enumerator.compactMap { $0 as? String }.sorted()
}
