import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Synchronization
import Testing

@testable import RunnelConnect

/// A source whose connector splits `tasks.max` ways; task i emits `count` records `i-0`, `i-1`... with its own source
/// partition, resuming after its committed offset.
final class CountingSourceConnector: Connector {
    var count = "0"
    func start(config: ParsedConfig, context: any ConnectorContext) async throws(ConnectError) {
        count = config.string("count") ?? "0"
    }
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]] {
        (0..<maxTasks).map { ["count": count, "index": String($0)] }
    }
    func stop() async {}
}

final class CountingSourceTask: SourceTask {
    var next: Int64 = 0
    var count: Int64 = 0
    var index = ""
    func start(config: [String: String], context: any SourceTaskContext) async throws(ConnectError) {
        count = Int64(config["count"] ?? "") ?? 0
        index = config["index"] ?? ""
        if case .int(let stored)? = try await context.offset(for: ConnectObject([("task", .string(index))]))?["n"] {
            next = stored + 1
        }
    }
    func poll() async throws(ConnectError) -> [SourceRecord] {
        guard next < count else { return [] }
        defer { next += 1 }
        return [
            SourceRecord(
                sourcePartition: ConnectObject([("task", .string(index))]),
                sourceOffset: ConnectObject([("n", .int(next))]),
                record: ConnectRecord(topic: "counted", value: .string("\(index)-\(next)"))
            )
        ]
    }
    func stop() async {}
}

/// A sink whose puts fail `failures` times in all (across task instances, so a restarted task can succeed), with a
/// retriable error or, with `retriable=false`, a plain one.
final class FlakySinkTask: SinkTask {
    /// What was put, per topic (tests run in parallel).
    static let puts = Mutex<[String: [String]]>([:])
    static let failuresLeft = Mutex<[String: Int]>([:])
    var topics = ""
    var retriable = true
    func start(config: [String: String], context: any SinkTaskContext) async throws(ConnectError) {
        topics = config["topics"] ?? ""
        let failures = Int(config["failures"] ?? "") ?? 0
        let topics = self.topics
        Self.failuresLeft.withLock { if $0[topics] == nil { $0[topics] = failures } }
        retriable = config["retriable"] != "false"
    }
    func put(_ records: [ConnectRecord]) async throws(ConnectError) {
        guard !records.isEmpty else { return }
        let topics = self.topics
        let fail = Self.failuresLeft.withLock { left -> Bool in
            guard let count = left[topics], count > 0 else { return false }
            left[topics] = count - 1
            return true
        }
        if fail { throw retriable ? .retriable("not yet") : .failure("broken on purpose") }
        Self.puts.withLock { $0[topics, default: []] += records.map(\.value.text) }
    }
    func preCommit(_ consumed: [TopicPartition: Int64]) async throws(ConnectError) -> [TopicPartition: CommittedOffset]
    {
        consumed.mapValues { CommittedOffset(offset: $0) }
    }
    func stop() async {}
}

final class PassingSinkConnector: Connector {
    var config: [String: String] = [:]
    func start(config: ParsedConfig, context: any ConnectorContext) async throws(ConnectError) {
        self.config = config.values
    }
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]] { [config] }
    func stop() async {}
}

@Suite struct WorkerTests {
    static let plugins = [
        ConnectorPlugin(
            className: "test.CountingSourceConnector",
            version: "1",
            configDef: ConfigDef([ConfigKey("count", .long, required: true, "Records per task")]),
            taskClassName: "test.CountingSourceTask",
            makeConnector: { CountingSourceConnector() },
            tasks: .source({ CountingSourceTask() })
        ),
        ConnectorPlugin(
            className: "test.FlakySinkConnector",
            version: "1",
            configDef: ConfigDef(),
            taskClassName: "test.FlakySinkTask",
            makeConnector: { PassingSinkConnector() },
            tasks: .sink({ FlakySinkTask() })
        ),
    ]

    /// Runs a worker over an embedded broker for the duration of `body`.
    func withWorker(_ body: (ConnectWorker, EmbeddedBroker) async throws -> Void) async throws {
        let directory = TemporaryDirectory()
        let broker = try await EmbeddedBroker.open(
            EmbeddedBroker.Configuration(dataDirectory: directory.path),
            logger: quietLogger
        )
        let worker = try await ConnectWorker.open(
            broker: broker,
            registry: PluginRegistry(connectors: Self.plugins),
            configuration: WorkerConfiguration(dataDirectory: directory.path),
            logger: quietLogger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            try await body(worker, broker)
            group.cancelAll()
        }
        try await broker.close()
    }

