import Foundation
public import Logging
import NIOPosix
public import RunnelBrokerAPI
import RunnelRecords
public import ServiceLifecycle

/// Why a request to the worker failed; the REST API maps each case to its status in one place.
/// What the worker refuses or fails at, in its own terms; `ConnectAPI` answers each code with Kafka Connect's status.
public struct WorkerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No such connector, task or plugin.
        public static let notFound = Code("notFound")
        /// A connector of that name exists.
        public static let alreadyExists = Code("alreadyExists")
        /// A config or request the worker cannot accept.
        public static let badRequest = Code("badRequest")
        /// The connector's state does not allow it now (e.g. a running connector's offsets).
        public static let conflict = Code("conflict")
        /// The caller may not do this.
        public static let forbidden = Code("forbidden")
        /// The worker failed (storage, the broker).
        public static let failed = Code("failed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func notFound(_ message: String) -> WorkerError { WorkerError(.notFound, message) }
    public static func alreadyExists(_ message: String) -> WorkerError { WorkerError(.alreadyExists, message) }
    public static func badRequest(_ message: String) -> WorkerError { WorkerError(.badRequest, message) }
    public static func conflict(_ message: String) -> WorkerError { WorkerError(.conflict, message) }
    public static func forbidden(_ message: String) -> WorkerError { WorkerError(.forbidden, message) }
    public static func failed(_ message: String) -> WorkerError { WorkerError(.failed, message) }

    /// A broker call's failure: the caller's own missing rights are its error, anything else the worker's.
    public init(_ error: BrokerError) {
        self.init(error.isAuthorizationFailure ? .forbidden : .failed, error.message)
    }
}

