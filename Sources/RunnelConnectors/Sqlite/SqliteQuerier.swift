import Foundation
import GRDB
import RunnelBrokerAPI
import RunnelConnect

/// Reads one table (or the custom query) in batches from where the last batch ended, in the connector's mode.
/// It is a value: a read returns the querier moved past the rows it returned, which the task keeps.
///
/// Each batch is one short read transaction with a `LIMIT`: the connector never holds a read open between polls
/// (which would stop a WAL checkpoint, or block writers of a rollback-journal database). Paging is exact:
/// - incrementing: `inc > last`, ordered by `inc`;
/// - timestamp+incrementing: the `(ts, inc)` pair, so rows sharing a timestamp are never lost;
/// - timestamp: a batch never ends inside a group of rows sharing a timestamp (the group is completed, or left for
///   the next batch), so `ts > last` is exact too;
/// - bulk: the whole table each poll, paged by rowid.
struct SqliteQuerier: Sendable {
    /// The table, or nil for the custom query.
    let table: String?
    let query: String?
    let topic: String
    let partition: ConnectObject
    let config: SqliteSourceConfig
    private(set) var columns: [SqliteColumn]
    private(set) var schema: ConnectSchema
    /// The incrementing column's name as the source spells it.
    let incrementingColumn: String?
    let timestampColumns: [String]
    var timestampOffset: Int64?
    var incrementingOffset: Int64?
    /// Bulk: where the current pass is (a rowid, or a row count for views and queries); nil between passes.
    var bulkPosition: Int64?
    let bulkByRowid: Bool

    struct Batch: Sendable {
        var records: [SourceRecord]
        /// Moved past `records`.
        var querier: SqliteQuerier
        /// The source has no more rows now: wait `poll.interval.ms` before the next batch.
        var exhausted: Bool
    }

    /// The source partition of a table (Kafka Connect JDBC's protocol 1) and of the query.
    static func partition(table: String?) -> ConnectObject {
        guard let table else { return ConnectObject([("query", .string("query"))]) }
        return ConnectObject([("protocol", .string("1")), ("table", .string(table))])
    }

    /// The legacy (protocol 0) partition of a table, read when no protocol 1 offset exists.
    static func legacyPartition(table: String) -> ConnectObject {
        ConnectObject([("table", .string(table))])
    }

