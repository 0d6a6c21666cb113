import Foundation
public import Logging
import NIOPosix
public import RunnelBrokerAPI
import RunnelRecords
public import ServiceLifecycle

/// Why a request to the worker failed; the REST API maps each case to its status in one place.
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
    func serialized<T>(_ body: () async throws(WorkerError) -> T) async throws(WorkerError) -> T {
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

    func entry(_ name: String) throws(WorkerError) -> Entry {
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

}
