import Foundation
import GRDB
import Logging
import RunnelBrokerAPI
public import RunnelConnect
import Synchronization

/// The SQLite source: rows of SQLite tables (or of a query) become records, found by the modes of Confluent's
/// JDBC source connector, whose configs it also accepts as they are (`jdbc:sqlite:` URLs).
public enum SqliteSource {
    public static let plugin = ConnectorPlugin(
        className: "io.runnel.connect.sqlite.SqliteSourceConnector",
        version: "1.0.0",
        configDef: SqliteSourceConfig.keys,
        extraAliases: ["io.confluent.connect.jdbc.JdbcSourceConnector", "JdbcSourceConnector"],
        taskClassName: "io.runnel.connect.sqlite.SqliteSourceTask",
        serverPaths: { config, _ in
            guard let path = try? SqliteSourceConfig.databasePath(config["connection.url"] ?? "") else { return [] }
            return [ServerPath(key: "connection.url", path: path)]
        },
        makeConnector: { SqliteSourceConnector() },
        tasks: .source({ SqliteSourceTask() })
    )
}

/// Lists the tables, splits them over tasks, and watches for tables added or removed
/// (`table.poll.interval.ms`).
final class SqliteSourceConnector: Connector {
    private var values: [String: String] = [:]
    private var config: SqliteSourceConfig?
    private let tables = TableList()
    private var monitor: Task<Void, Never>?

    final class TableList: Sendable {
        let names = Mutex<[String]>([])
    }

    func start(config parsed: ParsedConfig, context: any ConnectorContext) async throws(ConnectError) {
        values = parsed.values
        let config: SqliteSourceConfig
        do {
            config = try SqliteSourceConfig(parsed.values)
        } catch {
            throw error.connectError
        }
        self.config = config
        let database = try await SqliteCatalog.open(config.path)
        guard config.query == nil else { return }
        let found = try await Self.readableTables(database, config: config, logger: context.logger)
        if found.isEmpty {
            context.logger.warning(
                "No table of the database matches the connector's table settings yet",
                metadata: ["database": "\(config.path)"]
            )
        }
        tables.names.withLock { $0 = found }
        let tables = self.tables
        monitor = Self.watching(database, config: config, tables: tables, context: context)
    }

    private static func watching(
        _ database: DatabaseQueue,
        config: SqliteSourceConfig,
        tables: TableList,
        context: any ConnectorContext
    ) -> Task<Void, Never> {
        Task { await watch(database, config: config, tables: tables, context: context) }
    }

