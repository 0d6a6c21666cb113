import GRDB
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords

/// A topic as the catalog stores it.
struct StoredTopic: Sendable, Hashable {
    var name: String
    var topicId: String
    var partitions: Int32
    var replicationFactor: Int16
    var isInternal: Bool
    var createdAt: Int64
    /// The topic's own config overrides.
    var configs: [String: String]
}

/// An API key as the catalog stores it: the secret only as a salted hash (``SecretHash``).
struct StoredAPIKey: Sendable, Hashable {
    var key: String
    var secretHash: String
    var description: String
    var superUser: Bool
    var createdAt: Int64

    init(key: String, secretHash: String, description: String, superUser: Bool, createdAt: Int64) {
        self.key = key
        self.secretHash = secretHash
        self.description = description
        self.superUser = superUser
        self.createdAt = createdAt
    }

    init(row: Row) {
        self.init(
            key: row["key"],
            secretHash: row["secret_hash"],
            description: row["description"],
            superUser: row["super_user"],
            createdAt: row["created_at"]
        )
    }
}

/// The broker's durable metadata, `metadata.db` (SQLite through GRDB, WAL, `synchronous=FULL`): topics and their
/// config overrides, ACLs and API keys. Each change is one transaction, so a crash leaves the old state or the new one.
///
/// SQLite rather than a metadata log: the catalog is small, read at start and changed rarely; transactions make
/// "all or nothing" free, and later tables (ACLs, API keys) need lookups, not replay. Every call runs on GRDB's
/// own serial queue, never on the cooperative pool.
final class MetadataCatalog: Sendable {
    private let database: DatabaseQueue

    private init(database: DatabaseQueue) {
        self.database = database
    }

