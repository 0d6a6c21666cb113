import Foundation
import RunnelConnect
import RunnelRecords

/// The settings of an S3-layout sink, read from a connector or task config (Confluent S3 sink keys).
struct S3SinkConfig: Sendable {
    enum Partitioner: Sendable, Equatable {
        case `default`
        case field([String])
        /// Buckets of `durationMs` named by `path` (a Joda-style `path.format`).
        case time(path: TimePath, durationMs: Int64)
    }

    enum TimestampExtractor: String, Sendable {
        case record = "Record"
        case recordField = "RecordField"
        case wallclock = "Wallclock"
    }

    enum Format: String, Sendable {
        case json = "JsonFormat"
        case byteArray = "ByteArrayFormat"
    }

    enum NullValues: String, Sendable {
        case fail, ignore, write
    }

    var root: String
    var bucket: String
    var topicsDir: String
    var flushSize: Int
    var rotateIntervalMs: Int64
    var rotateScheduleIntervalMs: Int64
    var rotateOnPartitionChange: Bool
    var partitioner: Partitioner
    var timestampExtractor: TimestampExtractor
    var timestampField: String
    var timeZone: TimeZone?
    var format: Format
    var keysFormat: Format
    var byteArraySeparator: [UInt8]
    var byteArrayExtension: String
    var gzip: Bool
    var compressionLevel: Int
    var zeroPadWidth: Int
    var nullValues: NullValues
    var storeKeys: Bool
    var storeHeaders: Bool
    var decimalNumeric: Bool

    static let formatPrefix = "io.confluent.connect.s3.format."
    static let partitionerPrefix = "io.confluent.connect.storage.partitioner."

