public import Logging
public import RunnelBrokerAPI
public import RunnelRecords

/// The plugin SPI: what a connector, a source task and a sink task implement. Connectors and tasks are owned by
/// the worker task that runs them and are never shared between tasks, so they need not be `Sendable`.

public enum ConnectorType: String, Sendable, Hashable {
    case source, sink
}

/// What a running connector can ask of the worker.
public protocol ConnectorContext: Sendable {
    var connectorName: String { get }
    /// The worker's data directory, where plugins that write files keep them unless told otherwise.
    var dataDirectory: String { get }
    var logger: Logger { get }
    /// Asks the worker to call ``Connector/taskConfigs(maxTasks:)`` again (e.g. the set of tables changed).
    func requestTaskReconfiguration()
}

/// A connector: checks its config, splits the work into task configs, and may watch its system for changes.
public protocol Connector: AnyObject {
    func start(config: ParsedConfig, context: any ConnectorContext) async throws(ConnectError)
    /// At most `maxTasks` task configs; each becomes one task.
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]]
    func stop() async
    /// Problems across keys that the config definition cannot see alone, per key (added to `/config/validate`);
    /// it may look at the system the connector talks to (e.g. whether a database and its tables exist).
    func validate(config: [String: String]) async -> [String: [String]]
}

extension Connector {
    public func validate(config: [String: String]) async -> [String: [String]] { [:] }
}

// MARK: Source

/// A record produced by a source task: the record, and where in the source system it came from (its source
/// partition and offset, both JSON-like maps), which the worker stores once the record is acknowledged.
public struct SourceRecord: Sendable, Hashable {
    public var record: ConnectRecord
    public var sourcePartition: ConnectObject
    public var sourceOffset: ConnectObject

    public init(sourcePartition: ConnectObject, sourceOffset: ConnectObject, record: ConnectRecord) {
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.record = record
    }
}

public protocol SourceTaskContext: Sendable {
    var connectorName: String { get }
    var taskId: Int { get }
    var dataDirectory: String { get }
    var logger: Logger { get }
    /// The last committed offset of a source partition.
    func offset(for partition: ConnectObject) async throws(ConnectError) -> ConnectObject?
}

public protocol SourceTask: AnyObject {
    func start(config: [String: String], context: any SourceTaskContext) async throws(ConnectError)
    /// The next records; [] when there are none now (the worker polls again shortly). May suspend briefly; must
    /// return promptly when its task is cancelled.
    func poll() async throws(ConnectError) -> [SourceRecord]
    /// Records up to these offsets are acknowledged and their offsets committed.
    func commit() async
    func stop() async
}

extension SourceTask {
    public func commit() async {}
}

// MARK: Sink

/// Where a sink task sends records it cannot handle (`errors.deadletterqueue.*`, `errors.tolerance`): Kafka
/// Connect's `ErrantRecordReporter`.
public protocol ErrantRecordReporter: Sendable {
    func report(_ record: ConnectRecord, error: ConnectError) async throws(ConnectError)
}

public protocol SinkTaskContext: Sendable {
    var connectorName: String { get }
    var taskId: Int { get }
    var dataDirectory: String { get }
    var logger: Logger { get }
    var errantRecordReporter: any ErrantRecordReporter { get }
}

public protocol SinkTask: AnyObject {
    func start(config: [String: String], context: any SinkTaskContext) async throws(ConnectError)
    /// The task now owns these partitions; `committed` holds their committed offsets with the metadata this
    /// task committed them with (see ``preCommit(_:)``), which lets a task repair its output after a crash.
    func open(_ partitions: [TopicPartition], committed: [TopicPartition: CommittedOffset]) async throws(ConnectError)
    /// The next records, in offset order per partition. It is also called with no records when a fetch found
    /// none, so that a task can act on the passing of time (e.g. rotate files on a schedule).
    func put(_ records: [ConnectRecord]) async throws(ConnectError)
    /// Makes everything put so far durable and returns the offsets to commit (the next offset to read per
    /// partition, with metadata). `consumed` holds the next offset after the last record put, per partition.
    func preCommit(_ consumed: [TopicPartition: Int64]) async throws(ConnectError) -> [TopicPartition: CommittedOffset]
    func close(_ partitions: [TopicPartition]) async throws(ConnectError)
    func stop() async
}

extension SinkTask {
    public func open(
        _ partitions: [TopicPartition],
        committed: [TopicPartition: CommittedOffset]
    ) async throws(ConnectError) {}
    public func close(_ partitions: [TopicPartition]) async throws(ConnectError) {}
}

// MARK: Registration

/// A connector plugin as the worker knows it: its class name, kind, version, config definition and factories.
public struct ConnectorPlugin: Sendable {
    public enum Tasks: Sendable {
        case source(@Sendable () -> any SourceTask)
        case sink(@Sendable () -> any SinkTask)
    }

    public let className: String
    public let version: String
    public let configDef: ConfigDef
    /// Further names it answers to, besides its simple class name with and without `Connector`.
    public let extraAliases: [String]
    public let makeConnector: @Sendable () -> any Connector
    public let tasks: Tasks
    /// The class name shown for its tasks (`task.class`).
    public let taskClassName: String
    /// The files and folders on the server a config makes it read or write (a file, a SQLite database, a bucket
    /// folder), given the worker's data directory; nil for a plugin that touches none. They must lie inside the
    /// worker's ``FileRoots``, and with authentication on only a caller with ALL on the cluster (a super user) may
    /// configure such a connector: the server's files are its operator's.
    public let serverPaths: (@Sendable (_ config: [String: String], _ dataDirectory: String) -> [ServerPath])?

    /// Whether its configs name files or folders on the server.
    public var usesServerFiles: Bool { serverPaths != nil }

    public init(
        className: String,
        version: String,
        configDef: ConfigDef,
        extraAliases: [String] = [],
        taskClassName: String,
        serverPaths: (@Sendable (_ config: [String: String], _ dataDirectory: String) -> [ServerPath])? = nil,
        makeConnector: @escaping @Sendable () -> any Connector,
        tasks: Tasks
    ) {
        self.className = className
        self.version = version
        self.configDef = configDef
        self.extraAliases = extraAliases
        self.taskClassName = taskClassName
        self.serverPaths = serverPaths
        self.makeConnector = makeConnector
        self.tasks = tasks
    }

    public var type: ConnectorType {
        if case .source = tasks { return .source }
        return .sink
    }

    /// Kafka's aliases: the simple class name, and without its `Connector` suffix.
    public var aliases: [String] {
        let simple = String(className.split(separator: ".").last ?? Substring(className))
        var names = [simple]
        if simple.hasSuffix("Connector") { names.append(String(simple.dropLast("Connector".count))) }
        return names + extraAliases
    }

    public func answers(to name: String) -> Bool { name == className || aliases.contains(name) }

    /// Every key a connector of this plugin takes: the framework's (for its type) and its own.
    public var connectorConfigDef: ConfigDef { ConnectorConfig.definition(for: type) + configDef }

    /// A connector config read through ``connectorConfigDef``.
    public func parse(_ config: [String: String]) -> ParsedConfig {
        ParsedConfig(definition: connectorConfigDef, values: config)
    }
}