/// The connect worker: the connectors, their tasks and their state, run as structured child tasks of this
/// service. Every change is written to `connect.db` before it is acted on, so a restart (even after `kill -9`)
/// brings every connector back in its target state, with its task configs and offsets.
public actor ConnectWorker: Service {
    struct Entry {
        var config: [String: String]
        var plugin: ConnectorPlugin
        var targetState: TargetState
        var taskConfigs: [[String: String]]
        var connectorStatus: ConnectorStatus
        var taskStatuses: [Int: ConnectorStatus]
        /// Who the connector runs as: the principal that created it or last set its config.
        var principal: String
        let runner: ConnectorRunner
    }

    /// What a connector's runner should do now.
    struct Desired: Sendable {
        var config: [String: String]
        var plugin: ConnectorPlugin
        var targetState: TargetState
        var principal: String
    }

    nonisolated let broker: any Broker
    nonisolated let registry: PluginRegistry
    nonisolated let configuration: WorkerConfiguration
    /// The folders connectors may use on the server.
    nonisolated let fileRoots: FileRoots
    nonisolated let logger: Logger

    /// The worker's logger for a connector instance (`task` nil) or one of its tasks.
    nonisolated func taskLogger(_ connector: String, _ task: Int?) -> Logger {
        var logger = self.logger
        logger[metadataKey: "connector"] = "\(connector)"
        if let task { logger[metadataKey: "task"] = "\(task)" }
        return logger
    }
    let store: ConnectStore
    private var entries: [String: Entry] = [:]
    private var workerId = "127.0.0.1:8083"
    private let runners: AsyncStream<ConnectorRunner>
    private let runnersContinuation: AsyncStream<ConnectorRunner>.Continuation

    private init(
        broker: any Broker,
        registry: PluginRegistry,
        configuration: WorkerConfiguration,
        fileRoots: FileRoots,
        store: ConnectStore,
        logger: Logger
    ) {
        self.broker = broker
        self.registry = registry
        self.configuration = configuration
        self.fileRoots = fileRoots
        self.store = store
        self.logger = logger
        (runners, runnersContinuation) = AsyncStream.makeStream()
    }

    /// Opens `connect.db` in the data directory and loads the connectors it holds (they start when the service
    /// runs).
    public static func open(
        broker: any Broker,
        registry: PluginRegistry,
        configuration: WorkerConfiguration,
        logger: Logger
    ) async throws(ConnectError) -> ConnectWorker {
        let path = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("connect.db").path
        let store = try await ConnectStore.open(path: path)
        let fileRoots: FileRoots
        do {
            fileRoots = try await NIOThreadPool.singleton.runIfActive {
                FileRoots(
                    roots: configuration.fileRoots ?? [configuration.dataDirectory],
                    dataDirectory: configuration.dataDirectory,
                    otherReserved: configuration.reservedFiles
                )
            }
        } catch {
            throw .failure("Cannot resolve the connector file roots: \(error)")
        }
        let worker = ConnectWorker(
            broker: broker,
            registry: registry,
            configuration: configuration,
            fileRoots: fileRoots,
            store: store,
            logger: logger
        )
        try await worker.load()
        return worker
    }

    private func load() async throws(ConnectError) {
        for stored in try await store.loadConnectors() {
            guard let className = stored.config["connector.class"], let plugin = registry.connector(className) else {
                logger.error("Stored connector's plugin is not available", metadata: ["connector": "\(stored.name)"])
                continue
            }
            add(
                name: stored.name,
                config: stored.config,
                plugin: plugin,
                targetState: stored.targetState,
                taskConfigs: stored.taskConfigs,
                principal: stored.principal
            )
        }
    }

    private func add(
        name: String,
        config: [String: String],
        plugin: ConnectorPlugin,
        targetState: TargetState,
        taskConfigs: [[String: String]],
        principal: String
    ) {
        let runner = ConnectorRunner(name: name, worker: self)
        entries[name] = Entry(
            config: config,
            plugin: plugin,
            targetState: targetState,
            taskConfigs: taskConfigs,
            connectorStatus: ConnectorStatus(state: .unassigned, workerId: workerId),
            taskStatuses: [:],
            principal: principal,
            runner: runner
        )
        runnersContinuation.yield(runner)
    }

    /// Runs every connector until the service group shuts down; shutting down stops each task cleanly (sink
    /// offsets committed after a final flush, source offsets of acknowledged records committed).
    public func run() async throws {
        let runners = self.runners
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await runner in runners {
                    group.addTask { await runner.run() }
                }
            }
        }
    }

    /// The `host:port` this worker answers on, shown as `worker_id` in statuses.
    public func setWorkerId(_ id: String) {
        workerId = id
        for name in entries.keys {
            entries[name]?.connectorStatus.workerId = id
            for task in entries[name]?.taskStatuses.keys.map({ $0 }) ?? [] {
                entries[name]?.taskStatuses[task]?.workerId = id
            }
        }
    }

    // MARK: For runners

    /// Whether `runner` is the one running this connector now (a deleted connector's runner may still be stopping
    /// when a new connector of the same name starts).
    private func isCurrent(_ name: String, _ runner: ConnectorRunner) -> Bool {
        entries[name]?.runner === runner
    }

    func desired(_ name: String, runner: ConnectorRunner) -> Desired? {
        guard isCurrent(name, runner), let entry = entries[name] else { return nil }
        return Desired(
            config: entry.config,
            plugin: entry.plugin,
            targetState: entry.targetState,
            principal: entry.principal
        )
    }

    func taskConfigs(_ name: String, runner: ConnectorRunner) -> [[String: String]] {
        isCurrent(name, runner) ? entries[name]?.taskConfigs ?? [] : []
    }

    func taskState(_ name: String, _ task: Int, runner: ConnectorRunner) -> RuntimeState? {
        isCurrent(name, runner) ? entries[name]?.taskStatuses[task]?.state : nil
    }

    /// Records a status, in memory for the API and in the store as the last known one (in order: the store's writes
    /// run in the order they are submitted).
    func setConnectorStatus(_ name: String, _ state: RuntimeState, trace: String? = nil, runner: ConnectorRunner) async
    {
        guard isCurrent(name, runner) else { return }
        let status = ConnectorStatus(state: state, trace: trace, workerId: workerId)
        entries[name]?.connectorStatus = status
        if state == .failed {
            logger.error("Connector failed", metadata: ["connector": "\(name)", "trace": "\(trace ?? "")"])
        }
        try? await store.putStatus(connector: name, task: -1, status)
    }

    func setTaskStatus(
        _ name: String,
        _ task: Int,
        _ state: RuntimeState,
        trace: String? = nil,
        runner: ConnectorRunner
    ) async {
        guard isCurrent(name, runner) else { return }
        let status = ConnectorStatus(state: state, trace: trace, workerId: workerId)
        entries[name]?.taskStatuses[task] = status
        if state == .failed {
            logger.error(
                "Task failed",
                metadata: ["connector": "\(name)", "task": "\(task)", "trace": "\(trace ?? "")"]
            )
        }
        try? await store.putStatus(connector: name, task: task, status)
    }

    func clearTaskStatuses(_ name: String, runner: ConnectorRunner) {
        guard isCurrent(name, runner) else { return }
        entries[name]?.taskStatuses = [:]
    }

    /// Stores new task configs (with the framework's keys added); wakes the runner when they changed.
    func updateTaskConfigs(
        _ name: String,
        _ configs: [[String: String]],
        runner: ConnectorRunner
    ) async throws(ConnectError) {
        guard isCurrent(name, runner), let entry = entries[name] else { return }
        let completed = configs.map { config in
            var config = config
            config["task.class"] = entry.plugin.taskClassName
            if entry.plugin.type == .sink {
                for key in ["topics", "topics.regex"] where config[key] == nil {
                    if let value = entry.config[key], !value.isEmpty { config[key] = value }
                }
            }
            return config
        }
        guard completed != entry.taskConfigs else { return }
        try await store.putTaskConfigs(name: name, completed)
        guard isCurrent(name, runner) else { return }
        entries[name]?.taskConfigs = completed
        // New task configs start new tasks: earlier failures no longer apply.
        entries[name]?.taskStatuses = [:]
        entry.runner.taskSetChanged.notify()
    }

    func noteActiveTopic(_ name: String, _ topic: String) async {
        try? await store.addActiveTopic(connector: name, topic: topic)
    }

    // MARK: Connectors

    private var adminBusy = false
    private var adminWaiters: [CheckedContinuation<Void, Never>] = []

    /// Changes to connectors run one at a time, in order (each reads the state, writes the store, then updates
    /// memory; two interleaved at their awaits could leave the store and memory disagreeing).
    private func serialized<T>(_ body: () async throws(WorkerError) -> T) async throws(WorkerError) -> T {
        if adminBusy {
            await withCheckedContinuation { adminWaiters.append($0) }
        } else {
            adminBusy = true
        }
        defer {
            if adminWaiters.isEmpty { adminBusy = false } else { adminWaiters.removeFirst().resume() }
        }
        return try await body()
    }

    public func connectorNames() -> [String] { entries.keys.sorted() }

    private func entry(_ name: String) throws(WorkerError) -> Entry {
        guard let entry = entries[name] else { throw .notFound("Connector \(name) not found") }
        return entry
    }

    public func info(_ name: String) throws(WorkerError) -> ConnectorInfo {
        let entry = try entry(name)
        return ConnectorInfo(
            name: name,
            config: ConnectorConfig.redacted(entry.config, definition: entry.plugin.configDef),
            tasks: entry.targetState == .stopped ? [] : Array(entry.taskConfigs.indices),
            type: entry.plugin.type.rawValue
        )
    }

    public func config(_ name: String) throws(WorkerError) -> [String: String] {
        let entry = try entry(name)
        return ConnectorConfig.redacted(entry.config, definition: entry.plugin.configDef)
    }

    /// Creates a connector (`POST /connectors`, or `PUT .../config` of a new name). Returns its info.
    public func create(
        name rawName: String,
        config: [String: String],
        initialState: TargetState = .started
    ) async throws(WorkerError) -> ConnectorInfo {
        try await serialized { () async throws(WorkerError) in
            try await createNow(name: rawName, config: config, initialState: initialState)
        }
    }

    private func createNow(
        name rawName: String,
        config: [String: String],
        initialState: TargetState
    ) async throws(WorkerError) -> ConnectorInfo {
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        var config = config
        try checkName(name, config: &config)
        guard entries[name] == nil else { throw .alreadyExists("Connector \(name) already exists") }
        let plugin = try await validatedPlugin(config)
        let principal = Self.callerPrincipal
        do {
            try await store.insertConnector(
                name: name,
                config: config,
                targetState: initialState,
                principal: principal
            )
        } catch {
            throw .failed(error.message)
        }
        add(
            name: name,
            config: config,
            plugin: plugin,
            targetState: initialState,
            taskConfigs: [],
            principal: principal
        )
        logger.info(
            "Connector created",
            metadata: ["connector": "\(name)", "class": "\(plugin.className)", "state": "\(initialState.rawValue)"]
        )
        return try info(name)
    }

    /// The principal of the request creating or configuring a connector: the connector will run as it (so a
    /// config can never make a connector do what its author may not).
    private static var callerPrincipal: String { Caller.current?.principal ?? Caller.anonymousPrincipal }

    private func checkName(_ name: String, config: inout [String: String]) throws(WorkerError) {
        guard !name.isEmpty else { throw .badRequest("Connector name must not be empty") }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .badRequest("Connector name must not contain ISO control characters")
        }
        if let inConfig = config["name"], inConfig.trimmingCharacters(in: .whitespacesAndNewlines) != name {
            throw .badRequest(
                "Connector name configuration (\(inConfig)) doesn't match connector name in the URL (\(name))"
            )
        }
        config["name"] = name
    }

    private func validatedPlugin(_ config: [String: String]) async throws(WorkerError) -> ConnectorPlugin {
        guard let className = config["connector.class"], !className.isEmpty else {
            throw .badRequest("Connector config \(Self.javaMap(config, definition: nil)) contains no connector type")
        }
        guard let plugin = registry.connector(className) else {
            throw .badRequest(
                "Failed to find any class that implements Connector and which name matches \(className), available connectors are: \(registry.connectors.map(\.className).joined(separator: ", "))"
            )
        }
        if plugin.usesServerFiles {
            do {
                try await broker.authorize(.all, on: .cluster)
            } catch {
                throw .forbidden(
                    "\(plugin.className) reads or writes files on the server: only a super user (ALL on the cluster) may configure it when authentication is on"
                )
            }
        }
        let result = await validate(config: config, plugin: plugin)
        let errors = result.configs.flatMap(\.errors)
        if !errors.isEmpty {
            throw .badRequest(
                "Connector configuration is invalid and contains the following \(errors.count) error(s):\n"
                    + errors.joined(separator: "\n")
                    + "\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`"
            )
        }
        return plugin
    }

    /// Replaces a connector's config, or creates it. Returns whether it was created.
    public func putConfig(
        _ rawName: String,
        _ config: [String: String]
    ) async throws(WorkerError) -> (created: Bool, info: ConnectorInfo) {
        try await serialized { () async throws(WorkerError) in try await putConfigNow(rawName, config) }
    }

    private func putConfigNow(
        _ rawName: String,
        _ config: [String: String]
    ) async throws(WorkerError) -> (created: Bool, info: ConnectorInfo) {
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let entry = entries[name] else {
            return (true, try await createNow(name: name, config: config, initialState: .started))
        }
        var config = config
        try checkName(name, config: &config)
        // A secret shown as [hidden] and sent back unchanged keeps its value.
        for (key, value) in config
        where value == "[hidden]" && ConnectorConfig.isSecret(key, definition: entry.plugin.configDef) {
            config[key] = entry.config[key]
        }
        let plugin = try await validatedPlugin(config)
        let principal = Self.callerPrincipal
        do {
            try await store.updateConnectorConfig(name: name, config: config, principal: principal)
        } catch {
            throw .failed(error.message)
        }
        entries[name]?.config = config
        entries[name]?.plugin = plugin
        entries[name]?.principal = principal
        // The tasks restart with the new config: earlier failures no longer apply.
        entries[name]?.taskStatuses = [:]
        entry.runner.changed.notify()
        logger.info("Connector config updated", metadata: ["connector": "\(name)"])
        return (false, try info(name))
    }

    /// Applies a partial config: a nil value removes its key.
    public func patchConfig(_ name: String, _ patch: [(String, String?)]) async throws(WorkerError) -> ConnectorInfo {
        try await serialized { () async throws(WorkerError) in try await patchConfigNow(name, patch) }
    }

    private func patchConfigNow(_ name: String, _ patch: [(String, String?)]) async throws(WorkerError) -> ConnectorInfo
    {
        let entry = try entry(name)
        var config = entry.config
        for (key, value) in patch {
            if let value, !(value == "[hidden]" && ConnectorConfig.isSecret(key, definition: entry.plugin.configDef)) {
                config[key] = value
            } else if value == nil {
                config[key] = nil
            }
        }
        return try await putConfigNow(name, config).info
    }

    public func status(_ name: String) throws(WorkerError) -> ConnectorStateInfo {
        let entry = try entry(name)
        let tasks =
            entry.targetState == .stopped
            ? []
            : entry.taskConfigs.indices.map { id in
                (id, entry.taskStatuses[id] ?? ConnectorStatus(state: .unassigned, workerId: workerId))
            }
        return ConnectorStateInfo(
            name: name,
            connector: entry.connectorStatus,
            tasks: tasks,
            type: entry.plugin.type.rawValue
        )
    }

    public func taskStatus(_ name: String, _ task: Int) throws(WorkerError) -> ConnectorStatus {
        let entry = try entry(name)
        guard entry.targetState != .stopped, entry.taskConfigs.indices.contains(task) else {
            throw .notFound("No status found for task \(name)-\(task)")
        }
        return entry.taskStatuses[task] ?? ConnectorStatus(state: .unassigned, workerId: workerId)
    }

    public func tasks(_ name: String) throws(WorkerError) -> [[String: String]] {
        let entry = try entry(name)
        guard entry.targetState != .stopped else { return [] }
        return entry.taskConfigs.map { ConnectorConfig.redacted($0, definition: entry.plugin.configDef) }
    }

    /// Restarts the connector and, with `includeTasks`, its tasks; `onlyFailed` limits both to failed ones. Returns
    /// the status with every instance to restart shown as RESTARTING (nil for the plain restart, answered 204).
    public func restart(_ name: String, includeTasks: Bool, onlyFailed: Bool) throws(WorkerError) -> ConnectorStateInfo?
    {
        let entry = try entry(name)
        // A stopped connector has nothing running to restart; a paused one has no running tasks.
        let restartConnector = entry.targetState != .stopped && (!onlyFailed || entry.connectorStatus.state == .failed)
        var restartTasks: [Int] = []
        if includeTasks && entry.targetState == .started {
            restartTasks = entry.taskConfigs.indices.filter { !onlyFailed || entry.taskStatuses[$0]?.state == .failed }
        }
        if restartConnector { entry.runner.restartConnector() }
        for task in restartTasks { entry.runner.restartTask(task) }
        guard includeTasks || onlyFailed else { return nil }
        var status = try status(name)
        if restartConnector { status.connector.state = .restarting }
        for index in status.tasks.indices where restartTasks.contains(status.tasks[index].0) {
            status.tasks[index].1.state = .restarting
        }
        if restartConnector { entries[name]?.connectorStatus.state = .restarting }
        for task in restartTasks { entries[name]?.taskStatuses[task]?.state = .restarting }
        return status
    }

    public func restartTask(_ name: String, _ task: Int) throws(WorkerError) {
        guard let entry = entries[name] else { throw .notFound("Unknown connector: \(name)") }
        guard entry.targetState != .stopped, entry.taskConfigs.indices.contains(task) else {
            throw .notFound("Unknown task: \(name)-\(task)")
        }
        entry.runner.restartTask(task)
    }

    public func setTargetState(_ name: String, _ state: TargetState) async throws(WorkerError) {
        try await serialized { () async throws(WorkerError) in try await setTargetStateNow(name, state) }
    }

    private func setTargetStateNow(_ name: String, _ state: TargetState) async throws(WorkerError) {
        let entry = try entry(name)
        guard entry.targetState != state else { return }
        do {
            try await store.setTargetState(name: name, state, clearTasks: state == .stopped)
        } catch {
            throw .failed(error.message)
        }
        entries[name]?.targetState = state
        if state == .stopped {
            entries[name]?.taskConfigs = []
            entries[name]?.taskStatuses = [:]
        }
        entry.runner.changed.notify()
        logger.info("Connector target state changed", metadata: ["connector": "\(name)", "state": "\(state.rawValue)"])
    }

    public func delete(_ name: String) async throws(WorkerError) {
        try await serialized { () async throws(WorkerError) in try await deleteNow(name) }
    }

    private func deleteNow(_ name: String) async throws(WorkerError) {
        let entry = try entry(name)
        do {
            try await store.deleteConnector(name: name)
        } catch {
            throw .failed(error.message)
        }
        entries[name] = nil
        entry.runner.changed.notify()
        logger.info("Connector deleted", metadata: ["connector": "\(name)"])
    }

    // MARK: Topics

    public func activeTopics(_ name: String) async throws(WorkerError) -> [String] {
        _ = try entry(name)
        do {
            return try await store.activeTopics(connector: name)
        } catch {
            throw .failed(error.message)
        }
    }

    public func resetActiveTopics(_ name: String) async throws(WorkerError) {
        _ = try entry(name)
        do {
            try await store.resetActiveTopics(connector: name)
        } catch {
            throw .failed(error.message)
        }
    }

    // MARK: Offsets

    public func offsets(_ name: String) async throws(WorkerError) -> [ConnectorOffset] {
        let entry = try entry(name)
        switch entry.plugin.type {
        case .source:
            do throws(ConnectError) {
                return try await store.sourceOffsets(connector: name).map { partition, offset in
                    ConnectorOffset(
                        partition: (try? ConnectJSON.parse(partition)) ?? .null,
                        offset: (try? ConnectJSON.parse(offset)) ?? .null
                    )
                }
            } catch {
                throw .failed(error.message)
            }
        case .sink:
            let committed: [TopicPartition: CommittedOffset]
            do {
                committed = try await broker.fetchCommittedOffsets(groupId: Self.sinkGroup(name), partitions: nil)
            } catch {
                throw WorkerError(error)
            }
            return committed.sorted { $0.key < $1.key }
                .map { (tp: TopicPartition, offset: CommittedOffset) -> ConnectorOffset in
                    ConnectorOffset(
                        partition: .object(
                            ConnectObject([
                                ("kafka_topic", .string(tp.topic)), ("kafka_partition", .int(Int64(tp.partition))),
                            ])
                        ),
                        offset: .object(ConnectObject([("kafka_offset", .int(offset.offset))]))
                    )
                }
        }
    }

    private func requireStopped(_ name: String) throws(WorkerError) -> Entry {
        let entry = try entry(name)
        guard entry.targetState == .stopped else {
            throw .badRequest(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/\(name)/stop' endpoint"
            )
        }
        return entry
    }

    /// Alters (or, with a null offset, resets) the offsets of a stopped connector. Returns the message to show.
    public func alterOffsets(_ name: String, _ offsets: [ConnectorOffset]) async throws(WorkerError) -> String {
        try await serialized { () async throws(WorkerError) in try await alterOffsetsNow(name, offsets) }
    }

    private func alterOffsetsNow(_ name: String, _ offsets: [ConnectorOffset]) async throws(WorkerError) -> String {
        let entry = try requireStopped(name)
        guard !offsets.isEmpty else { throw .badRequest("The offsets to be altered may not be null or empty") }
        switch entry.plugin.type {
        case .source:
            var changes: [(partition: String, offset: String?)] = []
            for item in offsets {
                guard case .object(let partition) = item.partition else {
                    throw .badRequest("Source partitions may not be null")
                }
                switch item.offset {
                case .null: changes.append((ConnectJSON.canonicalText(partition), nil))
                case .object(let offset):
                    changes.append((ConnectJSON.canonicalText(partition), ConnectJSON.canonicalText(offset)))
                default: throw .badRequest("Source offsets must be JSON objects or null")
                }
            }
            do {
                try await store.commitSourceOffsets(connector: name, changes)
            } catch {
                throw .failed(error.message)
            }
            return
                "The Connect framework-managed offsets for this connector have been altered successfully. However, if this connector manages offsets externally, they will need to be manually altered in the system that the connector uses."
        case .sink:
            var alter: [TopicPartition: CommittedOffset] = [:]
            var reset: Set<TopicPartition> = []
            for item in offsets {
                guard case .object(let partition) = item.partition,
                    case .string(let topic)? = partition["kafka_topic"],
                    let partitionNumber = Self.intValue(partition["kafka_partition"]),
                    let partitionId = Int32(exactly: partitionNumber)
                else {
                    throw .badRequest(
                        "Sink partitions must have the keys 'kafka_topic' (a string) and 'kafka_partition' (an integer): \(item.partition.text)"
                    )
                }
                guard let tp = try? TopicPartition(topic: topic, partition: partitionId) else {
                    throw .badRequest("Invalid sink partition \(topic)-\(partitionId)")
                }
                switch item.offset {
                case .null: reset.insert(tp)
                case .object(let offset):
                    guard let value = Self.intValue(offset["kafka_offset"]), value >= 0 else {
                        throw .badRequest(
                            "Sink offsets must have the key 'kafka_offset' with a non-negative integer: \(item.offset.text)"
                        )
                    }
                    alter[tp] = CommittedOffset(offset: value)
                default: throw .badRequest("Sink offsets must be JSON objects or null")
                }
            }
            do {
                let group = Self.sinkGroup(name)
                if !reset.isEmpty {
                    // Kafka deletes those partitions' offsets; the group's other offsets are committed again after.
                    let committed = try await broker.fetchCommittedOffsets(groupId: group, partitions: nil)
                    do {
                        try await broker.deleteGroup(group)
                    } catch {
                        if error.code != .groupIdNotFound { throw error }
                    }
                    for (tp, offset) in committed where !reset.contains(tp) && alter[tp] == nil { alter[tp] = offset }
                }
                if !alter.isEmpty {
                    let result = try await broker.commitOffsets(OffsetCommitRequest(groupId: group, offsets: alter))
                    if let (tp, error) = result.failed.first {
                        throw WorkerError.badRequest(
                            "Cannot alter the offset of \(tp.topic)-\(tp.partition): \(error.message)"
                        )
                    }
                }
            } catch let error as WorkerError {
                throw error
            } catch let error as BrokerError {
                throw WorkerError(error)
            } catch {
                throw .failed("\(error)")
            }
            return "The offsets for this connector have been altered successfully"
        }
    }

    public func resetOffsets(_ name: String) async throws(WorkerError) -> String {
        try await serialized { () async throws(WorkerError) in try await resetOffsetsNow(name) }
    }

    private func resetOffsetsNow(_ name: String) async throws(WorkerError) -> String {
        let entry = try requireStopped(name)
        switch entry.plugin.type {
        case .source:
            do {
                try await store.deleteSourceOffsets(connector: name)
            } catch {
                throw .failed(error.message)
            }
            return
                "The Connect framework-managed offsets for this connector have been reset successfully. However, if this connector manages offsets externally, they will need to be manually reset in the system that the connector uses."
        case .sink:
            do {
                try await broker.deleteGroup(Self.sinkGroup(name))
            } catch {
                if error.code != .groupIdNotFound { throw WorkerError(error) }
            }
            return "The offsets for this connector have been reset successfully"
        }
    }

    /// A config as Java prints a map (`{k=v, ...}`), secrets hidden: how Kafka quotes a config in its messages.
    public static func javaMap(_ config: [String: String], definition: ConfigDef?) -> String {
        let shown = ConnectorConfig.redacted(config, definition: definition)
        return "{" + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
    }

    static func intValue(_ value: ConnectValue?) -> Int64? {
        switch value {
        case .int(let number): number
        case .string(let text): Int64(text)
        default: nil
        }
    }

    /// The consumer group of a sink connector (Kafka's `connect-<name>`).
    public static func sinkGroup(_ name: String) -> String { "connect-\(name)" }

    // MARK: Validation

    /// `PUT /connector-plugins/{plugin}/config/validate`: every key of the framework, the plugin, its transforms and
    /// predicates, with its value and errors.
    public nonisolated func validate(config: [String: String], plugin: ConnectorPlugin) async -> ConfigInfos {
        var infos: [ConfigInfos.Entry] = []
        let all = plugin.connectorConfigDef
        let errors = all.validate(config)
        for key in all.keys {
            infos.append(.init(key: key, value: config[key.name], errors: errors[key.name] ?? []))
        }
        // Sinks read exactly one of topics and topics.regex.
        if plugin.type == .sink {
            let topics = ParsedConfig.splitList(config["topics"] ?? "")
            let regex = config["topics.regex"]?.trimmingCharacters(in: .whitespaces) ?? ""
            let message: String? =
                topics.isEmpty && regex.isEmpty
                ? "Must configure one of topics or topics.regex"
                : (!topics.isEmpty && !regex.isEmpty
                    ? "topics and topics.regex are mutually exclusive options, but both are set." : nil)
            if let message, let index = infos.firstIndex(where: { $0.key.name == "topics" }) {
                infos[index].errors.append(message)
            }
            if let dlq = config["errors.deadletterqueue.topic.name"]?.trimmingCharacters(in: .whitespaces),
                !dlq.isEmpty,
                topics.contains(dlq),
                let index = infos.firstIndex(where: { $0.key.name == "errors.deadletterqueue.topic.name" })
            {
                infos[index].errors.append(
                    "The DLQ topic '\(dlq)' may not be included in the list of topics ('topics=\(topics.joined(separator: ","))') consumed by the connector"
                )
            }
        }
        // Converters must be configurable.
        for (isKey, name) in [(true, "key.converter"), (false, "value.converter")] {
            do {
                _ = try ConnectorConfig.converter(config, isKey: isKey, defaults: configuration.converterDefaults)
            } catch {
                if let index = infos.firstIndex(where: { $0.key.name == name }), infos[index].errors.isEmpty {
                    infos[index].errors.append(error.message)
                }
            }
        }
        let transformResults = TransformChain.validate(config: config, registry: registry)
        for result in transformResults {
            infos.append(.init(key: result.key, value: result.value, errors: result.errors))
        }
        // The files and folders it would use must be ones connectors may use; otherwise the plugin's own checks do
        // not run (they would open those files, and their answers would tell what exists outside the roots).
        let pathProblems = await fileRoots.problems(
            plugin.serverPaths?(config, configuration.dataDirectory) ?? []
        )
        for (key, problems) in pathProblems {
            if let index = infos.firstIndex(where: { $0.key.name == key }) { infos[index].errors += problems }
        }
        // The plugin's own checks across keys.
        if errors.values.allSatisfy(\.isEmpty) && pathProblems.isEmpty {
            for (key, problems) in await plugin.makeConnector().validate(config: config) where !problems.isEmpty {
                if let index = infos.firstIndex(where: { $0.key.name == key }) {
                    infos[index].errors += problems
                } else {
                    infos.append(
                        .init(key: ConfigKey(key, .string, "").withoutDefinition, value: config[key], errors: problems)
                    )
                }
            }
        }
        // Keys nobody defines are listed with a null definition, as Kafka does.
        let known = Set(infos.map(\.key.name))
        for key in config.keys.sorted() where !known.contains(key) {
            infos.append(.init(key: ConfigKey(key, .string, "").withoutDefinition, value: config[key], errors: []))
        }
        var groups = [
            ConnectorConfig.common, ConnectorConfig.transformsGroup, ConnectorConfig.predicatesGroup,
            ConnectorConfig.errorsGroup,
        ]
        for info in infos {
            if let group = info.key.group, !groups.contains(group) { groups.append(group) }
        }
        for index in infos.indices where ConnectorConfig.isSecret(infos[index].key.name, definition: all) {
            if infos[index].value != nil { infos[index].value = "[hidden]" }
        }
        return ConfigInfos(name: config["connector.class"] ?? plugin.className, groups: groups, configs: infos)
    }
}

// MARK: - What the API shows

public struct ConnectorInfo: Sendable {
    public var name: String
    public var config: [String: String]
    public var tasks: [Int]
    public var type: String
}

public struct ConnectorStateInfo: Sendable {
    public var name: String
    public var connector: ConnectorStatus
    public var tasks: [(Int, ConnectorStatus)]
    public var type: String
}

public struct ConnectorOffset: Sendable {
    public var partition: ConnectValue
    public var offset: ConnectValue

    public init(partition: ConnectValue, offset: ConnectValue) {
        self.partition = partition
        self.offset = offset
    }
}

public struct ConfigInfos: Sendable {
    public struct Entry: Sendable {
        public var key: ConfigKey
        public var value: String?
        public var errors: [String]
    }

    public var name: String
    public var groups: [String]
    public var configs: [Entry]
    public var errorCount: Int { configs.reduce(0) { $0 + $1.errors.count } }
}

extension ConfigKey {
    /// Marks a key that no definition declares (shown with `"definition": null`).
    var withoutDefinition: ConfigKey {
        var key = self
        key.orderInGroup = Int.min
        return key
    }

    public var isUndefined: Bool { orderInGroup == Int.min }
}