    static let keys = ConfigDef([
        ConfigKey(
            "s3.bucket.name",
            .string,
            required: true,
            importance: .high,
            group: "S3",
            order: 1,
            validator: { bucketProblem($0) },
            "The bucket: a folder under store.url, named by S3's rules (3-63 characters: a-z, 0-9, '.', '-')."
        ),
        ConfigKey(
            "store.url",
            .string,
            importance: .high,
            group: "S3",
            order: 2,
            validator: { value in
                do throws(ConfigProblem) {
                    _ = try storeRoot(value, dataDirectory: "/")
                    return nil
                } catch {
                    return error.message
                }
            },
            "Where buckets live: file:///some/root (default: the buckets folder of the server's data directory)."
        ),
        ConfigKey(
            "s3.region",
            .string,
            default: "us-west-2",
            importance: .low,
            group: "S3",
            order: 3,
            "Accepted for compatibility."
        ),
        ConfigKey(
            "aws.access.key.id",
            .string,
            default: "",
            importance: .low,
            group: "S3",
            order: 4,
            "Accepted for compatibility."
        ),
        ConfigKey(
            "aws.secret.access.key",
            .password,
            default: "",
            importance: .low,
            group: "S3",
            order: 5,
            "Accepted for compatibility."
        ),
        ConfigKey(
            "storage.class",
            .class,
            default: "io.confluent.connect.s3.storage.S3Storage",
            importance: .low,
            group: "Storage",
            order: 1,
            "Accepted for compatibility: the bucket is always the store.url one."
        ),
        ConfigKey(
            "topics.dir",
            .string,
            default: "topics",
            importance: .high,
            group: "Storage",
            order: 2,
            validator: { relativePathProblem($0, key: "topics.dir") },
            "The folder under the bucket that holds the topics' objects."
        ),
        ConfigKey(
            "format.class",
            .class,
            default: formatPrefix + "json.JsonFormat",
            importance: .high,
            group: "Connector",
            order: 1,
            validator: { formatProblem($0) },
            "JsonFormat (newline-delimited JSON) or ByteArrayFormat (raw values and a separator)."
        ),
        ConfigKey(
            "flush.size",
            .int,
            required: true,
            importance: .high,
            group: "Connector",
            order: 2,
            validator: Validators.atLeast(1),
            "Records per object: a topic partition's open objects are committed when they hold this many."
        ),
        ConfigKey(
            "rotate.interval.ms",
            .long,
            default: "-1",
            importance: .high,
            group: "Connector",
            order: 3,
            "With a time-based partitioner: commit once a record's time is this far past the first record of the open objects (record time: deterministic)."
        ),
        ConfigKey(
            "rotate.schedule.interval.ms",
            .long,
            default: "-1",
            importance: .medium,
            group: "Connector",
            order: 4,
            "Commit open objects on this wall-clock schedule (aligned to midnight of timezone), even without new records. Not deterministic: breaks exactly-once."
        ),
        ConfigKey(
            "rotate.file.on.partition.change",
            .boolean,
            default: "true",
            importance: .low,
            group: "Connector",
            order: 5,
            "With rotate.interval.ms: commit when the time partition changes."
        ),
        ConfigKey(
            "s3.compression.type",
            .string,
            default: "none",
            importance: .low,
            group: "Connector",
            order: 6,
            validator: Validators.oneOf(["none", "gzip"]),
            "none or gzip (objects get a .gz extension)."
        ),
        ConfigKey(
            "s3.compression.level",
            .int,
            default: "-1",
            importance: .low,
            group: "Connector",
            order: 7,
            validator: { value in
                guard let level = Int(value.trimmingCharacters(in: .whitespaces)) else { return nil }
                return (-1...9).contains(level) ? nil : "Value must be between -1 and 9"
            },
            "gzip level, 0-9; -1 is zlib's default."
        ),
        ConfigKey(
            "filename.offset.zero.pad.width",
            .int,
            default: "10",
            importance: .low,
            group: "Connector",
            order: 8,
            // An offset has at most 19 digits.
            validator: Validators.between(0, 19),
            "Digits of the start offset in object names."
        ),
        ConfigKey(
            "format.bytearray.separator",
            .string,
            default: "\n",
            importance: .low,
            group: "Connector",
            order: 9,
            "ByteArrayFormat: what follows each value."
        ),
        ConfigKey(
            "format.bytearray.extension",
            .string,
            default: ".bin",
            importance: .low,
            group: "Connector",
            order: 10,
            "ByteArrayFormat: the objects' extension."
        ),
        ConfigKey(
            "behavior.on.null.values",
            .string,
            default: "fail",
            importance: .low,
            group: "Connector",
            order: 11,
            validator: Validators.oneOf(["fail", "ignore", "write"]),
            "Records with a null value (tombstones): fail the task, ignore them, or write them under <topic>/tombstone (needs store.kafka.keys=true)."
        ),
        ConfigKey(
            "store.kafka.keys",
            .boolean,
            default: "false",
            importance: .low,
            group: "Connector",
            order: 12,
            "Also write each object's record keys to a .keys object beside it."
        ),
        ConfigKey(
            "store.kafka.headers",
            .boolean,
            default: "false",
            importance: .low,
            group: "Connector",
            order: 13,
            "Also write each object's record headers to a .headers object beside it."
        ),
        ConfigKey(
            "keys.format.class",
            .class,
            default: formatPrefix + "json.JsonFormat",
            importance: .low,
            group: "Connector",
            order: 14,
            validator: { formatProblem($0) },
            "Format of the .keys objects: JsonFormat or ByteArrayFormat."
        ),
        ConfigKey(
            "json.decimal.format",
            .string,
            default: "BASE64",
            importance: .low,
            group: "Connector",
            order: 15,
            validator: Validators.oneOf(["BASE64", "NUMERIC"]),
            "How Decimal values are written in JSON."
        ),
        ConfigKey(
            "partitioner.class",
            .class,
            default: partitionerPrefix + "DefaultPartitioner",
            importance: .high,
            group: "Partitioner",
            order: 1,
            validator: {
                partitionerName($0) == nil
                    ? "Unknown partitioner \($0): use DefaultPartitioner, FieldPartitioner, TimeBasedPartitioner, DailyPartitioner or HourlyPartitioner"
                    : nil
            },
            "How records are grouped into folders: DefaultPartitioner (partition=<p>), FieldPartitioner, TimeBasedPartitioner, DailyPartitioner, HourlyPartitioner."
        ),
        ConfigKey(
            "partition.field.name",
            .list,
            default: "",
            importance: .medium,
            group: "Partitioner",
            order: 2,
            "FieldPartitioner: the value fields (dotted for nested) that name the folder."
        ),
        ConfigKey(
            "path.format",
            .string,
            default: "",
            importance: .medium,
            group: "Partitioner",
            order: 3,
            "TimeBasedPartitioner: the folder of a time bucket, e.g. 'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH."
        ),
        ConfigKey(
            "partition.duration.ms",
            .long,
            default: "-1",
            importance: .medium,
            group: "Partitioner",
            order: 4,
            "TimeBasedPartitioner: the width of a time bucket."
        ),
        ConfigKey(
            "locale",
            .string,
            default: "",
            importance: .medium,
            group: "Partitioner",
            order: 5,
            "Time-based partitioners: the locale (e.g. en-US)."
        ),
        ConfigKey(
            "timezone",
            .string,
            default: "",
            importance: .medium,
            group: "Partitioner",
            order: 6,
            validator: { value in
                let trimmed = value.trimmingCharacters(in: .whitespaces)
                return trimmed.isEmpty || parseTimeZone(trimmed) != nil ? nil : "Unknown time zone \(trimmed)"
            },
            "Time-based partitioners and scheduled rotation: the time zone (UTC, Europe/Paris, +02:00)."
        ),
        ConfigKey(
            "timestamp.extractor",
            .string,
            default: "Wallclock",
            importance: .medium,
            group: "Partitioner",
            order: 7,
            validator: {
                extractorName($0) == nil
                    ? "Unknown timestamp extractor \($0): use Record, RecordField or Wallclock" : nil
            },
            "Time-based partitioners: the record's time is its Kafka timestamp (Record), a value field (RecordField) or the clock (Wallclock, not deterministic)."
        ),
        ConfigKey(
            "timestamp.field",
            .string,
            default: "timestamp",
            importance: .medium,
            group: "Partitioner",
            order: 8,
            "RecordField: the value field (dotted for nested) holding epoch milliseconds or an ISO-8601 time."
        ),
    ])

