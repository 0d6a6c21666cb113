/// A transform class a connector config can name in `transforms.<alias>.type`.
public struct TransformPlugin: Sendable {
    public let className: String
    public let type: any Transformation.Type

    public init(className: String, type: any Transformation.Type) {
        self.className = className
        self.type = type
    }
}

/// A predicate class a connector config can name in `predicates.<alias>.type`.
public struct PredicatePlugin: Sendable {
    public let className: String
    public let type: any TransformPredicate.Type

    public init(className: String, type: any TransformPredicate.Type) {
        self.className = className
        self.type = type
    }
}

/// The single message transforms and predicates Kafka ships (`org.apache.kafka.connect.transforms.*`), under their
/// Kafka class names: one entry per concrete class, so `$Key` and `$Value` separately.
public enum BuiltinTransforms {
    private static let prefix = "org.apache.kafka.connect.transforms."

    public static let transforms: [TransformPlugin] = [
        TransformPlugin(className: prefix + "Cast$Key", type: CastKey.self),
        TransformPlugin(className: prefix + "Cast$Value", type: CastValue.self),
        TransformPlugin(className: prefix + "DropHeaders", type: DropHeaders.self),
        TransformPlugin(className: prefix + "ExtractField$Key", type: ExtractFieldKey.self),
        TransformPlugin(className: prefix + "ExtractField$Value", type: ExtractFieldValue.self),
        TransformPlugin(className: prefix + "Filter", type: Filter.self),
        TransformPlugin(className: prefix + "Flatten$Key", type: FlattenKey.self),
        TransformPlugin(className: prefix + "Flatten$Value", type: FlattenValue.self),
        TransformPlugin(className: prefix + "HeaderFrom$Key", type: HeaderFromKey.self),
        TransformPlugin(className: prefix + "HeaderFrom$Value", type: HeaderFromValue.self),
        TransformPlugin(className: prefix + "HoistField$Key", type: HoistFieldKey.self),
        TransformPlugin(className: prefix + "HoistField$Value", type: HoistFieldValue.self),
        TransformPlugin(className: prefix + "InsertField$Key", type: InsertFieldKey.self),
        TransformPlugin(className: prefix + "InsertField$Value", type: InsertFieldValue.self),
        TransformPlugin(className: prefix + "InsertHeader", type: InsertHeader.self),
        TransformPlugin(className: prefix + "MaskField$Key", type: MaskFieldKey.self),
        TransformPlugin(className: prefix + "MaskField$Value", type: MaskFieldValue.self),
        TransformPlugin(className: prefix + "RegexRouter", type: RegexRouter.self),
        TransformPlugin(className: prefix + "ReplaceField$Key", type: ReplaceFieldKey.self),
        TransformPlugin(className: prefix + "ReplaceField$Value", type: ReplaceFieldValue.self),
        TransformPlugin(className: prefix + "SetSchemaMetadata$Key", type: SetSchemaMetadataKey.self),
        TransformPlugin(className: prefix + "SetSchemaMetadata$Value", type: SetSchemaMetadataValue.self),
        TransformPlugin(className: prefix + "TimestampConverter$Key", type: TimestampConverterKey.self),
        TransformPlugin(className: prefix + "TimestampConverter$Value", type: TimestampConverterValue.self),
        TransformPlugin(className: prefix + "TimestampRouter", type: TimestampRouter.self),
        TransformPlugin(className: prefix + "ValueToKey", type: ValueToKey.self),
    ]

    public static let predicates: [PredicatePlugin] = [
        PredicatePlugin(className: prefix + "predicates.HasHeaderKey", type: HasHeaderKey.self),
        PredicatePlugin(className: prefix + "predicates.RecordIsTombstone", type: RecordIsTombstone.self),
        PredicatePlugin(className: prefix + "predicates.TopicNameMatches", type: TopicNameMatches.self),
    ]

    /// The transform class with this name, if Kafka ships it.
    public static func transform(named className: String) -> (any Transformation.Type)? {
        transforms.first { $0.className == className }?.type
    }

    /// The predicate class with this name, if Kafka ships it.
    public static func predicate(named className: String) -> (any TransformPredicate.Type)? {
        predicates.first { $0.className == className }?.type
    }
}
