import Foundation
import RunnelBrokerAPI
import RunnelConnect
import RunnelRecords

/// A config problem and the key it is about (for `/config/validate`).
struct ConfigProblem: Error, Sendable {
    var key: String
    var message: String

    init(_ key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    var connectError: ConnectError { .config("\(key): \(message)") }
}

/// The settings of a SQLite source, read from a connector or task config (Confluent JDBC source keys).
struct SqliteSourceConfig: Sendable {
    enum Mode: String, Sendable, CaseIterable {
        case bulk
        case incrementing
        case timestamp
        case timestampIncrementing = "timestamp+incrementing"

        var usesIncrementing: Bool { self == .incrementing || self == .timestampIncrementing }
        var usesTimestamp: Bool { self == .timestamp || self == .timestampIncrementing }
    }

    /// Which tables to read: the legacy exact-name lists or the regex lists, never both.
    enum TableFilter: Sendable {
        case all
        case whitelist(Set<String>)
        case blacklist(Set<String>)
        case patterns(include: [String], exclude: [String])

        func admits(_ table: String) -> Bool {
            switch self {
            case .all: return true
            case .whitelist(let names): return names.contains(table.lowercased())
            case .blacklist(let names): return !names.contains(table.lowercased())
            case .patterns(let include, let exclude):
                func matches(_ pattern: String) -> Bool {
                    guard let regex = try? Regex(pattern) else { return false }
                    return (try? regex.wholeMatch(in: table)) != nil
                        || (try? regex.wholeMatch(in: "main." + table)) != nil
                }
                return include.contains(where: matches) && !exclude.contains(where: matches)
            }
        }
    }

    var path: String
    var mode: Mode
    /// Empty: the table's INTEGER PRIMARY KEY.
    var incrementingColumn: String
    var timestampColumns: [String]
    /// Epoch milliseconds to start from when no offset is stored; nil reads everything.
    var timestampInitial: Int64?
    var timestampDelayMs: Int64
    var validateNonNull: Bool
    var filter: TableFilter
    var tableTypes: Set<String>
    var query: String?
    var topicPrefix: String
    var pollIntervalMs: Int64
    var batchMaxRows: Int
    var tablePollIntervalMs: Int64