    init(_ values: [String: String], dataDirectory: String) throws(ConfigProblem) {
        let config = ParsedConfig(definition: Self.keys, values: values)
        root = try Self.storeRoot(config.string("store.url") ?? "", dataDirectory: dataDirectory)
        bucket = config.string("s3.bucket.name")?.trimmingCharacters(in: .whitespaces) ?? ""
        if let problem = Self.bucketProblem(bucket) { throw ConfigProblem("s3.bucket.name", problem) }
        topicsDir = config.string("topics.dir")?.trimmingCharacters(in: .whitespaces) ?? "topics"
        if let problem = Self.relativePathProblem(topicsDir, key: "topics.dir") {
            throw ConfigProblem("topics.dir", problem)
        }
        while topicsDir.hasSuffix("/") { topicsDir.removeLast() }
        guard let flushSize = config.int("flush.size"), flushSize >= 1 else {
            throw ConfigProblem("flush.size", "flush.size must be a positive number of records")
        }
        self.flushSize = flushSize
        rotateIntervalMs = config.int64("rotate.interval.ms") ?? -1
        rotateScheduleIntervalMs = config.int64("rotate.schedule.interval.ms") ?? -1
        rotateOnPartitionChange = config.bool("rotate.file.on.partition.change")
        guard let format = Self.formatName(config.string("format.class") ?? "") else {
            throw ConfigProblem("format.class", Self.formatProblem(config.string("format.class") ?? "") ?? "")
        }
        self.format = format
        guard let keysFormat = Self.formatName(config.string("keys.format.class") ?? "") else {
            throw ConfigProblem("keys.format.class", Self.formatProblem(config.string("keys.format.class") ?? "") ?? "")
        }
        self.keysFormat = keysFormat
        byteArraySeparator = Array((config.string("format.bytearray.separator") ?? "\n").utf8)
        byteArrayExtension = config.string("format.bytearray.extension") ?? ".bin"
        if !byteArrayExtension.isEmpty && !byteArrayExtension.hasPrefix(".") {
            byteArrayExtension = "." + byteArrayExtension
        }
        if byteArrayExtension.contains("/") {
            throw ConfigProblem("format.bytearray.extension", "An extension cannot contain '/'")
        }
        gzip = config.string("s3.compression.type")?.lowercased() == "gzip"
        compressionLevel = config.int("s3.compression.level") ?? -1
        zeroPadWidth = config.int("filename.offset.zero.pad.width") ?? 10
        nullValues = NullValues(rawValue: config.string("behavior.on.null.values")?.lowercased() ?? "fail") ?? .fail
        storeKeys = config.bool("store.kafka.keys")
        storeHeaders = config.bool("store.kafka.headers")
        decimalNumeric = config.string("json.decimal.format")?.uppercased() == "NUMERIC"
        if nullValues == .write && !storeKeys {
            throw ConfigProblem(
                "behavior.on.null.values",
                "behavior.on.null.values=write needs store.kafka.keys=true (a tombstone is only its key)"
            )
        }
        let zoneName = config.string("timezone")?.trimmingCharacters(in: .whitespaces) ?? ""
        if !zoneName.isEmpty {
            guard let zone = Self.parseTimeZone(zoneName) else {
                throw ConfigProblem("timezone", "Unknown time zone \(zoneName)")
            }
            timeZone = zone
        }
        guard let extractor = Self.extractorName(config.string("timestamp.extractor") ?? "Wallclock") else {
            throw ConfigProblem(
                "timestamp.extractor",
                "Unknown timestamp extractor: use Record, RecordField or Wallclock"
            )
        }
        timestampExtractor = extractor
        timestampField = config.nonEmpty("timestamp.field") ?? "timestamp"
        if rotateScheduleIntervalMs > 0 && timeZone == nil {
            throw ConfigProblem(
                "timezone",
                "rotate.schedule.interval.ms needs a timezone (its schedule starts at midnight)"
            )
        }

        let partitionerClass = config.string("partitioner.class") ?? ""
        switch Self.partitionerName(partitionerClass) {
        case "DefaultPartitioner":
            partitioner = .default
        case "FieldPartitioner":
            let fields = config.list("partition.field.name")
            guard !fields.isEmpty else {
                throw ConfigProblem("partition.field.name", "FieldPartitioner needs partition.field.name")
            }
            if let bad = fields.first(where: { $0.contains("/") || $0.contains("\\") || $0.contains("..") }) {
                throw ConfigProblem(
                    "partition.field.name",
                    "Invalid field name \(bad): a field name is one folder name"
                )
            }
            partitioner = .field(fields)
        case let name? where ["TimeBasedPartitioner", "DailyPartitioner", "HourlyPartitioner"].contains(name):
            var pathFormat = config.string("path.format") ?? ""
            var duration = config.int64("partition.duration.ms") ?? -1
            if name == "DailyPartitioner" {
                pathFormat = "'year'=YYYY/'month'=MM/'day'=dd"
                duration = 86_400_000
            } else if name == "HourlyPartitioner" {
                pathFormat = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH"
                duration = 3_600_000
            }
            guard !pathFormat.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ConfigProblem("path.format", "Path format cannot be empty.")
            }
            guard duration > 0 else {
                throw ConfigProblem("partition.duration.ms", "Partition duration needs to be a positive.")
            }
            guard timeZone != nil else {
                throw ConfigProblem("timezone", "Timezone cannot be empty when using \(name).")
            }
            if (config.string("locale") ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                throw ConfigProblem("locale", "Locale cannot be empty when using \(name).")
            }
            let path: TimePath
            do throws(TimePath.Problem) {
                path = try TimePath(pathFormat)
            } catch {
                throw ConfigProblem("path.format", error.message)
            }
            partitioner = .time(path: path, durationMs: duration)
        default:
            throw ConfigProblem("partitioner.class", "Unknown partitioner \(partitionerClass)")
        }
    }

    var isTimeBased: Bool {
        if case .time = partitioner { return true }
        return false
    }

    /// The root folder of `store.url` (`file://` only for now), or the data directory's `buckets` folder.
    static func storeRoot(_ url: String, dataDirectory: String) throws(ConfigProblem) -> String {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty {
            return URL(fileURLWithPath: dataDirectory).appendingPathComponent("buckets").standardizedFileURL.path
        }
        guard trimmed.hasPrefix("file://") else {
            throw ConfigProblem(
                "store.url",
                "Only local buckets are supported: store.url must be file:///<folder> (S3 endpoints are not available yet)"
            )
        }
        let path = String(trimmed.dropFirst("file://".count)).removingPercentEncoding ?? ""
        guard path.hasPrefix("/") else {
            throw ConfigProblem("store.url", "store.url must be an absolute file:/// URL")
        }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// S3's bucket naming rules, which also keep the bucket one folder directly under the root.
    static func bucketProblem(_ name: String) -> String? {
        let name = name.trimmingCharacters(in: .whitespaces)
        let allowed = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
        guard (3...63).contains(name.utf8.count), allowed,
            let first = name.utf8.first, let last = name.utf8.last,
            first != 46 && first != 45, last != 46 && last != 45, !name.contains("..")
        else {
            return
                "Invalid bucket name \(name): 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"
        }
        return nil
    }

    /// A relative folder path that stays below where it starts.
    static func relativePathProblem(_ path: String, key: String) -> String? {
        let trimmed = path.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return "\(key) cannot be empty" }
        if trimmed.hasPrefix("/") { return "\(key) must be a relative path, not \(trimmed)" }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        let body = trimmed.hasSuffix("/") ? parts.dropLast() : parts[...]
        if body.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) || trimmed.contains("\\")
            || trimmed.contains("\0")
        {
            return "\(key) must not contain empty, '.' or '..' components: \(trimmed)"
        }
        return nil
    }

    static func formatName(_ value: String) -> Format? {
        let simple = value.trimmingCharacters(in: .whitespaces).split(separator: ".").last.map(String.init) ?? ""
        return Format(rawValue: simple)
    }

    static func formatProblem(_ value: String) -> String? {
        if formatName(value) != nil { return nil }
        let simple = value.split(separator: ".").last.map(String.init) ?? value
        if ["AvroFormat", "ParquetFormat"].contains(simple) {
            return "\(simple) is not supported: use JsonFormat or ByteArrayFormat"
        }
        return "Unknown format \(value): use JsonFormat or ByteArrayFormat"
    }

    static func partitionerName(_ value: String) -> String? {
        let simple = value.trimmingCharacters(in: .whitespaces).split(separator: ".").last.map(String.init) ?? ""
        let known = [
            "DefaultPartitioner", "FieldPartitioner", "TimeBasedPartitioner", "DailyPartitioner", "HourlyPartitioner",
        ]
        return known.contains(simple) ? simple : nil
    }

    static func extractorName(_ value: String) -> TimestampExtractor? {
        // Also the nested class names: TimeBasedPartitioner$RecordTimestampExtractor, ...
        var simple = value.trimmingCharacters(in: .whitespaces)
        if let dollar = simple.lastIndex(of: "$") { simple = String(simple[simple.index(after: dollar)...]) }
        simple = simple.split(separator: ".").last.map(String.init) ?? simple
        if simple.hasSuffix("TimestampExtractor") { simple.removeLast("TimestampExtractor".count) }
        if simple == "RecordField" || simple == "Record" || simple == "Wallclock" {
            return TimestampExtractor(rawValue: simple)
        }
        return nil
    }

    /// `UTC`, a region (`Europe/Paris`) or an offset (`+02:00`, `-0530`).
    static func parseTimeZone(_ name: String) -> TimeZone? {
        if name == "UTC" || name == "Z" { return TimeZone(identifier: "UTC") }
        if let first = name.first, first == "+" || first == "-" {
            let digits = name.dropFirst().filter(\.isNumber)
            guard digits.count == 2 || digits.count == 4, let value = Int(digits) else { return nil }
            let hours = digits.count == 2 ? value : value / 100
            let minutes = digits.count == 2 ? 0 : value % 100
            guard hours <= 18, minutes < 60 else { return nil }
            return TimeZone(secondsFromGMT: (first == "-" ? -1 : 1) * (hours * 3600 + minutes * 60))
        }
        return TimeZone(identifier: name)
    }

    /// An object's extension: the format's, then `.gz` when compressed.
    func fileExtension(_ format: Format) -> String {
        let base = format == .json ? ".json" : byteArrayExtension
        return base + (gzip ? ".gz" : "")
    }
}

