import Testing

@testable import RunnelConnect

// MARK: Helpers

private func make<T: Transformation>(_ type: T.Type, _ values: [String: String] = [:]) throws -> T {
    try T(config: T.configDef.parse(values))
}

private func makePredicate<T: TransformPredicate>(_ type: T.Type, _ values: [String: String] = [:]) throws -> T {
    try T(config: T.configDef.parse(values))
}

private func object(_ pairs: KeyValuePairs<String, ConnectValue>) -> ConnectValue {
    .object(ConnectObject(pairs.map { ConnectObject.Member($0.key, $0.value) }))
}

private func record(
    topic: String = "orders",
    keySchema: ConnectSchema? = nil,
    key: ConnectValue = .null,
    valueSchema: ConnectSchema? = nil,
    value: ConnectValue,
    timestamp: Int64? = nil,
    headers: [ConnectHeader] = [],
    offset: Int64? = nil
) -> ConnectRecord {
    ConnectRecord(
        topic: topic,
        kafkaPartition: 3,
        keySchema: keySchema,
        key: key,
        valueSchema: valueSchema,
        value: value,
        timestamp: timestamp,
        headers: headers,
        kafkaOffset: offset
    )
}

/// A struct schema `{id: int32, name: optional string}` and a value of it.
private let personSchema = ConnectSchema(
    .struct,
    name: "person",
    fields: [
        ConnectSchema.Field("id", ConnectSchema(.int32)),
        ConnectSchema.Field("name", .optionalString),
    ]
)
private let person = object(["id": .int(7), "name": .string("Ada")])

// MARK: InsertField

@Suite struct InsertFieldTests {
    @Test func insertsMetadataSchemaless() throws {
        let transform = try make(
            InsertFieldValue.self,
            [
                "topic.field": "t", "partition.field": "p", "offset.field": "o!", "timestamp.field": "ts",
                "static.field": "s", "static.value": "hello",
            ]
        )
        let result = try transform.apply(
            record(value: object(["a": .int(1)]), timestamp: 1_000, offset: 42)
        )
        #expect(
            result?.value
                == object([
                    "a": .int(1), "t": .string("orders"), "p": .int(3), "o": .int(42), "ts": .int(1_000),
                    "s": .string("hello"),
                ])
        )
        #expect(result?.valueSchema == nil)
    }

    @Test func insertsOptionalFieldsIntoStruct() throws {
        let transform = try make(InsertFieldValue.self, ["topic.field": "topic!", "timestamp.field": "ts"])
        let result = try #require(try transform.apply(record(valueSchema: personSchema, value: person, timestamp: 5)))
        let schema = try #require(result.valueSchema)
        #expect(schema.name == "person")
        #expect(schema.fields.map(\.name) == ["id", "name", "topic", "ts"])
        #expect(schema.field("topic")?.schema == ConnectSchema(.string))
        let timestamp = try #require(schema.field("ts")?.schema)
        #expect(timestamp.type == .int64 && timestamp.optional && timestamp.name == ConnectSchema.timestampName)
        #expect(
            result.value == object(["id": .int(7), "name": .string("Ada"), "topic": .string("orders"), "ts": .int(5)])
        )
    }

    @Test func keyVariantAndTombstones() throws {
        let transform = try make(InsertFieldKey.self, ["static.field": "k", "static.value": "v"])
        let result = try transform.apply(record(key: object([:]), value: .string("x")))
        #expect(result?.key == object(["k": .string("v")]))
        let tombstone = record(value: .null)
        #expect(try make(InsertFieldValue.self, ["topic.field": "t"]).apply(tombstone) == tombstone)
    }

    @Test func rejectsBadConfigAndData() throws {
        let none = #expect(throws: ConnectError.self) { try make(InsertFieldValue.self) }
        #expect(none?.kind == .config)
        #expect(none?.message == "No field insertion configured")
        #expect(throws: ConnectError.self) { try make(InsertFieldValue.self, ["static.field": "s"]) }
        let transform = try make(InsertFieldValue.self, ["offset.field": "o"])
        let sourceRecord = #expect(throws: ConnectError.self) { try transform.apply(record(value: object([:]))) }
        #expect(sourceRecord?.kind == .data)
        var consumed = record(value: .string("x"))
        consumed.kafkaOffset = 5
        let notMap = #expect(throws: ConnectError.self) { try transform.apply(consumed) }
        #expect(
            notMap?.message
                == "Only Map objects supported in absence of schema for [field insertion], found: java.lang.String"
        )
    }
}