    static let keys = ConfigDef([
        ConfigKey(
            "connection.url",
            .string,
            required: true,
            importance: .high,
            group: "Database",
            order: 1,
            width: .long,
            displayName: "JDBC URL",
            validator: { value in
                do throws(ConnectError) {
                    _ = try databasePath(value)
                    return nil
                } catch {
                    return error.message
                }
            },
            "The SQLite database: jdbc:sqlite:<path> (as in a Confluent JDBC source config) or a plain path."
        ),
        ConfigKey(
            "connection.user",
            .string,
            importance: .low,
            group: "Database",
            order: 2,
            "Accepted for compatibility; SQLite has no users."
        ),
        ConfigKey(
            "connection.password",
            .password,
            importance: .low,
            group: "Database",
            order: 3,
            "Accepted for compatibility; SQLite has no passwords."
        ),
        ConfigKey(
            "table.whitelist",
            .list,
            default: "",
            importance: .medium,
            group: "Database",
            order: 4,
            "Tables to read (exact names). Exclusive with table.blacklist and the *.list keys."
        ),
        ConfigKey(
            "table.blacklist",
            .list,
            default: "",
            importance: .medium,
            group: "Database",
            order: 5,
            "Tables not to read (exact names). Exclusive with table.whitelist and the *.list keys."
        ),
        ConfigKey(
            "table.include.list",
            .list,
            default: "",
            importance: .medium,
            group: "Database",
            order: 6,
            "Regular expressions matching the tables to read (the name, or main.<name>)."
        ),
        ConfigKey(
            "table.exclude.list",
            .list,
            default: "",
            importance: .medium,
            group: "Database",
            order: 7,
            "Regular expressions matching tables not to read; needs table.include.list."
        ),
        ConfigKey(
            "table.types",
            .list,
            default: "TABLE",
            importance: .low,
            group: "Database",
            order: 8,
            validator: { value in
                let bad = ParsedConfig.splitList(value).filter { !["TABLE", "VIEW"].contains($0.uppercased()) }
                return bad.isEmpty ? nil : "Unsupported table type(s) \(bad.joined(separator: ", ")): use TABLE, VIEW"
            },
            "Kinds of tables to read: TABLE, VIEW."
        ),
        ConfigKey(
            "mode",
            .string,
            default: "",
            importance: .high,
            group: "Mode",
            order: 1,
            recommended: Mode.allCases.map(\.rawValue),
            validator: { value in
                if value.trimmingCharacters(in: .whitespaces).isEmpty { return "Query mode must be specified" }
                return Validators.oneOf(Mode.allCases.map(\.rawValue))(value)
            },
            "How changes are found: bulk (the whole table every poll), incrementing (a growing id), timestamp (a last-modified column), timestamp+incrementing (both: the safest)."
        ),
        ConfigKey(
            "incrementing.column.name",
            .string,
            default: "",
            importance: .medium,
            group: "Mode",
            order: 2,
            "The strictly growing integer column (incrementing modes); empty means the table's INTEGER PRIMARY KEY."
        ),
        ConfigKey(
            "timestamp.column.name",
            .list,
            default: "",
            importance: .medium,
            group: "Mode",
            order: 3,
            "The last-modified column(s) (timestamp modes); several are combined with COALESCE. Text (ISO-8601), integer (epoch seconds or milliseconds) and real (Julian day) values are understood."
        ),
        ConfigKey(
            "timestamp.initial",
            .long,
            importance: .low,
            group: "Mode",
            order: 4,
            "Epoch milliseconds to start from when the connector has no offset yet; -1 means now. Unset: all rows."
        ),
        ConfigKey(
            "timestamp.delay.interval.ms",
            .long,
            default: "0",
            importance: .high,
            group: "Mode",
            order: 5,
            validator: Validators.atLeast(0),
            "How long after its timestamp a row is read, to let late-committing writers finish."
        ),
        ConfigKey(
            "validate.non.null",
            .boolean,
            default: "true",
            importance: .low,
            group: "Mode",
            order: 6,
            "Refuse incrementing and timestamp columns that may be NULL (such rows would never be read)."
        ),
        ConfigKey(
            "query",
            .string,
            default: "",
            importance: .medium,
            group: "Mode",
            order: 7,
            width: .long,
            "Custom SQL instead of whole tables. It may contain WHERE, JOIN and GROUP BY: the mode's conditions are applied around it."
        ),
        ConfigKey(
            "query.suffix",
            .string,
            default: "",
            importance: .low,
            group: "Mode",
            order: 8,
            validator: { value in
                value.trimmingCharacters(in: .whitespaces).isEmpty
                    ? nil
                    : "Not supported: the connector pages by batch.max.rows itself (a LIMIT here would lose rows); put conditions in query"
            },
            "Not supported (must be empty)."
        ),
        ConfigKey(
            "topic.prefix",
            .string,
            default: "",
            importance: .high,
            group: "Connector",
            order: 1,
            "Prefix of the topic of each table (topic = prefix + table name); with query, the whole topic name."
        ),
        ConfigKey(
            "poll.interval.ms",
            .int,
            default: "5000",
            importance: .high,
            group: "Connector",
            order: 2,
            validator: Validators.atLeast(1),
            "How often each table is polled for new data once it has been read to its end."
        ),
        ConfigKey(
            "batch.max.rows",
            .int,
            default: "1000",
            importance: .low,
            group: "Connector",
            order: 3,
            validator: Validators.atLeast(1),
            "Rows per batch. Rows sharing a timestamp (timestamp mode) are never split across batches."
        ),
        ConfigKey(
            "table.poll.interval.ms",
            .long,
            default: "60000",
            importance: .low,
            group: "Connector",
            order: 4,
            validator: Validators.atLeast(1),
            "How often the list of tables is checked for new or removed tables."
        ),
    ])

