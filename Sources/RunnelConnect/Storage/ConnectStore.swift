import Foundation
import GRDB
import NIOPosix
import RunnelBrokerAPI
import RunnelJSON

/// The worker's state in `connect.db` (SQLite in WAL mode): connector configs and target states, task configs,
/// source offsets, the topics each connector used, and the last status of every connector and task.
///
/// Writes are synchronous=NORMAL: a committed transaction is in the WAL, which survives the process being killed.
/// GRDB runs every access on its own serial queue, never on the cooperative pool.
final class ConnectStore: Sendable {
    struct StoredConnector: Sendable {
        var name: String
        var config: [String: String]
        var targetState: TargetState
        var taskConfigs: [[String: String]]
        /// Who the connector's tasks run as.
        var principal: String
    }

    private let database: DatabaseQueue

    private init(database: DatabaseQueue) {
        self.database = database
    }

    /// Opens (creating and migrating) the store, on an I/O thread.
    static func open(path: String) async throws(ConnectError) -> ConnectStore {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                var configuration = Configuration()
                configuration.journalMode = .wal
                configuration.busyMode = .timeout(5)
                configuration.prepareDatabase { db in
                    try db.execute(sql: "PRAGMA synchronous = NORMAL")
                }
                let database = try DatabaseQueue(path: path, configuration: configuration)
                try migrator.migrate(database)
                // Connector configs hold their passwords: readable by the server's user only.
                for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
                    try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
                }
                return ConnectStore(database: database)
            }
        } catch {
            throw .failure("Cannot open the connect store \(path): \(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: connectors") { db in
            try db.create(table: "connector") { table in
                table.column("name", .text).primaryKey()
                table.column("config", .text).notNull()
                table.column("target_state", .text).notNull()
                table.column("created_at", .integer).notNull()
            }
            try db.create(table: "task_config") { table in
                table.column("connector", .text).notNull().references("connector", column: "name", onDelete: .cascade)
                table.column("task", .integer).notNull()
                table.column("config", .text).notNull()
                table.primaryKey(["connector", "task"])
            }
            // Offsets outlive their connector, as in Kafka Connect: re-creating it resumes where it stopped.
            try db.create(table: "source_offset") { table in
                table.column("connector", .text).notNull()
                table.column("partition", .text).notNull()
                table.column("offset", .text).notNull()
                table.primaryKey(["connector", "partition"])
            }
            try db.create(table: "active_topic") { table in
                table.column("connector", .text).notNull()
                table.column("topic", .text).notNull()
                table.primaryKey(["connector", "topic"])
            }
            try db.create(table: "status") { table in
                table.column("connector", .text).notNull()
                table.column("task", .integer).notNull()  // -1: the connector itself
                table.column("state", .text).notNull()
                table.column("trace", .text)
                table.column("worker_id", .text).notNull()
                table.primaryKey(["connector", "task"])
            }
        }
        migrator.registerMigration("v2: connector principal") { db in
            try db.alter(table: "connector") { table in
                table.add(column: "principal", .text).notNull().defaults(to: Caller.anonymousPrincipal)
            }
        }
        return migrator
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(ConnectError) -> T
    {
        do {
            return try await database.write(body)
        } catch {
            throw .retriable("connect store write failed: \(error)")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(ConnectError) -> T {
        do {
            return try await database.read(body)
        } catch {
            throw .retriable("connect store read failed: \(error)")
        }
    }

    static func encode(_ config: [String: String]) -> String {
        JSONValue.object(config.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).text
    }

    static func decode(_ text: String) -> [String: String] {
        guard let members = (try? JSONValue.parse(text))?.members else { return [:] }
        var config: [String: String] = [:]
        for (key, value) in members { config[key] = value.stringValue ?? value.text }
        return config
    }

    // MARK: Connectors

    func loadConnectors() async throws(ConnectError) -> [StoredConnector] {
        try await read { db in
            var tasks: [String: [(Int, String)]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT connector, task, config FROM task_config") {
                tasks[row["connector"], default: []].append((row["task"], row["config"]))
            }
            return try Row.fetchAll(
                db,
                sql: "SELECT name, config, target_state, principal FROM connector ORDER BY created_at"
            )
            .map { row in
                let name: String = row["name"]
                return StoredConnector(
                    name: name,
                    config: Self.decode(row["config"]),
                    targetState: TargetState(rawValue: row["target_state"]) ?? .started,
                    taskConfigs: (tasks[name] ?? []).sorted { $0.0 < $1.0 }.map { Self.decode($0.1) },
                    principal: row["principal"]
                )
            }
        }
    }

    /// Stores a new connector; fails if the name is taken.
    func insertConnector(
        name: String,
        config: [String: String],
        targetState: TargetState,
        principal: String
    ) async throws(ConnectError) {
        let text = Self.encode(config)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await write { db in
            try db.execute(
                sql: "INSERT INTO connector (name, config, target_state, created_at, principal) VALUES (?, ?, ?, ?, ?)",
                arguments: [name, text, targetState.rawValue, now, principal]
            )
        }
    }

    func updateConnectorConfig(name: String, config: [String: String], principal: String) async throws(ConnectError) {
        let text = Self.encode(config)
        try await write { db in
            try db.execute(
                sql: "UPDATE connector SET config = ?, principal = ? WHERE name = ?",
                arguments: [text, principal, name]
            )
        }
    }

    /// Sets the target state; stopping also removes the task configs (a stopped connector has no tasks), in the same
    /// transaction.
    func setTargetState(name: String, _ state: TargetState, clearTasks: Bool) async throws(ConnectError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE connector SET target_state = ? WHERE name = ?",
                arguments: [state.rawValue, name]
            )
            if clearTasks { try db.execute(sql: "DELETE FROM task_config WHERE connector = ?", arguments: [name]) }
        }
    }

    func deleteConnector(name: String) async throws(ConnectError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM task_config WHERE connector = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM connector WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM status WHERE connector = ?", arguments: [name])
        }
    }

    func putTaskConfigs(name: String, _ configs: [[String: String]]) async throws(ConnectError) {
        let texts = configs.map(Self.encode)
        try await write { db in
            try db.execute(sql: "DELETE FROM task_config WHERE connector = ?", arguments: [name])
            for (index, text) in texts.enumerated() {
                try db.execute(
                    sql: "INSERT INTO task_config (connector, task, config) VALUES (?, ?, ?)",
                    arguments: [name, index, text]
                )
            }
        }
    }

    // MARK: Source offsets

    func sourceOffset(connector: String, partition: String) async throws(ConnectError) -> String? {
        try await read { db in
            try String.fetchOne(
                db,
                sql: "SELECT offset FROM source_offset WHERE connector = ? AND partition = ?",
                arguments: [connector, partition]
            )
        }
    }

    /// Every stored offset of a connector: (partition, offset) as canonical JSON text.
    func sourceOffsets(connector: String) async throws(ConnectError) -> [(String, String)] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT partition, offset FROM source_offset WHERE connector = ? ORDER BY partition",
                arguments: [connector]
            ).map { ($0["partition"], $0["offset"]) }
        }
    }

    /// Writes offsets in one transaction; a nil offset removes its partition.
    func commitSourceOffsets(
        connector: String,
        _ offsets: [(partition: String, offset: String?)]
    ) async throws(ConnectError) {
        try await write { db in
            for (partition, offset) in offsets {
                if let offset {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO source_offset (connector, partition, offset) VALUES (?, ?, ?)",
                        arguments: [connector, partition, offset]
                    )
                } else {
                    try db.execute(
                        sql: "DELETE FROM source_offset WHERE connector = ? AND partition = ?",
                        arguments: [connector, partition]
                    )
                }
            }
        }
    }

    func deleteSourceOffsets(connector: String) async throws(ConnectError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM source_offset WHERE connector = ?", arguments: [connector])
        }
    }

    // MARK: Topics and status

    func addActiveTopic(connector: String, topic: String) async throws(ConnectError) {
        try await write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO active_topic (connector, topic) VALUES (?, ?)",
                arguments: [connector, topic]
            )
        }
    }

    func activeTopics(connector: String) async throws(ConnectError) -> [String] {
        try await read { db in
            try String.fetchAll(
                db,
                sql: "SELECT topic FROM active_topic WHERE connector = ? ORDER BY topic",
                arguments: [connector]
            )
        }
    }

    func resetActiveTopics(connector: String) async throws(ConnectError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM active_topic WHERE connector = ?", arguments: [connector])
        }
    }

    func putStatus(connector: String, task: Int, _ status: ConnectorStatus) async throws(ConnectError) {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO status (connector, task, state, trace, worker_id) VALUES (?, ?, ?, ?, ?)",
                arguments: [connector, task, status.state.rawValue, status.trace, status.workerId]
            )
        }
    }
}
