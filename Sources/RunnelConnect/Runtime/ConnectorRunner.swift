import Logging
import RunnelBrokerAPI
import Synchronization

/// Runs one connector for as long as it exists: its connector instance (which computes task configs) and its
/// tasks, as child tasks. A change of config or target state cancels the current generation (stopping its tasks
/// cleanly) and starts the next.
final class ConnectorRunner: Sendable {
    let name: String
    let worker: ConnectWorker
    /// The connector's config or target state changed, or it was deleted.
    let changed = AsyncSignal()
    /// The stored task configs changed.
    let taskSetChanged = AsyncSignal()
    /// The connector instance should restart (`restartPending`) or recompute its task configs.
    private let connectorWake = AsyncSignal()
    private let restartPending = Mutex(false)
    private let taskRunners = Mutex<[Int: TaskRunner]>([:])

    init(name: String, worker: ConnectWorker) {
        self.name = name
        self.worker = worker
    }

    func restartConnector() {
        restartPending.withLock { $0 = true }
        connectorWake.notify()
    }

    func requestReconfiguration() {
        connectorWake.notify()
    }

    func restartTask(_ id: Int) {
        if let runner = taskRunners.withLock({ $0[id] }) {
            runner.restart.notify()
        }
    }

    func run() async {
        while !Task.isCancelled, let desired = await worker.desired(name, runner: self) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await Caller.$current.withValue(Caller(principal: desired.principal)) {
                        await self.runGeneration(desired)
                    }
                }
                group.addTask { await self.changed.wait() }
                _ = await group.next()
                group.cancelAll()
            }
        }
    }

    private func runGeneration(_ desired: ConnectWorker.Desired) async {
        switch desired.targetState {
        case .stopped:
            await worker.setConnectorStatus(name, .stopped, runner: self)
            await worker.clearTaskStatuses(name, runner: self)
            await waitForCancellation()
        case .paused, .started:
            // Checked again at every start: a connector stored before the roots changed (or a link swapped since
            // its config was checked) does not run outside them.
            let paths = desired.plugin.serverPaths?(desired.config, worker.configuration.dataDirectory) ?? []
            let problems = await worker.fileRoots.problems(paths)
            if !problems.isEmpty {
                let message = problems.sorted { $0.key < $1.key }.flatMap(\.value).joined(separator: "; ")
                await worker.setConnectorStatus(
                    name,
                    .failed,
                    trace: Self.trace(ConnectError.config(message), at: "connector \(name)"),
                    runner: self
                )
                await waitForCancellation()
                return
            }
            await withDiscardingTaskGroup { group in
                group.addTask { await self.runConnectorInstance(desired) }
                group.addTask { await self.runTasks(desired) }
            }
        }
    }

    /// The connector instance: start it, store its task configs, recompute them when it asks, restart it when
    /// asked. A paused connector runs no instance (it starts one once, only to get its first task configs).
    private func runConnectorInstance(_ desired: ConnectWorker.Desired) async {
        let context = RunnerConnectorContext(
            connectorName: name,
            dataDirectory: worker.configuration.dataDirectory,
            logger: worker.taskLogger(name, nil),
            runner: self
        )
        while !Task.isCancelled {
            restartPending.withLock { $0 = false }
            let parsed = desired.plugin.parse(desired.config)
            if desired.targetState == .paused {
                // A connector created paused still gets its tasks (shown PAUSED), as Kafka's does.
                if await worker.taskConfigs(name, runner: self).isEmpty {
                    let connector = desired.plugin.makeConnector()
                    do throws(ConnectError) {
                        try await connector.start(config: parsed, context: context)
                        try await worker.updateTaskConfigs(
                            name,
                            try await connector.taskConfigs(maxTasks: parsed.int("tasks.max") ?? 1),
                            runner: self
                        )
                    } catch {
                        worker.logger.warning(
                            "A paused connector could not compute its task configs",
                            metadata: ["connector": "\(name)", "error": "\(error)"]
                        )
                    }
                    await connector.stop()
                }
                await worker.setConnectorStatus(name, .paused, runner: self)
                await connectorWake.wait()
                continue
            }
            let connector = desired.plugin.makeConnector()
            do throws(ConnectError) {
                try await connector.start(config: parsed, context: context)
                await worker.setConnectorStatus(name, .running, runner: self)
                let maxTasks = parsed.int("tasks.max") ?? 1
                while !Task.isCancelled {
                    let configs = try await connector.taskConfigs(maxTasks: maxTasks)
                    guard configs.count <= maxTasks else {
                        throw .failure(
                            "The connector \(name) has generated \(configs.count) tasks, which is greater than \(maxTasks), the maximum number of tasks it is configured to create."
                        )
                    }
                    try await worker.updateTaskConfigs(name, configs, runner: self)
                    await connectorWake.wait()
                    if restartPending.withLock({ $0 }) { break }
                }
            } catch {
                await worker.setConnectorStatus(
                    name,
                    .failed,
                    trace: Self.trace(error, at: "connector \(name)"),
                    runner: self
                )
                await connectorWake.wait()
            }
            await connector.stop()
        }
    }

    /// The tasks of the stored task configs, until those change.
    private func runTasks(_ desired: ConnectWorker.Desired) async {
        while !Task.isCancelled {
            let configs = await worker.taskConfigs(name, runner: self)
            if desired.targetState == .paused {
                // Failed tasks stay failed until restarted.
                for id in configs.indices where await worker.taskState(name, id, runner: self) != .failed {
                    await worker.setTaskStatus(name, id, .paused, runner: self)
                }
                await taskSetChanged.wait()
                continue
            }
            let runners = configs.enumerated().map { id, config in
                TaskRunner(id: id, config: config, desired: desired, parent: self)
            }
            taskRunners.withLock { $0 = Dictionary(uniqueKeysWithValues: runners.map { ($0.id, $0) }) }
            await withTaskGroup(of: Void.self) { group in
                for runner in runners { group.addTask { await runner.run() } }
                group.addTask { await self.taskSetChanged.wait() }
                _ = await group.next()
                group.cancelAll()
            }
            taskRunners.withLock { $0 = [:] }
        }
    }

    /// A failure as Kafka Connect shows it in a status: the error's class and message, then where it happened.
    static func trace(_ error: ConnectError, at place: String) -> String {
        "\(error)\n\tat \(place)\n"
    }
}