// MARK: ReplaceField

@Suite struct ReplaceFieldTests {
    @Test func excludeIncludeRenameSchemaless() throws {
        let transform = try make(
            ReplaceFieldValue.self,
            ["exclude": "b", "include": "a,b,c", "renames": "a:alpha,c:gamma"]
        )
        let result = try transform.apply(
            record(value: object(["a": .int(1), "b": .int(2), "c": .int(3), "d": .int(4)]))
        )
        #expect(result?.value == object(["alpha": .int(1), "gamma": .int(3)]))
    }

    @Test func updatesStructSchema() throws {
        let transform = try make(ReplaceFieldValue.self, ["exclude": "id", "renames": "name:full_name"])
        let result = try #require(try transform.apply(record(valueSchema: personSchema, value: person)))
        #expect(result.valueSchema?.fields.map(\.name) == ["full_name"])
        #expect(result.valueSchema?.field("full_name")?.schema == .optionalString)
        #expect(result.valueSchema?.name == "person")
        #expect(result.value == object(["full_name": .string("Ada")]))
    }

    @Test func rejectsBadRename() {
        let error = #expect(throws: ConnectError.self) { try make(ReplaceFieldValue.self, ["renames": "a"]) }
        #expect(error?.kind == .config)
    }
}

// MARK: MaskField

@Suite struct MaskFieldTests {
    @Test func masksWithTypeNullsSchemaless() throws {
        let transform = try make(MaskFieldValue.self, ["fields": "i,s,b,d,l,keep-missing"])
        let result = try transform.apply(
            record(
                value: object([
                    "i": .int(9), "s": .string("secret"), "b": .bool(true), "d": .double(2.5),
                    "l": .array([.int(1)]), "other": .string("x"),
                ])
            )
        )
        #expect(
            result?.value
                == object([
                    "i": .int(0), "s": .string(""), "b": .bool(false), "d": .double(0), "l": .array([]),
                    "other": .string("x"), "keep-missing": .null,
                ])
        )
    }

    @Test func masksWithReplacement() throws {
        let transform = try make(MaskFieldValue.self, ["fields": "name,id", "replacement": "42"])
        let result = try transform.apply(record(valueSchema: personSchema, value: person))
        #expect(result?.value == object(["id": .int(42), "name": .string("42")]))
        #expect(result?.valueSchema == personSchema)
        let bad = try make(MaskFieldValue.self, ["fields": "id", "replacement": "x"])
        let error = #expect(throws: ConnectError.self) {
            try bad.apply(record(valueSchema: personSchema, value: person))
        }
        #expect(error?.kind == .data)
    }
}

// MARK: ValueToKey

@Suite struct ValueToKeyTests {
    @Test func copiesFieldsToKey() throws {
        let transform = try make(ValueToKey.self, ["fields": "id"])
        let schemaless = try transform.apply(record(value: object(["id": .int(1), "x": .int(2)])))
        #expect(schemaless?.key == object(["id": .int(1)]))
        #expect(schemaless?.keySchema == nil)
        let withSchema = try transform.apply(record(valueSchema: personSchema, value: person))
        #expect(withSchema?.key == object(["id": .int(7)]))
        let keySchema = ConnectSchema(.struct, fields: [ConnectSchema.Field("id", ConnectSchema(.int32))])
        #expect(withSchema?.keySchema == keySchema)
        let missing = try make(ValueToKey.self, ["fields": "nope"])
        let error = #expect(throws: ConnectError.self) {
            try missing.apply(record(valueSchema: personSchema, value: person))
        }
        #expect(error?.message == "Field does not exist: nope")
    }
}

// MARK: ExtractField