    /// Opens (creating and migrating) the catalog. Blocking: call from an I/O thread.
    static func open(path: String) throws(BrokerError) -> MetadataCatalog {
        do {
            var configuration = Configuration()
            configuration.journalMode = .wal
            // `runnel api-key create --data-dir` may write while a server runs.
            configuration.busyMode = .timeout(5)
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            let database = try DatabaseQueue(path: path, configuration: configuration)
            try migrator.migrate(database)
            // It holds the key hashes: the server's user only.
            DataDirectory.restrictFiles([path, path + "-wal", path + "-shm"])
            return MetadataCatalog(database: database)
        } catch {
            throw BrokerError(.kafkaStorageError, "cannot open the metadata catalog \(path): \(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: topics") { db in
            try db.create(table: "topic") { table in
                table.column("name", .text).primaryKey()
                table.column("topic_id", .text).notNull().unique()
                table.column("partitions", .integer).notNull()
                table.column("replication_factor", .integer).notNull()
                table.column("is_internal", .boolean).notNull()
                table.column("created_at", .integer).notNull()
            }
            try db.create(table: "topic_config") { table in
                table.column("topic", .text).notNull().references("topic", column: "name", onDelete: .cascade)
                table.column("name", .text).notNull()
                table.column("value", .text).notNull()
                table.primaryKey(["topic", "name"])
            }
        }
        migrator.registerMigration("v2: catalog state") { db in
            try db.create(table: "catalog_state") { table in
                table.column("key", .text).primaryKey()
                table.column("value", .text).notNull()
            }
        }
        migrator.registerMigration("v3: security") { db in
            try db.create(table: "acl") { table in
                table.column("resource_type", .text).notNull()
                table.column("resource_name", .text).notNull()
                table.column("pattern_type", .text).notNull()
                table.column("principal", .text).notNull()
                table.column("host", .text).notNull()
                table.column("operation", .text).notNull()
                table.column("permission", .text).notNull()
                table.primaryKey([
                    "resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission",
                ])
            }
            // Secrets are never stored: only their bcrypt hash.
            try db.create(table: "api_key") { table in
                table.column("key", .text).primaryKey()
                table.column("secret_hash", .text).notNull()
                table.column("description", .text).notNull()
                table.column("super_user", .boolean).notNull()
                table.column("created_at", .integer).notNull()
            }
        }
        migrator.registerMigration("v4: quotas") { db in
            // Kafka's user quota configs; principal `<default>` holds the defaults.
            try db.create(table: "quota") { table in
                table.column("principal", .text).primaryKey()
                table.column("producer_byte_rate", .integer)
                table.column("consumer_byte_rate", .integer)
            }
        }
        return migrator
    }

    /// Whether a start has completed on this catalog (its logs were reconciled with it). A catalog that was never
    /// reconciled — new, or created by a start that failed half-way — adopts the logs it finds instead of deleting
    /// them.
    func isReconciled() async throws(BrokerError) -> Bool {
        do {
            return try await database.read { db in
                try Row.fetchOne(db, sql: "SELECT value FROM catalog_state WHERE key = 'reconciled'") != nil
            }
        } catch {
            throw BrokerError(.kafkaStorageError, "metadata catalog read failed: \(error)")
        }
    }

    func markReconciled() async throws(BrokerError) {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO catalog_state (key, value) VALUES ('reconciled', 'true')")
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(BrokerError) -> T {
        do {
            return try await database.write(body)
        } catch let error as BrokerError {
            throw error
        } catch {
            throw BrokerError(.kafkaStorageError, "metadata catalog write failed: \(error)")
        }
    }

    func loadTopics() async throws(BrokerError) -> [StoredTopic] {
        do {
            return try await database.read { db in
                var configs: [String: [String: String]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT topic, name, value FROM topic_config") {
                    let topic: String = row["topic"]
                    configs[topic, default: [:]][row["name"]] = row["value"] as String
                }
                return try Row.fetchAll(db, sql: "SELECT * FROM topic ORDER BY name").map { row in
                    let name: String = row["name"]
                    return StoredTopic(
                        name: name,
                        topicId: row["topic_id"],
                        partitions: row["partitions"],
                        replicationFactor: row["replication_factor"],
                        isInternal: row["is_internal"],
                        createdAt: row["created_at"],
                        configs: configs[name] ?? [:]
                    )
                }
            }
        } catch {
            throw BrokerError(.kafkaStorageError, "metadata catalog read failed: \(error)")
        }
    }

    func insertTopic(_ topic: StoredTopic) async throws(BrokerError) {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO topic (name, topic_id, partitions, replication_factor, is_internal, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    topic.name, topic.topicId, topic.partitions, topic.replicationFactor, topic.isInternal,
                    topic.createdAt,
                ]
            )
            for (name, value) in topic.configs {
                try db.execute(
                    sql: "INSERT INTO topic_config (topic, name, value) VALUES (?, ?, ?)",
                    arguments: [topic.name, name, value]
                )
            }
        }
    }