    /// Checks the table (or query) and its columns against the mode. `table` is the stored spelling.
    init(_ db: Database, table: String?, config: SqliteSourceConfig, offset: ConnectObject?) throws(ConfigProblem) {
        self.table = table
        self.query = table == nil ? config.query : nil
        self.config = config
        self.partition = Self.partition(table: table)
        let subject = table.map { "table \($0)" } ?? "the query"
        do {
            if let table {
                columns = try SqliteCatalog.columns(db, table: table)
                topic = config.topic(for: table)
                if let problem = TopicNames.problem(topic) {
                    throw ConfigProblem(
                        "topic.prefix",
                        "The topic of table \(table), \(topic), is not valid: \(problem)"
                    )
                }
            } else {
                columns = try SqliteCatalog.columns(db, query: config.query ?? "")
                topic = config.topicPrefix
            }
        } catch let problem as ConfigProblem {
            throw problem
        } catch {
            throw ConfigProblem(
                table == nil ? "query" : "table.whitelist",
                "Cannot read \(subject): \(SqliteCatalog.describe(error))"
            )
        }
        if columns.isEmpty { throw ConfigProblem("table.whitelist", "The \(subject) does not exist") }
        schema = Self.schema(columns, name: table ?? config.topicPrefix)
        let columns = self.columns
        func find(_ name: String) -> SqliteColumn? {
            columns.first { $0.name.lowercased() == name.lowercased() }
        }
        if config.mode.usesIncrementing {
            let column: SqliteColumn
            if !config.incrementingColumn.isEmpty {
                guard let found = find(config.incrementingColumn) else {
                    throw ConfigProblem(
                        "incrementing.column.name",
                        "The \(subject) has no column \(config.incrementingColumn) (columns: \(columns.map(\.name).joined(separator: ", ")))"
                    )
                }
                column = found
            } else if let rowid = columns.first(where: \.isRowidAlias) {
                column = rowid
            } else {
                throw ConfigProblem(
                    "incrementing.column.name",
                    "The \(subject) has no INTEGER PRIMARY KEY to detect: set incrementing.column.name"
                )
            }
            guard column.isRowidAlias || column.kind == .integer || (table == nil && column.declaredType.isEmpty)
            else {
                throw ConfigProblem(
                    "incrementing.column.name",
                    "Column \(column.name) of the \(subject) is \(column.declaredType): the incrementing column must be an integer that only grows (ideally the INTEGER PRIMARY KEY)"
                )
            }
            if config.validateNonNull && table != nil && column.nullable {
                throw ConfigProblem(
                    "incrementing.column.name",
                    "Cannot make incremental queries using incrementing column \(column.name) on \(subject) because this column is nullable (declare it NOT NULL, or set validate.non.null=false)"
                )
            }
            incrementingColumn = column.name
        } else {
            incrementingColumn = nil
        }
        var timestampColumns: [String] = []
        if config.mode.usesTimestamp {
            for name in config.timestampColumns {
                guard let column = find(name) else {
                    throw ConfigProblem(
                        "timestamp.column.name",
                        "The \(subject) has no column \(name) (columns: \(columns.map(\.name).joined(separator: ", ")))"
                    )
                }
                if config.validateNonNull && table != nil && column.nullable && config.timestampColumns.count == 1 {
                    throw ConfigProblem(
                        "timestamp.column.name",
                        "Cannot make incremental queries using timestamp column \(column.name) on \(subject) because this column is nullable (declare it NOT NULL, or set validate.non.null=false)"
                    )
                }
                timestampColumns.append(column.name)
            }
        }
        self.timestampColumns = timestampColumns
        if let offset {
            if case .int(let value)? = offset["timestamp"] { timestampOffset = value }
            if case .int(let value)? = offset["incrementing"] { incrementingOffset = value }
        }
        if let table, config.mode == .bulk {
            // Tables declared WITHOUT ROWID (and views) are paged by count instead.
            let isTable =
                (try? String.fetchOne(db, sql: "SELECT type FROM sqlite_schema WHERE name = ?", arguments: [table]))
                == "table"
            bulkByRowid =
                isTable
                && (try? db.makeStatement(sql: "SELECT rowid FROM \(SqliteCatalog.quote(table)) LIMIT 0")) != nil
        } else {
            bulkByRowid = false
        }
    }

    static func schema(_ columns: [SqliteColumn], name: String) -> ConnectSchema {
        ConnectSchema(.struct, name: name, fields: columns.map { ConnectSchema.Field($0.name, $0.schema) })
    }

    private var source: String {
        if let table { return SqliteCatalog.quote(table) }
        return "(\n\(query ?? "")\n) AS \"runnel_query\""
    }

    private var timestampExpression: String {
        let quoted = timestampColumns.map(SqliteCatalog.quote)
        let combined = quoted.count == 1 ? quoted[0] : "COALESCE(\(quoted.joined(separator: ", ")))"
        return SqliteCatalog.timestampMillisSQL(combined)
    }