    /// Every `table.poll.interval.ms`, lists the tables again and asks for new task configs when they changed.
    private static func watch(
        _ database: DatabaseQueue,
        config: SqliteSourceConfig,
        tables: TableList,
        context: any ConnectorContext
    ) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(config.tablePollIntervalMs))
            if Task.isCancelled { break }
            let current: [String]
            do {
                current = try await readableTables(database, config: config, logger: context.logger)
            } catch {
                continue
            }
            let previous = tables.names.withLock { names in
                let previous = names
                names = current
                return previous
            }
            if previous != current {
                context.logger.info(
                    "The set of tables changed: reconfiguring tasks",
                    metadata: ["tables": "\(current.joined(separator: ","))"]
                )
                context.requestTaskReconfiguration()
            }
        }
    }

    /// The tables the filter admits whose topic name is valid (others are logged and skipped).
    static func readableTables(
        _ database: DatabaseQueue,
        config: SqliteSourceConfig,
        logger: Logger
    ) async throws(ConnectError) -> [String] {
        let names: [String]
        do {
            names = try await database.read { db in try SqliteCatalog.tables(db, config: config) }
        } catch {
            throw .retriable("Cannot list the tables of \(config.path): \(SqliteCatalog.describe(error))")
        }
        return names.filter { name in
            guard let problem = TopicNames.problem(config.topic(for: name)) else { return true }
            logger.error(
                "Skipping a table whose topic name is not valid",
                metadata: ["table": "\(name)", "topic": "\(config.topic(for: name))", "error": "\(problem)"]
            )
            return false
        }
    }

    /// The query runs in one task; tables are split in contiguous groups over at most `maxTasks` tasks.
    func taskConfigs(maxTasks: Int) async throws(ConnectError) -> [[String: String]] {
        guard config?.query == nil else { return [values] }
        let names = tables.names.withLock { $0 }
        guard !names.isEmpty else { return [] }
        let count = min(maxTasks, names.count)
        var configs: [[String: String]] = []
        var start = 0
        for group in 0..<count {
            let size = names.count / count + (group < names.count % count ? 1 : 0)
            var config = values
            config[SqliteSourceTask.tablesKey] = ConnectJSON.canonicalText(
                ConnectObject([("tables", .array(names[start..<start + size].map(ConnectValue.string)))])
            )
            configs.append(config)
            start += size
        }
        return configs
    }

    func stop() async {
        monitor?.cancel()
        monitor = nil
    }

    /// Opens the database and checks every selected table (or the query) against the mode: a bad column, a
    /// nullable key, a missing table are reported before the connector is created.
    func validate(config values: [String: String]) async -> [String: [String]] {
        let config: SqliteSourceConfig
        do {
            config = try SqliteSourceConfig(values)
        } catch {
            return [error.key: [error.message]]
        }
        let database: DatabaseQueue
        do {
            database = try await SqliteCatalog.open(config.path)
        } catch {
            return ["connection.url": [error.message]]
        }
        let problems: [ConfigProblem]
        do {
            problems = try await database.read { db -> [ConfigProblem] in
                if config.query != nil {
                    do throws(ConfigProblem) {
                        _ = try SqliteQuerier(db, table: nil, config: config, offset: nil)
                        return []
                    } catch {
                        return [error]
                    }
                }
                var problems: [ConfigProblem] = []
                if case .whitelist(let names) = config.filter {
                    for name in names.sorted() where try SqliteCatalog.tableName(db, name) == nil {
                        problems.append(
                            ConfigProblem("table.whitelist", "Table \(name) does not exist in \(config.path)")
                        )
                    }
                }
                for table in try SqliteCatalog.tables(db, config: config) {
                    do throws(ConfigProblem) {
                        _ = try SqliteQuerier(db, table: table, config: config, offset: nil)
                    } catch {
                        problems.append(error)
                    }
                }
                return problems
            }
        } catch {
            return ["connection.url": ["Cannot read \(config.path): \(SqliteCatalog.describe(error))"]]
        }
        return Dictionary(grouping: problems, by: \.key).mapValues { $0.map(\.message) }
    }
}

/// Polls its tables in turn: each table is read batch after batch until it has no more rows, then waits
/// `poll.interval.ms`. Offsets come from the worker's store, so a restart resumes after the last row produced.
final class SqliteSourceTask: SourceTask {
    static let tablesKey = "tables"

    private var config: SqliteSourceConfig?
    private var database: DatabaseQueue?
    private var queriers: [SqliteQuerier] = []
    private var due: [ContinuousClock.Instant] = []
    /// The next batch of a querier (by index), read ahead while the previous one is produced.
    private var prefetch: (index: Int, task: Task<Result<SqliteQuerier.Batch, any Error>, Never>)?
    private var logger = Logger(label: "runnel.connect")