@Suite struct ExtractFieldTests {
    @Test func extractsSchemaless() throws {
        let transform = try make(ExtractFieldKey.self, ["field": "id"])
        let result = try transform.apply(record(key: object(["id": .int(5)]), value: .null))
        #expect(result?.key == .int(5))
        let tombstoneKey = record(key: .null, value: .string("v"))
        #expect(try transform.apply(tombstoneKey) == tombstoneKey)
        let error = #expect(throws: ConnectError.self) {
            try transform.apply(record(key: .string("flat"), value: .null))
        }
        #expect(error?.kind == .data)
    }

    @Test func extractsWithSchema() throws {
        let transform = try make(ExtractFieldValue.self, ["field": "name"])
        let result = try transform.apply(record(valueSchema: personSchema, value: person))
        #expect(result?.value == .string("Ada"))
        #expect(result?.valueSchema == .optionalString)
        let unknown = try make(ExtractFieldValue.self, ["field": "nope"])
        #expect(throws: ConnectError.self) { try unknown.apply(record(valueSchema: personSchema, value: person)) }
        let notStruct = #expect(throws: ConnectError.self) {
            try transform.apply(record(valueSchema: .string, value: .string("x")))
        }
        #expect(notStruct?.message == "Only Struct objects supported for [field extraction], found: java.lang.String")
    }

    @Test func extractsNestedPathsV2() throws {
        let nested = object(["outer": object(["inner": .int(1)]), "x.y": object(["z": .string("deep")])])
        let dotted = try make(ExtractFieldValue.self, ["field": "outer.inner", "field.syntax.version": "V2"])
        #expect(try dotted.apply(record(value: nested))?.value == .int(1))
        let quoted = try make(ExtractFieldValue.self, ["field": "`x.y`.z", "field.syntax.version": "V2"])
        #expect(try quoted.apply(record(value: nested))?.value == .string("deep"))
        let v1 = try make(ExtractFieldValue.self, ["field": "outer.inner"])
        #expect(try v1.apply(record(value: nested))?.value == .null)
        #expect(ExtractField.parsePath("a.`b.c`.d") == ["a", "b.c", "d"])
    }
}

// MARK: HoistField

@Suite struct HoistFieldTests {
    @Test func wrapsValue() throws {
        let transform = try make(HoistFieldValue.self, ["field": "line"])
        #expect(try transform.apply(record(value: .string("hi")))?.value == object(["line": .string("hi")]))
        let result = try transform.apply(record(valueSchema: .string, value: .string("hi")))
        #expect(result?.valueSchema == ConnectSchema(.struct, fields: [ConnectSchema.Field("line", .string)]))
        #expect(result?.value == object(["line": .string("hi")]))
    }
}

// MARK: Cast

@Suite struct CastTests {
    @Test func castsFieldsSchemaless() throws {
        let transform = try make(CastValue.self, ["spec": "a:int8,b:string,c:float64,d:boolean,e:string"])
        let result = try transform.apply(
            record(
                value: object([
                    "a": .int(300), "b": .double(1e10), "c": .string("2.5"), "d": .string("TRUE"),
                    "e": .bytes([104, 105]),
                ])
            )
        )
        #expect(
            result?.value
                == object([
                    "a": .int(44), "b": .string("1.0E10"), "c": .double(2.5), "d": .bool(true),
                    "e": .string("aGk="),
                ])
        )
    }

    @Test func castsWholeValueAndStructFields() throws {
        let whole = try make(CastKey.self, ["spec": "int32"])
        let key = try whole.apply(record(keySchema: .optionalString, key: .string("12"), value: .null))
        #expect(key?.key == .int(12))
        #expect(key?.keySchema == ConnectSchema(.int32, optional: true))

        let fields = try make(CastValue.self, ["spec": "id:string"])
        let result = try transform(fields, record(valueSchema: personSchema, value: person))
        #expect(result.valueSchema?.field("id")?.schema == ConnectSchema(.string))
        #expect(result.valueSchema?.field("name")?.schema == .optionalString)
        #expect(result.value == object(["id": .string("7"), "name": .string("Ada")]))
    }

    @Test func rejectsUnparsableAndBadSpecs() throws {
        let transform = try make(CastValue.self, ["spec": "int16"])
        let error = #expect(throws: ConnectError.self) { try transform.apply(record(value: .string("abc"))) }
        #expect(error?.kind == .data)
        #expect(error?.message == "Value (abc) was out of range for requested data type")
        #expect(throws: ConnectError.self) { try make(CastValue.self, ["spec": "a:bytes"]) }
        #expect(throws: ConnectError.self) { try make(CastValue.self, ["spec": "a:nope"]) }
        #expect(throws: ConnectError.self) { try make(CastValue.self, ["spec": "int8,a:int16"]) }
        let bytes = try make(CastValue.self, ["spec": "int8"])
        #expect(throws: ConnectError.self) { try bytes.apply(record(value: .bytes([1]))) }
    }

    @Test func formatsDoublesLikeJava() {
        #expect(SMTSupport.javaString(1) == "1.0")
        #expect(SMTSupport.javaString(123.45) == "123.45")
        #expect(SMTSupport.javaString(1e10) == "1.0E10")
        #expect(SMTSupport.javaString(0.0001) == "1.0E-4")
        #expect(SMTSupport.javaString(-1.5e-7) == "-1.5E-7")
    }

    private func transform(_ transform: some Transformation, _ record: ConnectRecord) throws -> ConnectRecord {
        try #require(try transform.apply(record))
    }
}