    /// The next batch, read in one transaction of `db`.
    func read(_ db: Database, now: Int64) throws -> Batch {
        // Reading the schema table starts the read transaction and makes the connection notice schema changes made
        // by other connections since its last read (statements prepared afterwards see the current columns).
        _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema")
        let limit = config.batchMaxRows
        var next = self
        switch config.mode {
        case .bulk:
            let position = bulkPosition ?? (bulkByRowid ? Int64.min : 0)
            let rows: [Fetched]
            if bulkByRowid {
                rows = try fetch(
                    db,
                    "SELECT rowid, * FROM \(source) WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    [position, limit],
                    prefix: 1
                )
                next.bulkPosition = rows.last.map { $0.prefix[0] } ?? position
            } else {
                rows = try fetch(db, "SELECT * FROM \(source) LIMIT ? OFFSET ?", [limit, position], prefix: 0)
                next.bulkPosition = position + Int64(rows.count)
            }
            let exhausted = rows.count < limit
            if exhausted { next.bulkPosition = nil }
            return Batch(records: rows.map { record($0, offset: ConnectObject()) }, querier: next, exhausted: exhausted)

        case .incrementing:
            let inc = SqliteCatalog.quote(incrementingColumn ?? "")
            var sql = "SELECT \(inc), * FROM \(source)"
            var arguments: [any DatabaseValueConvertible] = []
            if let last = incrementingOffset {
                sql += " WHERE \(inc) > ?"
                arguments.append(last)
            }
            sql += " ORDER BY \(inc) LIMIT ?"
            arguments.append(limit)
            let rows = try fetch(db, sql, arguments, prefix: 1)
            var records: [SourceRecord] = []
            records.reserveCapacity(rows.count)
            for row in rows {
                next.incrementingOffset = row.prefix[0]
                records.append(record(row, offset: ConnectObject([("incrementing", .int(row.prefix[0]))])))
            }
            return Batch(records: records, querier: next, exhausted: rows.count < limit)

        case .timestamp:
            let ts = timestampExpression
            let upper = now - config.timestampDelayMs
            var sql = "SELECT \(ts), * FROM \(source) WHERE \(ts) < ?"
            var arguments: [any DatabaseValueConvertible] = [upper]
            if let last = timestampOffset {
                sql += " AND \(ts) > ?"
                arguments.append(last)
            } else if let initial = config.timestampInitial {
                sql += " AND \(ts) >= ?"
                arguments.append(initial)
            }
            sql += " ORDER BY 1 LIMIT ?"
            arguments.append(limit)
            var rows = try fetch(db, sql, arguments, prefix: 1)
            let exhausted = rows.count < limit
            if !exhausted, let lastTimestamp = rows.last?.prefix[0] {
                if rows.first?.prefix[0] == lastTimestamp {
                    // One timestamp fills the batch: read the whole group, however large.
                    rows = try fetch(
                        db,
                        "SELECT \(ts), * FROM \(source) WHERE \(ts) = ?",
                        [lastTimestamp],
                        prefix: 1
                    )
                } else {
                    // Leave the last (maybe incomplete) group for the next batch.
                    rows.removeAll { $0.prefix[0] == lastTimestamp }
                }
            }
            var records: [SourceRecord] = []
            records.reserveCapacity(rows.count)
            for row in rows {
                next.timestampOffset = row.prefix[0]
                records.append(record(row, offset: Self.timestampOffset(row.prefix[0], incrementing: nil)))
            }
            return Batch(records: records, querier: next, exhausted: exhausted)

        case .timestampIncrementing:
            let ts = timestampExpression
            let inc = SqliteCatalog.quote(incrementingColumn ?? "")
            let upper = now - config.timestampDelayMs
            var sql = "SELECT \(ts), \(inc), * FROM \(source) WHERE \(ts) < ?"
            var arguments: [any DatabaseValueConvertible] = [upper]
            if let lastTimestamp = timestampOffset {
                sql += " AND ((\(ts) = ? AND \(inc) > ?) OR \(ts) > ?)"
                arguments += [lastTimestamp, incrementingOffset ?? Int64.min, lastTimestamp]
            } else if let initial = config.timestampInitial {
                sql += " AND \(ts) >= ?"
                arguments.append(initial)
            }
            sql += " ORDER BY 1, 2 LIMIT ?"
            arguments.append(limit)
            let rows = try fetch(db, sql, arguments, prefix: 2)
            var records: [SourceRecord] = []
            records.reserveCapacity(rows.count)
            for row in rows {
                next.timestampOffset = row.prefix[0]
                next.incrementingOffset = row.prefix[1]
                records.append(record(row, offset: Self.timestampOffset(row.prefix[0], incrementing: row.prefix[1])))
            }
            return Batch(records: records, querier: next, exhausted: rows.count < limit)
        }
    }

    /// A source offset as Kafka Connect's JDBC source writes it: epoch milliseconds and the nanoseconds of that
    /// second (`java.sql.Timestamp`), and the incrementing value.
    static func timestampOffset(_ millis: Int64, incrementing: Int64?) -> ConnectObject {
        let nanos = ((millis % 1000) + 1000) % 1000 * 1_000_000
        var offset = ConnectObject([("timestamp", .int(millis)), ("timestamp_nanos", .int(nanos))])
        if let incrementing { offset["incrementing"] = .int(incrementing) }
        return offset
    }

    /// A row: its bookkeeping values (position, timestamp, incrementing) and the value of each column.
    struct Fetched {
        var prefix: [Int64]
        var values: ConnectObject
    }