/// A Joda-style `path.format`: quoted literals, and the fields YYYY/yyyy, YY/yy, MM/M, dd/d, HH/H, mm/m, ss/s.
struct TimePath: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case literal(String)
        case field(Character, width: Int)
    }

    struct Problem: Error {
        var message: String
    }

    let parts: [Part]

    init(_ format: String) throws(Problem) {
        var parts: [Part] = []
        var characters = Array(format)[...]
        var literal = ""
        while let character = characters.first {
            if character == "'" {
                characters.removeFirst()
                if characters.first == "'" {
                    literal.append("'")
                    characters.removeFirst()
                    continue
                }
                guard let end = characters.firstIndex(of: "'") else {
                    throw Problem(message: "Unterminated quoted text in path.format \(format)")
                }
                literal += String(characters[..<end])
                characters = characters[(end + 1)...]
            } else if character.isLetter {
                guard "YyMdHms".contains(character) else {
                    throw Problem(
                        message:
                            "Unsupported pattern letter '\(character)' in path.format \(format): use YYYY, MM, dd, HH, mm, ss and 'quoted text'"
                    )
                }
                var width = 0
                while characters.first == character {
                    width += 1
                    characters.removeFirst()
                }
                if !literal.isEmpty {
                    parts.append(.literal(literal))
                    literal = ""
                }
                parts.append(.field(character == "y" ? "Y" : character, width: width))
            } else {
                literal.append(character)
                characters.removeFirst()
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
        let rendered = render(0, zone: TimeZone(identifier: "UTC") ?? .current)
        if let problem = S3SinkConfig.relativePathProblem(rendered, key: "path.format") {
            throw Problem(message: problem)
        }
    }

    /// The folder of the time `millis` (already the start of its bucket) in `zone`.
    func render(_ millis: Int64, zone: TimeZone) -> String {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000))) * 1000
        let local = millis + offset
        let days = floorDivide(local, 86_400_000)
        let secondsOfDay = (local - days * 86_400_000) / 1000
        let date = CivilDate(daysSinceEpoch: days)
        let (year, month, day) = (date.year, date.month, date.day)
        var text = ""
        for part in parts {
            switch part {
            case .literal(let literal): text += literal
            case .field(let letter, let width):
                let value: Int64
                switch letter {
                case "Y": value = width == 2 ? year % 100 : year
                case "M": value = month
                case "d": value = day
                case "H": value = secondsOfDay / 3600
                case "m": value = secondsOfDay / 60 % 60
                default: value = secondsOfDay % 60
                }
                let digits = String(value)
                text += String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
        }
        return text
    }

    /// The start of the bucket of width `duration` holding `millis`, buckets aligned on midnight of `zone`.
    static func bucketStart(_ millis: Int64, duration: Int64, zone: TimeZone) -> Int64 {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000))) * 1000
        let local = millis + offset
        let start = floorDivide(local, duration) * duration
        return start - offset
    }
}

/// Division rounding toward negative infinity (times before 1970 fall in the right bucket).
func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    let quotient = value / divisor
    return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
}
