/// A single message transform (SMT): configured from the `transforms.<alias>.` keys of a connector, applied to each
/// record in the order of `transforms`. Returning nil drops the record.
public protocol Transformation: Sendable {
    /// The keys this transform takes (without the `transforms.<alias>.` prefix).
    static var configDef: ConfigDef { get }
    init(config: ParsedConfig) throws(ConnectError)
    func apply(_ record: ConnectRecord) throws(ConnectError) -> ConnectRecord?
}

/// A predicate that decides whether a transform applies to a record (`transforms.<alias>.predicate`).
public protocol TransformPredicate: Sendable {
    static var configDef: ConfigDef { get }
    init(config: ParsedConfig) throws(ConnectError)
    func test(_ record: ConnectRecord) -> Bool
}

/// Which part of a record a `$Key`/`$Value` transform works on.
public enum RecordPart: Sendable, Hashable {
    case key, value

    public func schema(of record: ConnectRecord) -> ConnectSchema? {
        self == .key ? record.keySchema : record.valueSchema
    }

    public func value(of record: ConnectRecord) -> ConnectValue {
        self == .key ? record.key : record.value
    }

    /// The record with this part replaced.
    public func replacing(in record: ConnectRecord, schema: ConnectSchema?, value: ConnectValue) -> ConnectRecord {
        var record = record
        if self == .key {
            record.keySchema = schema
            record.key = value
        } else {
            record.valueSchema = schema
            record.value = value
        }
        return record
    }
}