    private func fetch(
        _ db: Database,
        _ sql: String,
        _ arguments: [any DatabaseValueConvertible],
        prefix: Int
    ) throws -> [Fetched] {
        // Prepared afresh: a statement kept from an earlier batch would not see columns another connection added,
        // renamed or dropped since.
        let statement = try db.makeStatement(sql: sql)
        statement.arguments = StatementArguments(arguments)
        let expected = columns.map(\.name)
        let names = Array(statement.columnNames.dropFirst(prefix))
        guard names == expected else {
            throw SchemaChanged()
        }
        let kinds = columns.map(\.kind)
        var rows: [Fetched] = []
        let cursor = try Row.fetchCursor(statement)
        while let row = try cursor.next() {
            var bookkeeping: [Int64] = []
            for index in 0..<prefix {
                let value: DatabaseValue = row[index]
                guard case .int64(let number) = value.storage else {
                    throw ConnectError.data(
                        "The \(prefix == 1 && config.mode == .incrementing ? "incrementing column \(incrementingColumn ?? "")" : "timestamp or incrementing column") of \(table.map { "table \($0)" } ?? "the query") has a value that is not \(index == 0 && config.mode.usesTimestamp ? "a timestamp" : "an integer"): \(value)"
                    )
                }
                bookkeeping.append(number)
            }
            var members: [ConnectObject.Member] = []
            members.reserveCapacity(kinds.count)
            for (index, kind) in kinds.enumerated() {
                members.append(.init(expected[index], Self.value(row[prefix + index], kind)))
            }
            rows.append(Fetched(prefix: bookkeeping, values: ConnectObject(members)))
        }
        return rows
    }

    /// The table's columns changed since the querier was made (a column added, dropped or renamed).
    struct SchemaChanged: Error {}

    /// The querier with the source's current columns.
    func refreshed(_ db: Database) throws(ConfigProblem) -> SqliteQuerier {
        var copy = try SqliteQuerier(db, table: table, config: config, offset: nil)
        copy.timestampOffset = timestampOffset
        copy.incrementingOffset = incrementingOffset
        copy.bulkPosition = bulkPosition
        return copy
    }

    private func record(_ row: Fetched, offset: ConnectObject) -> SourceRecord {
        SourceRecord(
            sourcePartition: partition,
            sourceOffset: offset,
            record: ConnectRecord(topic: topic, valueSchema: schema, value: .object(row.values))
        )
    }

    /// A stored value as the Connect type of its column. SQLite lets any column hold any value: values that do
    /// not fit the column's type are passed on as they are.
    static func value(_ value: DatabaseValue, _ kind: SqliteColumn.Kind) -> ConnectValue {
        switch value.storage {
        case .null:
            return .null
        case .int64(let number):
            switch kind {
            case .integer: return .int(number)
            case .real: return .double(Double(number))
            case .boolean: return .bool(number != 0)
            case .text, .blob: return .string(String(number))
            case .timestamp: return SqliteCatalog.timestampMillis(value).map(ConnectValue.int) ?? .int(number)
            case .date: return SqliteCatalog.timestampMillis(value).map(days) ?? .int(number)
            }
        case .double(let number):
            switch kind {
            case .integer:
                if number.rounded() == number, abs(number) < 9e18 { return .int(Int64(number)) }
                return .double(number)
            case .real: return .double(number)
            case .boolean: return .bool(number != 0)
            case .text, .blob: return .string(String(number))
            case .timestamp: return SqliteCatalog.timestampMillis(value).map(ConnectValue.int) ?? .double(number)
            case .date: return SqliteCatalog.timestampMillis(value).map(days) ?? .double(number)
            }
        case .string(let text):
            switch kind {
            case .integer: return Int64(text).map(ConnectValue.int) ?? .string(text)
            case .real: return Double(text).map(ConnectValue.double) ?? .string(text)
            case .boolean:
                switch text.lowercased() {
                case "true", "1", "t", "yes": return .bool(true)
                case "false", "0", "f", "no": return .bool(false)
                default: return .string(text)
                }
            case .text: return .string(text)
            case .blob: return .bytes(Array(text.utf8))
            case .timestamp: return Timestamps.parseISO8601(text).map(ConnectValue.int) ?? .string(text)
            case .date: return Timestamps.parseISO8601(text).map(days) ?? .string(text)
            }
        case .blob(let data):
            if kind == .text, let text = String(validating: data, as: UTF8.self) { return .string(text) }
            return .bytes([UInt8](data))
        }
    }

    private static func days(_ millis: Int64) -> ConnectValue {
        .int(Int64((Double(millis) / 86_400_000).rounded(.down)))
    }
}
