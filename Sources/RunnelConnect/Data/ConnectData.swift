/// Kafka Connect's data model: values with an optional schema, as converters produce them and transforms and
/// connectors consume them.

/// The type of a ``ConnectSchema``, with Kafka Connect's names as the JSON converter writes them.
public enum ConnectSchemaType: String, Sendable, Hashable, CaseIterable {
    case boolean, int8, int16, int32, int64
    case float32 = "float"
    case float64 = "double"
    case bytes, string, array, map
    case `struct`

    public var isInteger: Bool { [.int8, .int16, .int32, .int64].contains(self) }
    public var isPrimitive: Bool { ![.array, .map, .struct].contains(self) }
}

/// A Kafka Connect schema: a type, optionality, an optional logical name (e.g. `org.apache.kafka.connect.data.Timestamp`),
/// and the fields of a struct, the items of an array or the keys and values of a map.
public struct ConnectSchema: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var schema: ConnectSchema

        public init(_ name: String, _ schema: ConnectSchema) {
            self.name = name
            self.schema = schema
        }
    }

    public var type: ConnectSchemaType
    public var optional: Bool
    public var name: String?
    public var version: Int?
    public var doc: String?
    public var parameters: [(String, String)]
    public var defaultValue: ConnectValue?
    /// Struct fields, in order.
    public var fields: [Field]
    /// Array items (one), or map keys and values (two).
    private var children: [ConnectSchema]

    public init(
        _ type: ConnectSchemaType,
        optional: Bool = false,
        name: String? = nil,
        version: Int? = nil,
        doc: String? = nil,
        parameters: [(String, String)] = [],
        defaultValue: ConnectValue? = nil,
        fields: [Field] = []
    ) {
        self.type = type
        self.optional = optional
        self.name = name
        self.version = version
        self.doc = doc
        self.parameters = parameters
        self.defaultValue = defaultValue
        self.fields = fields
        self.children = []
    }

    public static func array(of items: ConnectSchema, optional: Bool = false) -> ConnectSchema {
        var schema = ConnectSchema(.array, optional: optional)
        schema.children = [items]
        return schema
    }

    public static func map(keys: ConnectSchema, values: ConnectSchema, optional: Bool = false) -> ConnectSchema {
        var schema = ConnectSchema(.map, optional: optional)
        schema.children = [keys, values]
        return schema
    }

    public var items: ConnectSchema? { type == .array ? children.first : nil }
    public var keySchema: ConnectSchema? { type == .map ? children.first : nil }
    public var valueSchema: ConnectSchema? { type == .map && children.count > 1 ? children[1] : nil }

    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }

    public static let optionalString = ConnectSchema(.string, optional: true)
    public static let string = ConnectSchema(.string)
    public static let optionalBytes = ConnectSchema(.bytes, optional: true)
    public static let int64 = ConnectSchema(.int64)
    public static let optionalInt64 = ConnectSchema(.int64, optional: true)

    /// Logical type names, as Kafka Connect's.
    public static let timestampName = "org.apache.kafka.connect.data.Timestamp"
    public static let dateName = "org.apache.kafka.connect.data.Date"
    public static let timeName = "org.apache.kafka.connect.data.Time"
    public static let decimalName = "org.apache.kafka.connect.data.Decimal"

    public static func == (lhs: ConnectSchema, rhs: ConnectSchema) -> Bool {
        lhs.type == rhs.type && lhs.optional == rhs.optional && lhs.name == rhs.name && lhs.version == rhs.version
            && lhs.doc == rhs.doc && lhs.parameters.map(\.0) == rhs.parameters.map(\.0)
            && lhs.parameters.map(\.1) == rhs.parameters.map(\.1) && lhs.defaultValue == rhs.defaultValue
            && lhs.fields == rhs.fields && lhs.children == rhs.children
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(optional)
        hasher.combine(name)
        hasher.combine(fields)
        hasher.combine(children)
    }
}

/// A value of Kafka Connect's data model. Structs and string-keyed maps are both ``ConnectObject``s (which one is
/// told by the schema, when there is one); integers of every width are `int`, both float widths `double`.
public enum ConnectValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case array([ConnectValue])
    case object(ConnectObject)

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var object: ConnectObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value as text the way Java's `toString` would show it (StringConverter, file sinks, routers).
    public var text: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): value
        case .bytes(let value): String(decoding: value, as: UTF8.self)
        case .array(let values): "[" + values.map(\.text).joined(separator: ", ") + "]"
        case .object(let object):
            "{" + object.members.map { "\($0.name)=\($0.value.text)" }.joined(separator: ", ") + "}"
        }
    }
}

/// The members of a struct or a string-keyed map, in order.
public struct ConnectObject: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var name: String
        public var value: ConnectValue

        public init(_ name: String, _ value: ConnectValue) {
            self.name = name
            self.value = value
        }
    }

    public var members: [Member]

    public init(_ members: [Member] = []) {
        self.members = members
    }

    public init(_ pairs: [(String, ConnectValue)]) {
        self.members = pairs.map { Member($0.0, $0.1) }
    }

    public var names: [String] { members.map(\.name) }

    /// Reading gives nil for an absent member; writing nil removes it, writing a value replaces it in place or
    /// appends it.
    public subscript(name: String) -> ConnectValue? {
        get { members.first { $0.name == name }?.value }
        set {
            if let index = members.firstIndex(where: { $0.name == name }) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
            } else if let newValue {
                members.append(Member(name, newValue))
            }
        }
    }
}

/// A header of a Connect record; values are kept as the header converter read them.
public struct ConnectHeader: Sendable, Hashable {
    public var key: String
    public var schema: ConnectSchema?
    public var value: ConnectValue

    public init(key: String, schema: ConnectSchema? = nil, value: ConnectValue) {
        self.key = key
        self.schema = schema
        self.value = value
    }
}

/// A record as transforms see it, on its way from a source task to a topic or from a topic to a sink task.
public struct ConnectRecord: Sendable, Hashable {
    public var topic: String
    /// The partition to write to (sources; nil lets the partitioner choose) or the one read from (sinks).
    public var kafkaPartition: Int32?
    public var keySchema: ConnectSchema?
    public var key: ConnectValue
    public var valueSchema: ConnectSchema?
    public var value: ConnectValue
    /// Milliseconds since the epoch; nil: the time of the append.
    public var timestamp: Int64?
    public var headers: [ConnectHeader]
    /// The record's offset in its partition (sinks only).
    public var kafkaOffset: Int64?

    public init(
        topic: String,
        kafkaPartition: Int32? = nil,
        keySchema: ConnectSchema? = nil,
        key: ConnectValue = .null,
        valueSchema: ConnectSchema? = nil,
        value: ConnectValue,
        timestamp: Int64? = nil,
        headers: [ConnectHeader] = [],
        kafkaOffset: Int64? = nil
    ) {
        self.topic = topic
        self.kafkaPartition = kafkaPartition
        self.keySchema = keySchema
        self.key = key
        self.valueSchema = valueSchema
        self.value = value
        self.timestamp = timestamp
        self.headers = headers
        self.kafkaOffset = kafkaOffset
    }
}