    func start(config values: [String: String], context: any SourceTaskContext) async throws(ConnectError) {
        logger = context.logger
        let config: SqliteSourceConfig
        do {
            config = try SqliteSourceConfig(values)
        } catch {
            throw error.connectError
        }
        self.config = config
        let database = try await SqliteCatalog.open(config.path)
        self.database = database
        var tables: [String?] = []
        if config.query != nil {
            tables = [nil]
        } else if let text = values[Self.tablesKey],
            case .array(let names)? = try? ConnectJSON.parse(text).object?["tables"]
        {
            tables = names.compactMap(\.stringValue)
        }
        for table in tables {
            var offset = try await context.offset(for: SqliteQuerier.partition(table: table))
            if offset == nil, let table {
                offset = try await context.offset(for: SqliteQuerier.legacyPartition(table: table))
            }
            let stored = offset
            let result: Result<SqliteQuerier, ConfigProblem>
            do {
                result = try await database.read { db in
                    do throws(ConfigProblem) {
                        return .success(try SqliteQuerier(db, table: table, config: config, offset: stored))
                    } catch {
                        return .failure(error)
                    }
                }
            } catch {
                throw .retriable("Cannot read \(config.path): \(SqliteCatalog.describe(error))")
            }
            switch result {
            case .success(let querier):
                queriers.append(querier)
                due.append(.now)
            case .failure(let problem):
                guard let table, problem.message.hasSuffix("does not exist") else { throw problem.connectError }
                logger.warning("A table of this task no longer exists", metadata: ["table": "\(table)"])
            }
        }
    }

    func poll() async throws(ConnectError) -> [SourceRecord] {
        guard let database, let config, let next = due.indices.min(by: { due[$0] < due[$1] }) else {
            try? await Task.sleep(for: .seconds(1))
            return []
        }
        let now = ContinuousClock.now
        if due[next] > now {
            try? await Task.sleep(for: min(due[next] - now, .seconds(1)))
            return []
        }
        let result: Result<SqliteQuerier.Batch, any Error>
        if let prefetch, prefetch.index == next {
            result = await prefetch.task.value
        } else {
            result = await Self.read(queriers[next], from: database)
        }
        prefetch = nil
        do {
            let batch = try result.get()
            queriers[next] = batch.querier
            due[next] = batch.exhausted ? .now + .milliseconds(config.pollIntervalMs) : .now
            if !batch.exhausted {
                // Read the next batch while this one is converted and produced.
                let querier = batch.querier
                prefetch = (next, Self.readAhead(querier, from: database))
            }
            return batch.records
        } catch let error as ConnectError {
            throw error
        } catch let problem as ConfigProblem {
            throw problem.connectError
        } catch is CancellationError {
            return []
        } catch {
            return try handle(error, at: next)
        }
    }

    private static func readAhead(
        _ querier: SqliteQuerier,
        from database: DatabaseQueue
    ) -> Task<Result<SqliteQuerier.Batch, any Error>, Never> {
        Task { await read(querier, from: database) }
    }

    /// One batch of a querier, in one read transaction; a querier whose table changed columns is remade first.
    private static func read(
        _ querier: SqliteQuerier,
        from database: DatabaseQueue
    ) async -> Result<SqliteQuerier.Batch, any Error> {
        let wallClock = Int64(Date().timeIntervalSince1970 * 1000)
        do {
            return .success(
                try await database.read { db in
                    do {
                        return try querier.read(db, now: wallClock)
                    } catch is SqliteQuerier.SchemaChanged {
                        return try querier.refreshed(db).read(db, now: wallClock)
                    }
                }
            )
        } catch {
            return .failure(error)
        }
    }

    /// A failed read: a table that disappeared is dropped (the connector notices and reconfigures), a locked
    /// database is tried again at the next poll, anything else fails the task.
    private func handle(_ error: any Error, at index: Int) throws(ConnectError) -> [SourceRecord] {
        let subject = queriers[index].table.map { "table \($0)" } ?? "the query"
        if let error = error as? DatabaseError {
            if error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                due[index] = .now + .milliseconds(200)
                return []
            }
            if queriers[index].table != nil, error.message?.hasPrefix("no such table") == true {
                logger.warning(
                    "A table of this task was dropped: no longer reading it",
                    metadata: ["table": "\(subject)"]
                )
                queriers.remove(at: index)
                due.remove(at: index)
                prefetch = nil
                return []
            }
        }
        throw .failure(
            "Reading \(subject) of \(config?.path ?? "the database") failed: \(SqliteCatalog.describe(error))"
        )
    }

    func stop() async {
        if let prefetch {
            prefetch.task.cancel()
            _ = await prefetch.task.value
            self.prefetch = nil
        }
        queriers = []
        due = []
        if let database {
            self.database = nil
            try? database.close()
        }
    }
}