    func deleteTopic(_ name: String) async throws(BrokerError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM topic_config WHERE topic = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM topic WHERE name = ?", arguments: [name])
        }
    }

    func setPartitions(_ name: String, count: Int32) async throws(BrokerError) {
        try await write { db in
            try db.execute(sql: "UPDATE topic SET partitions = ? WHERE name = ?", arguments: [count, name])
        }
    }

    /// Replaces a topic's config overrides.
    func setConfigs(_ name: String, _ configs: [String: String]) async throws(BrokerError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM topic_config WHERE topic = ?", arguments: [name])
            for (key, value) in configs {
                try db.execute(
                    sql: "INSERT INTO topic_config (topic, name, value) VALUES (?, ?, ?)",
                    arguments: [name, key, value]
                )
            }
        }
    }

    // MARK: ACLs

    func loadAcls() async throws(BrokerError) -> [AclBinding] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM acl").compactMap { row -> AclBinding? in
                guard let resourceType = AclResourceType(rawValue: row["resource_type"]),
                    let patternType = AclPatternType(rawValue: row["pattern_type"]),
                    let operation = AclOperation(rawValue: row["operation"]),
                    let permission = AclPermission(rawValue: row["permission"])
                else { return nil }
                return AclBinding(
                    resourceType: resourceType,
                    resourceName: row["resource_name"],
                    patternType: patternType,
                    principal: row["principal"],
                    host: row["host"],
                    operation: operation,
                    permission: permission
                )
            }
        }
    }

    func insertAcls(_ bindings: [AclBinding]) async throws(BrokerError) {
        try await write { db in
            for binding in bindings {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO acl VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: Self.arguments(binding)
                )
            }
        }
    }

    func deleteAcls(_ bindings: [AclBinding]) async throws(BrokerError) {
        try await write { db in
            for binding in bindings {
                try db.execute(
                    sql: """
                        DELETE FROM acl WHERE resource_type = ? AND resource_name = ? AND pattern_type = ?
                        AND principal = ? AND host = ? AND operation = ? AND permission = ?
                        """,
                    arguments: Self.arguments(binding)
                )
            }
        }
    }

    private static func arguments(_ binding: AclBinding) -> StatementArguments {
        [
            binding.resourceType.rawValue, binding.resourceName, binding.patternType.rawValue, binding.principal,
            binding.host, binding.operation.rawValue, binding.permission.rawValue,
        ]
    }

    // MARK: API keys

    func insertAPIKey(_ key: StoredAPIKey) async throws(BrokerError) {
        try await write { db in
            try db.execute(
                sql:
                    "INSERT INTO api_key (key, secret_hash, description, super_user, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [key.key, key.secretHash, key.description, key.superUser, key.createdAt]
            )
        }
    }

    func loadAPIKeys() async throws(BrokerError) -> [StoredAPIKey] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_key ORDER BY created_at, key").map(StoredAPIKey.init(row:))
        }
    }

    func apiKey(_ key: String) async throws(BrokerError) -> StoredAPIKey? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE key = ?", arguments: [key]).map(
                StoredAPIKey.init(row:)
            )
        }
    }

    /// Replaces a key's stored hash when it is still `old` (a legacy bcrypt hash upgraded after a verification).
    func replaceAPIKeyHash(_ key: String, old: String, new: String) async throws(BrokerError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE api_key SET secret_hash = ? WHERE key = ? AND secret_hash = ?",
                arguments: [new, key, old]
            )
        }
    }

    /// Whether the key existed.
    func deleteAPIKey(_ key: String) async throws(BrokerError) -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM api_key WHERE key = ?", arguments: [key])
            return db.changesCount > 0
        }
    }

    // MARK: Quotas

    func loadQuotas() async throws(BrokerError) -> [Quota] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM quota ORDER BY principal").map { row in
                Quota(
                    principal: row["principal"],
                    producerByteRate: row["producer_byte_rate"],
                    consumerByteRate: row["consumer_byte_rate"]
                )
            }
        }
    }

    func setQuota(_ quota: Quota) async throws(BrokerError) {
        try await write { db in
            try db.execute(
                sql:
                    "INSERT OR REPLACE INTO quota (principal, producer_byte_rate, consumer_byte_rate) VALUES (?, ?, ?)",
                arguments: [quota.principal, quota.producerByteRate, quota.consumerByteRate]
            )
        }
    }

    func deleteQuota(_ principal: String) async throws(BrokerError) -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM quota WHERE principal = ?", arguments: [principal])
            return db.changesCount > 0
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(BrokerError) -> T {
        do {
            return try await database.read(body)
        } catch {
            throw BrokerError(.kafkaStorageError, "metadata catalog read failed: \(error)")
        }
    }

    /// Closes the database (its WAL is checkpointed).
    func close() throws(BrokerError) {
        do {
            try database.close()
        } catch {
            throw BrokerError(.kafkaStorageError, "closing the metadata catalog failed: \(error)")
        }
    }
}
