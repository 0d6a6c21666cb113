import Foundation
import GRDB
import GRDBSQLite
import RunnelConnect

/// A column of a table or query, with the Connect type its declared SQLite type maps to.
struct SqliteColumn: Sendable, Hashable {
    /// How a column's values become Connect values, from its declared type (SQLite's affinity rules, plus the
    /// date and boolean names JDBC drivers map).
    enum Kind: Sendable, Hashable {
        case integer, real, text, blob, boolean, timestamp, date
    }

    var name: String
    var declaredType: String
    var notNull: Bool
    /// The table's `INTEGER PRIMARY KEY` (an alias of the rowid: never NULL, grows).
    var isRowidAlias: Bool

    var kind: Kind { Self.kind(declaredType) }

    static func kind(_ declared: String) -> Kind {
        let type = declared.uppercased()
        if type.contains("BOOL") { return .boolean }
        if type.contains("TIMESTAMP") || type.contains("DATETIME") { return .timestamp }
        if type.contains("DATE") { return .date }
        if type.contains("INT") { return .integer }
        if type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") || type.isEmpty { return .text }
        if type.contains("BLOB") { return .blob }
        return .real  // REAL, FLOAT, DOUBLE, NUMERIC, DECIMAL
    }

    var nullable: Bool { !notNull && !isRowidAlias }

    var schema: ConnectSchema {
        switch kind {
        case .integer: ConnectSchema(.int64, optional: nullable)
        case .real: ConnectSchema(.float64, optional: nullable)
        case .text: ConnectSchema(.string, optional: nullable)
        case .blob: ConnectSchema(.bytes, optional: nullable)
        case .boolean: ConnectSchema(.boolean, optional: nullable)
        case .timestamp: ConnectSchema(.int64, optional: nullable, name: ConnectSchema.timestampName, version: 1)
        case .date: ConnectSchema(.int32, optional: nullable, name: ConnectSchema.dateName, version: 1)
        }
    }
}

/// What the connector reads from a database's schema. Names are compared the way SQLite does (case-insensitive).
enum SqliteCatalog {
    /// Opens the database read-only (on the blocking pool): the connector never writes to it nor takes a write
    /// lock, and waits briefly when a writer holds an exclusive lock (rollback-journal databases).
    static func open(_ path: String) async throws(ConnectError) -> DatabaseQueue {
        try await BlockingIO.run { try openNow(path) }
    }

    private static func openNow(_ path: String) throws(ConnectError) -> DatabaseQueue {
        guard FileManager.default.fileExists(atPath: path) else {
            throw .config("The SQLite database \(path) does not exist")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "runnel.sqlite-source"
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            // Reading the schema proves the file is a database.
            try queue.read { db in _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema") }
            return queue
        } catch {
            throw .config("Cannot read the SQLite database \(path): \(describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return "\(error)"
    }

    /// The tables (and views, if asked) the filter admits, in name order.
    static func tables(_ db: Database, config: SqliteSourceConfig) throws -> [String] {
        let types = config.tableTypes.map { $0 == "view" ? "view" : "table" }
        guard !types.isEmpty else { return [] }
        let placeholders = types.map { _ in "?" }.joined(separator: ",")
        let names = try String.fetchAll(
            db,
            sql:
                "SELECT name FROM sqlite_schema WHERE type IN (\(placeholders)) AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            arguments: StatementArguments(types)
        )
        return names.filter { config.filter.admits($0) }
    }

    /// The exact (stored) spelling of a table's name, or nil when it does not exist.
    static func tableName(_ db: Database, _ name: String) throws -> String? {
        try String.fetchOne(
            db,
            sql: "SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name = ? COLLATE NOCASE",
            arguments: [name]
        )
    }

    static func columns(_ db: Database, table: String) throws -> [SqliteColumn] {
        let rows = try Row.fetchAll(
            db,
            sql: "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
            arguments: [table]
        )
        let primaryKeys = rows.filter { ($0["pk"] as Int? ?? 0) > 0 }
        return rows.map { row in
            let name: String = row["name"] ?? ""
            let type: String = row["type"] ?? ""
            let isRowidAlias =
                primaryKeys.count == 1 && (row["pk"] as Int? ?? 0) == 1 && type.uppercased() == "INTEGER"
            return SqliteColumn(
                name: name,
                declaredType: type,
                notNull: (row["notnull"] as Int? ?? 0) != 0,
                isRowidAlias: isRowidAlias
            )
        }
    }

    /// The columns a query returns, with the types SQLite declares for them (nullability unknown: all nullable).
    static func columns(_ db: Database, query: String) throws -> [SqliteColumn] {
        let statement = try db.makeStatement(sql: "SELECT * FROM (\n\(query)\n) LIMIT 0")
        return (0..<statement.columnCount).map { index in
            let declared = sqlite3_column_decltype(statement.sqliteStatement, Int32(index)).map { String(cString: $0) }
            return SqliteColumn(
                name: statement.columnNames[index],
                declaredType: declared ?? "",
                notNull: false,
                isRowidAlias: false
            )
        }
    }

    /// `"name"` with embedded quotes doubled: safe in SQL whatever the name holds.
    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Epoch milliseconds of a timestamp value held as text (ISO-8601: `YYYY-MM-DD[ T]HH:MM[:SS[.fff…]]` with an
    /// optional `Z` or `±HH:MM`; a bare date is midnight UTC), as an integer (epoch seconds below 10^11, else
    /// epoch milliseconds) or as a real (a Julian day number below 10^7, epoch seconds below 10^11).
    static func timestampMillisSQL(_ x: String) -> String {
        """
        (CASE WHEN typeof(\(x)) IN ('integer','real') THEN (CASE \
        WHEN abs(\(x)) < 10000000 THEN CAST(round((\(x) - 2440587.5) * 86400000.0) AS INTEGER) \
        WHEN abs(\(x)) < 100000000000 THEN CAST(round(\(x) * 1000.0) AS INTEGER) \
        ELSE CAST(\(x) AS INTEGER) END) \
        WHEN typeof(\(x)) = 'text' THEN CAST(round((julianday(\(x)) - 2440587.5) * 86400000.0) AS INTEGER) END)
        """
    }

    /// The same conversion as ``timestampMillisSQL``, in Swift, for values read from a timestamp column.
    static func timestampMillis(_ value: DatabaseValue) -> Int64? {
        switch value.storage {
        case .int64(let number): return numericMillis(Double(number), integer: number)
        case .double(let number): return numericMillis(number, integer: nil)
        case .string(let text): return Timestamps.parseISO8601(text)
        default: return nil
        }
    }

    private static func numericMillis(_ number: Double, integer: Int64?) -> Int64? {
        guard number.isFinite else { return nil }
        if abs(number) < 10_000_000 { return Int64(((number - 2_440_587.5) * 86_400_000).rounded()) }
        if abs(number) < 100_000_000_000 { return Int64((number * 1000).rounded()) }
        if let integer { return integer }
        guard abs(number) < 9.2e18 else { return nil }
        return Int64(number)
    }
}