// MARK: TimestampConverter

@Suite struct TimestampConverterTests {
    // 2023-11-14T22:13:20.123Z
    let milliseconds: Int64 = 1_700_000_000_123

    @Test func unixToStringAndBack() throws {
        let toString = try make(
            TimestampConverterValue.self,
            ["field": "at", "target.type": "string", "format": "yyyy-MM-dd'T'HH:mm:ss.SSS"]
        )
        let formatted = try toString.apply(record(value: object(["at": .int(milliseconds)])))
        #expect(formatted?.value == object(["at": .string("2023-11-14T22:13:20.123")]))

        let toUnix = try make(
            TimestampConverterValue.self,
            ["target.type": "unix", "format": "yyyy-MM-dd'T'HH:mm:ss.SSS", "unix.precision": "seconds"]
        )
        #expect(try toUnix.apply(record(value: .string("2023-11-14T22:13:20.123")))?.value == .int(1_700_000_000))
        let error = #expect(throws: ConnectError.self) { try toUnix.apply(record(value: .string("yesterday"))) }
        #expect(error?.kind == .data)
    }

    @Test func convertsStructFieldsToLogicalTypes() throws {
        let schema = ConnectSchema(.struct, fields: [ConnectSchema.Field("at", .int64)])
        let toDate = try make(TimestampConverterValue.self, ["field": "at", "target.type": "Date"])
        let result = try toDate.apply(record(valueSchema: schema, value: object(["at": .int(milliseconds)])))
        #expect(result?.valueSchema?.field("at")?.schema.name == ConnectSchema.dateName)
        #expect(result?.valueSchema?.field("at")?.schema.type == .int32)
        #expect(result?.value == object(["at": .int(19_675)]))

        let timestampSchema = ConnectSchema(.int64, name: ConnectSchema.timestampName, version: 1)
        let toTime = try make(TimestampConverterValue.self, ["target.type": "Time"])
        let time = try toTime.apply(record(valueSchema: timestampSchema, value: .int(milliseconds)))
        #expect(time?.value == .int(80_000_123))
        #expect(time?.valueSchema?.name == ConnectSchema.timeName)
    }

    @Test func rejectsBadConfig() {
        #expect(throws: ConnectError.self) { try make(TimestampConverterValue.self, ["target.type": "string"]) }
        #expect(throws: ConnectError.self) { try make(TimestampConverterValue.self, ["target.type": "epoch"]) }
        #expect(throws: ConnectError.self) {
            try make(TimestampConverterValue.self, ["target.type": "string", "format": "yyyy-bb"])
        }
    }
}

// MARK: Routers, Filter and headers