    init(_ values: [String: String]) throws(ConfigProblem) {
        let config = ParsedConfig(definition: Self.keys, values: values)
        do throws(ConnectError) {
            path = try Self.databasePath(config.string("connection.url") ?? "")
        } catch {
            throw ConfigProblem("connection.url", error.message)
        }
        let modeName = config.string("mode") ?? ""
        guard let mode = Mode(rawValue: modeName.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw ConfigProblem(
                "mode",
                "Query mode must be specified: one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self.mode = mode
        incrementingColumn = config.nonEmpty("incrementing.column.name") ?? ""
        timestampColumns = config.list("timestamp.column.name")
        if mode.usesTimestamp && timestampColumns.isEmpty {
            throw ConfigProblem(
                "timestamp.column.name",
                "timestamp.column.name must name at least one column in \(mode.rawValue) mode"
            )
        }
        let initial = config.int64("timestamp.initial")
        timestampInitial =
            initial == -1 ? Int64(Date().timeIntervalSince1970 * 1000) : initial
        timestampDelayMs = config.int64("timestamp.delay.interval.ms") ?? 0
        validateNonNull = config.bool("validate.non.null")
        query = config.nonEmpty("query").map(Self.trimmedQuery)
        topicPrefix = config.string("topic.prefix")?.trimmingCharacters(in: .whitespaces) ?? ""
        pollIntervalMs = Int64(config.int("poll.interval.ms") ?? 5000)
        batchMaxRows = config.int("batch.max.rows") ?? 1000
        tablePollIntervalMs = config.int64("table.poll.interval.ms") ?? 60000
        tableTypes = Set(config.list("table.types").map { $0.lowercased() })

        let whitelist = config.list("table.whitelist")
        let blacklist = config.list("table.blacklist")
        let include = config.list("table.include.list")
        let exclude = config.list("table.exclude.list")
        if !whitelist.isEmpty && !blacklist.isEmpty {
            throw ConfigProblem("table.whitelist", "table.whitelist and table.blacklist are exclusive.")
        }
        if !(whitelist.isEmpty && blacklist.isEmpty) && !(include.isEmpty && exclude.isEmpty) {
            throw ConfigProblem(
                "table.include.list",
                "table.whitelist/table.blacklist cannot be combined with table.include.list/table.exclude.list"
            )
        }
        if !exclude.isEmpty && include.isEmpty {
            throw ConfigProblem("table.exclude.list", "table.exclude.list needs table.include.list")
        }
        for pattern in include + exclude {
            do {
                _ = try Regex(pattern)
            } catch {
                throw ConfigProblem("table.include.list", "Invalid regular expression \(pattern): \(error)")
            }
        }
        if query != nil && !(whitelist.isEmpty && blacklist.isEmpty && include.isEmpty && exclude.isEmpty) {
            throw ConfigProblem("query", "Do not specify table filtering options with the query option")
        }
        if !whitelist.isEmpty {
            filter = .whitelist(Set(whitelist.map { $0.lowercased() }))
        } else if !blacklist.isEmpty {
            filter = .blacklist(Set(blacklist.map { $0.lowercased() }))
        } else if !include.isEmpty {
            filter = .patterns(include: include, exclude: exclude)
        } else {
            filter = .all
        }
        if query != nil, let problem = TopicNames.problem(topicPrefix) {
            throw ConfigProblem(
                "topic.prefix",
                "With query, topic.prefix is the whole topic name and must be valid: \(problem)"
            )
        }
    }

    /// The file of `jdbc:sqlite:<path>` (also `jdbc:sqlite:file:<path>?…`), or a plain path.
    static func databasePath(_ url: String) throws(ConnectError) -> String {
        var rest = url.trimmingCharacters(in: .whitespaces)
        if rest.hasPrefix("jdbc:sqlite:") {
            rest.removeFirst("jdbc:sqlite:".count)
        } else if rest.hasPrefix("jdbc:") {
            throw .config("Only SQLite databases are supported: connection.url must be jdbc:sqlite:<path>, not \(url)")
        }
        if rest.hasPrefix("file:") {
            rest.removeFirst("file:".count)
            if let question = rest.firstIndex(of: "?") { rest = String(rest[..<question]) }
            if rest.hasPrefix("//") { rest.removeFirst(2) }
            rest = rest.removingPercentEncoding ?? rest
        }
        guard !rest.isEmpty else { throw .config("connection.url names no database file") }
        guard rest != ":memory:" && !rest.hasPrefix(":memory:") else {
            throw .config("An in-memory database cannot be read by another process: name a database file")
        }
        return rest
    }

    /// A query without the `;` that may end it (it is used inside another statement).
    static func trimmedQuery(_ query: String) -> String {
        var text = query.trimmingCharacters(in: .whitespacesAndNewlines)
        while text.hasSuffix(";") {
            text.removeLast()
            text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return text
    }

    /// The topic of a table.
    func topic(for table: String) -> String { topicPrefix + table }
}