struct RunnerConnectorContext: ConnectorContext {
    let connectorName: String
    let dataDirectory: String
    let logger: Logger
    let runner: ConnectorRunner

    func requestTaskReconfiguration() {
        runner.requestReconfiguration()
    }
}

/// Runs one task: starts it, runs its loop, and on failure waits for a restart request; a restart request while
/// running stops it cleanly and starts it again.
final class TaskRunner: Sendable {
    enum Outcome: Sendable {
        case stopped
        case restart
        case failed(ConnectError)
    }

    let connector: String
    let id: Int
    let config: [String: String]
    let desired: ConnectWorker.Desired
    let worker: ConnectWorker
    /// The connector's runner: status updates from a runner that is no longer the connector's are ignored.
    let parent: ConnectorRunner
    let restart = AsyncSignal()

    init(id: Int, config: [String: String], desired: ConnectWorker.Desired, parent: ConnectorRunner) {
        self.connector = parent.name
        self.id = id
        self.config = config
        self.desired = desired
        self.worker = parent.worker
        self.parent = parent
    }

    func run() async {
        // A task that had failed stays failed across pause and resume, until it is restarted (as in Kafka).
        if await worker.taskState(connector, id, runner: parent) == .failed {
            await restart.wait()
            if Task.isCancelled { return }
        }
        while !Task.isCancelled {
            await worker.setTaskStatus(connector, id, .running, runner: parent)
            let outcome = await withTaskGroup(of: Outcome.self) { group in
                group.addTask { await self.work() }
                group.addTask {
                    await self.restart.wait()
                    return Task.isCancelled ? .stopped : .restart
                }
                var outcomes: [Outcome] = []
                if let first = await group.next() { outcomes.append(first) }
                group.cancelAll()
                for await other in group { outcomes.append(other) }
                // A restart asked for while the task was failing or stopping wins.
                if outcomes.contains(where: { if case .restart = $0 { true } else { false } }) {
                    return Outcome.restart
                }
                return outcomes.first ?? .stopped
            }
            if Task.isCancelled { return }
            switch outcome {
            case .stopped:
                return
            case .restart:
                await worker.setTaskStatus(connector, id, .restarting, runner: parent)
            case .failed(let error):
                await worker.setTaskStatus(
                    connector,
                    id,
                    .failed,
                    trace: ConnectorRunner.trace(error, at: "task \(connector)-\(id)"),
                    runner: parent
                )
                await restart.wait()
                if Task.isCancelled { return }
                await worker.setTaskStatus(connector, id, .restarting, runner: parent)
            }
        }
    }

    private func work() async -> Outcome {
        let settings = TaskSettings(
            connector: connector,
            taskId: id,
            connectorConfig: desired.config,
            taskConfig: config,
            plugin: desired.plugin,
            worker: worker
        )
        do throws(ConnectError) {
            switch desired.plugin.tasks {
            case .source(let make):
                try await SourceWork(settings: settings, task: make()).run()
            case .sink(let make):
                try await SinkWork(settings: settings, task: make()).run()
            }
        } catch {
            if Task.isCancelled && error.kind == .retriable { return .stopped }
            return .failed(error)
        }
        return .stopped
    }
}

/// What a task's loop needs: its identity, its configs and its worker.
struct TaskSettings: Sendable {
    let connector: String
    let taskId: Int
    let connectorConfig: [String: String]
    let taskConfig: [String: String]
    let plugin: ConnectorPlugin
    let worker: ConnectWorker

    var parsed: ParsedConfig { plugin.parse(connectorConfig) }

    /// The converters, transforms and error policy the connector's config asks for.
    func pipeline() throws(ConnectError) -> TaskPipeline {
        let defaults = worker.configuration.converterDefaults
        return TaskPipeline(
            keyConverter: try ConnectorConfig.converter(connectorConfig, isKey: true, defaults: defaults),
            valueConverter: try ConnectorConfig.converter(connectorConfig, isKey: false, defaults: defaults),
            chain: try TransformChain(config: connectorConfig, registry: worker.registry),
            policy: ErrorPolicy(config: parsed)
        )
    }
}

/// How a task's records are converted and transformed, and what it does when that fails.
struct TaskPipeline: Sendable {
    let keyConverter: any Converter
    let valueConverter: any Converter
    let chain: TransformChain
    let policy: ErrorPolicy
}