@Suite struct RouterAndHeaderTests {
    @Test func regexRouterMatchesWholeTopic() throws {
        let router = try make(RegexRouter.self, ["regex": "(.*)-raw", "replacement": "$1-clean"])
        #expect(try router.apply(record(topic: "orders-raw", value: .null))?.topic == "orders-clean")
        #expect(try router.apply(record(topic: "orders-raw-x", value: .null))?.topic == "orders-raw-x")
        let partial = try make(RegexRouter.self, ["regex": "orders", "replacement": "x"])
        #expect(try partial.apply(record(topic: "orders-raw", value: .null))?.topic == "orders-raw")
        #expect(throws: ConnectError.self) { try make(RegexRouter.self, ["regex": "(", "replacement": "x"]) }
    }

    @Test func timestampRouterFormatsUTC() throws {
        let router = try make(TimestampRouter.self)
        #expect(try router.apply(record(value: .null, timestamp: 1_700_000_000_123))?.topic == "orders-20231114")
        let custom = try make(
            TimestampRouter.self,
            ["topic.format": "${timestamp}_${topic}", "timestamp.format": "yyyy"]
        )
        #expect(try custom.apply(record(value: .null, timestamp: 0))?.topic == "1970_orders")
        #expect(throws: ConnectError.self) { try router.apply(record(value: .null)) }
    }

    @Test func filterDropsEverything() throws {
        #expect(try make(Filter.self).apply(record(value: .string("x"))) == nil)
    }

    @Test func insertAndDropHeaders() throws {
        let insert = try make(InsertHeader.self, ["header": "source", "value.literal": "runnel"])
        let inserted = try #require(try insert.apply(record(value: .null)))
        #expect(inserted.headers == [ConnectHeader(key: "source", schema: .string, value: .string("runnel"))])
        let drop = try make(DropHeaders.self, ["headers": "a,b"])
        let headers = ["a", "b", "c", "a"].map { ConnectHeader(key: $0, value: .string($0)) }
        #expect(try drop.apply(record(value: .null, headers: headers))?.headers.map(\.key) == ["c"])
        #expect(throws: ConnectError.self) { try make(DropHeaders.self, ["headers": ""]) }
    }
}

// MARK: Flatten

@Suite struct FlattenTests {
    @Test func flattensMapsKeepingArrays() throws {
        let transform = try make(FlattenValue.self, ["delimiter": "_"])
        let value = object([
            "a": object(["b": .int(1), "c": object(["d": .string("x")])]), "list": .array([.int(1)]), "n": .null,
        ])
        #expect(
            try transform.apply(record(value: value))?.value
                == object(["a_b": .int(1), "a_c_d": .string("x"), "list": .array([.int(1)]), "n": .null])
        )
    }

    @Test func flattensStructsWithOptionality() throws {
        let inner = ConnectSchema(.struct, optional: true, fields: [ConnectSchema.Field("x", .int64)])
        let schema = ConnectSchema(
            .struct,
            fields: [ConnectSchema.Field("id", ConnectSchema(.int32)), ConnectSchema.Field("inner", inner)]
        )
        let transform = try make(FlattenValue.self)
        let result = try transform.apply(
            record(valueSchema: schema, value: object(["id": .int(1), "inner": object(["x": .int(2)])]))
        )
        #expect(result?.valueSchema?.fields.map(\.name) == ["id", "inner.x"])
        #expect(result?.valueSchema?.field("inner.x")?.schema == .optionalInt64)
        #expect(result?.value == object(["id": .int(1), "inner.x": .int(2)]))
        let nullInner = try transform.apply(
            record(valueSchema: schema, value: object(["id": .int(1), "inner": .null]))
        )
        #expect(nullInner?.value == object(["id": .int(1), "inner.x": .null]))
    }
}

// MARK: HeaderFrom

@Suite struct HeaderFromTests {
    @Test func movesAndCopiesSchemaless() throws {
        let move = try make(HeaderFromValue.self, ["fields": "a", "headers": "h", "operation": "move"])
        let moved = try #require(try move.apply(record(value: object(["a": .int(1), "b": .int(2)]))))
        #expect(moved.value == object(["b": .int(2)]))
        #expect(moved.headers == [ConnectHeader(key: "h", value: .int(1))])
        let copy = try make(HeaderFromValue.self, ["fields": "a", "headers": "h", "operation": "copy"])
        let copied = try #require(try copy.apply(record(value: object(["a": .int(1)]))))
        #expect(copied.value == object(["a": .int(1)]))
        #expect(copied.headers.map(\.key) == ["h"])
    }