    func waitFor(_ what: String, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<300 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for \(what)")
    }

    func states(_ worker: ConnectWorker, _ name: String) async throws -> [RuntimeState] {
        let status = try await worker.status(name)
        return [status.connector.state] + status.tasks.map(\.1.state)
    }

    @Test func tasksMaxSplitsTheWorkAndEachTaskKeepsItsOffsets() async throws {
        try await withWorker { worker, broker in
            _ = try await worker.create(
                name: "count",
                config: ["connector.class": "CountingSource", "count": "5", "tasks.max": "3"]
            )
            try await waitFor("three running tasks") {
                try await states(worker, "count") == [.running, .running, .running, .running]
            }
            #expect(try await worker.tasks("count").map { $0["index"] } == ["0", "1", "2"])
            let counted = try TopicPartition(topic: "counted", partition: 0)
            try await waitFor("15 records") {
                // The first record creates the topic.
                (try? await broker.listOffset(counted, at: .latest).offset) == 15
            }
            // Offsets are committed after the records are acknowledged, so they may trail the topic a little.
            try await waitFor("each task's offset at its last record") {
                let offsets = try await worker.offsets("count")
                return offsets.count == 3
                    && offsets.allSatisfy { $0.offset == .object(ConnectObject([("n", .int(4))])) }
            }
            // Restarting every task resumes after the committed offsets: nothing is produced twice.
            _ = try await worker.restart("count", includeTasks: true, onlyFailed: false)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await broker.listOffset(counted, at: .latest).offset == 15)
        }
    }

    @Test func retriableFailuresAreRetriedWithinTheTimeout() async throws {
        try await withWorker { worker, broker in
            _ = try await broker.createTopic(CreateTopicRequest(name: "flaky", partitions: 1))
            _ = try await broker.produce(
                topic: "flaky",
                records: [ProducerRecord(value: ByteBuffer(string: "one"))],
                options: ProduceOptions()
            )
            _ = try await worker.create(
                name: "retry",
                config: [
                    "connector.class": "test.FlakySinkConnector", "topics": "flaky", "failures": "2",
                    "errors.retry.timeout": "10000", "errors.retry.delay.max.ms": "50",
                    "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                ]
            )
            try await waitFor("the record put after two retries") {
                FlakySinkTask.puts.withLock { $0["flaky"] } == ["one"]
            }
            #expect(try await states(worker, "retry") == [.running, .running])
        }
    }

    @Test func aFailingTaskGoesFailedWithItsTraceAndCanBeRestarted() async throws {
        try await withWorker { worker, broker in
            _ = try await broker.createTopic(CreateTopicRequest(name: "broken", partitions: 1))
            _ = try await broker.produce(
                topic: "broken",
                records: [ProducerRecord(value: ByteBuffer(string: "x"))],
                options: ProduceOptions()
            )
            _ = try await worker.create(
                name: "fails",
                config: [
                    "connector.class": "test.FlakySinkConnector", "topics": "broken", "failures": "1",
                    "retriable": "false", "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                ]
            )
            try await waitFor("the task to fail") { try await states(worker, "fails") == [.running, .failed] }
            let trace = try await worker.taskStatus("fails", 0).trace ?? ""
            #expect(trace.hasPrefix("org.apache.kafka.connect.errors.ConnectException: broken on purpose"))
            // Failed tasks stay failed until restarted; this one then succeeds.
            try await worker.restartTask("fails", 0)
            try await waitFor("the task to run again") { try await states(worker, "fails") == [.running, .running] }
        }
    }

    @Test func badRequestsChangeNothing() async throws {
        try await withWorker { worker, _ in
            await #expect(throws: WorkerError.self) {
                try await worker.create(name: "c", config: ["connector.class": "test.CountingSourceConnector"])
            }
            await #expect(throws: WorkerError.self) {
                try await worker.create(name: "c", config: ["connector.class": "Nope", "count": "1"])
            }
            #expect(await worker.connectorNames() == [])
            _ = try await worker.create(name: "c", config: ["connector.class": "CountingSource", "count": "1"])
            await #expect(throws: WorkerError.alreadyExists("Connector c already exists")) {
                try await worker.create(name: "c", config: ["connector.class": "CountingSource", "count": "2"])
            }
            #expect(try await worker.config("c")["count"] == "1")
        }
    }
}