    @Test func movesStructFieldWithSchema() throws {
        let move = try make(HeaderFromValue.self, ["fields": "name", "headers": "who", "operation": "move"])
        let moved = try #require(try move.apply(record(valueSchema: personSchema, value: person)))
        #expect(moved.valueSchema?.fields.map(\.name) == ["id"])
        #expect(moved.value == object(["id": .int(7)]))
        #expect(moved.headers == [ConnectHeader(key: "who", schema: .optionalString, value: .string("Ada"))])
    }

    @Test func rejectsMismatchedLists() {
        #expect(throws: ConnectError.self) {
            try make(HeaderFromValue.self, ["fields": "a,b", "headers": "h", "operation": "copy"])
        }
        #expect(throws: ConnectError.self) {
            try make(HeaderFromValue.self, ["fields": "a", "headers": "h", "operation": "steal"])
        }
    }
}

// MARK: SetSchemaMetadata

@Suite struct SetSchemaMetadataTests {
    @Test func setsNameAndVersion() throws {
        let transform = try make(
            SetSchemaMetadataValue.self,
            ["schema.name": "com.example.Person", "schema.version": "3"]
        )
        let result = try transform.apply(record(valueSchema: personSchema, value: person))
        #expect(result?.valueSchema?.name == "com.example.Person")
        #expect(result?.valueSchema?.version == 3)
        #expect(result?.valueSchema?.fields == personSchema.fields)
        #expect(result?.value == person)
        let error = #expect(throws: ConnectError.self) { try transform.apply(record(value: person)) }
        #expect(error?.message == "Schema required for [updating schema metadata]")
        #expect(throws: ConnectError.self) { try make(SetSchemaMetadataValue.self) }
    }
}

// MARK: Predicates

@Suite struct PredicateTests {
    @Test func topicNameMatchesWholeTopic() throws {
        let predicate = try makePredicate(TopicNameMatches.self, ["pattern": "orders-.*"])
        #expect(predicate.test(record(topic: "orders-eu", value: .null)))
        #expect(!predicate.test(record(topic: "my-orders-eu", value: .null)))
        #expect(throws: ConnectError.self) { try makePredicate(TopicNameMatches.self, ["pattern": "["]) }
    }

    @Test func hasHeaderKey() throws {
        let predicate = try makePredicate(HasHeaderKey.self, ["name": "trace"])
        #expect(predicate.test(record(value: .null, headers: [ConnectHeader(key: "trace", value: .null)])))
        #expect(!predicate.test(record(value: .null, headers: [ConnectHeader(key: "other", value: .null)])))
    }

    @Test func recordIsTombstone() throws {
        let predicate = try makePredicate(RecordIsTombstone.self)
        #expect(predicate.test(record(value: .null)))
        #expect(!predicate.test(record(value: .string("x"))))
    }
}

// MARK: Registry

@Suite struct BuiltinTransformsTests {
    @Test func registersEveryKafkaClassOnce() throws {
        let names = BuiltinTransforms.transforms.map(\.className)
        #expect(names.count == 26)
        #expect(Set(names).count == names.count)
        #expect(names.contains("org.apache.kafka.connect.transforms.InsertField$Value"))
        #expect(names.contains("org.apache.kafka.connect.transforms.ValueToKey"))
        #expect(
            BuiltinTransforms.predicates.map(\.className).sorted() == [
                "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
                "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ]
        )
    }

    @Test func registeredTypesKnowTheirPart() throws {
        let keyType = try #require(
            BuiltinTransforms.transform(named: "org.apache.kafka.connect.transforms.HoistField$Key")
        )
        let transform = try keyType.init(config: keyType.configDef.parse(["field": "k"]))
        let result = try transform.apply(record(key: .string("id"), value: .string("v")))
        #expect(result?.key == object(["k": .string("id")]))
        #expect(result?.value == .string("v"))
    }
}
