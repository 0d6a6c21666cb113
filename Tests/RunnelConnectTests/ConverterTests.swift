import NIOCore
import Testing

@testable import RunnelConnect

@Suite struct ConverterTests {
    @Test func jsonConverterWritesAndReadsTheSchemaEnvelope() throws {
        let converter = try JsonConverter(config: [:], isKey: false)
        let schema = ConnectSchema(
            .struct,
            name: "orders",
            fields: [.init("id", ConnectSchema(.int32)), .init("name", .optionalString), .init("blob", .optionalBytes)]
        )
        let value = ConnectValue.object(
            ConnectObject([("id", .int(7)), ("name", .null), ("blob", .bytes([1, 2, 3]))])
        )
        let bytes = try #require(try converter.fromConnectData(topic: "t", schema: schema, value: value))
        let text = String(buffer: bytes)
        #expect(
            text.hasPrefix(
                "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}"
            )
        )
        #expect(text.hasSuffix(",\"payload\":{\"id\":7,\"name\":null,\"blob\":\"AQID\"}}"))
        let back = try converter.toConnectData(topic: "t", bytes: bytes)
        #expect(back.schema == schema)
        #expect(back.value == value)
    }

    @Test func jsonConverterWithoutSchemasReadsPlainJSON() throws {
        let converter = try JsonConverter(config: ["schemas.enable": "false"], isKey: false)
        let read = try converter.toConnectData(topic: "t", bytes: ByteBuffer(string: #"{"a":1,"b":[true,1.5]}"#))
        #expect(read.schema == nil)
        #expect(read.value == .object(ConnectObject([("a", .int(1)), ("b", .array([.bool(true), .double(1.5)]))])))
        let written = try #require(try converter.fromConnectData(topic: "t", schema: nil, value: read.value))
        #expect(String(buffer: written) == #"{"a":1,"b":[true,1.5]}"#)
        #expect(try converter.fromConnectData(topic: "t", schema: nil, value: .null) == nil)
    }

    @Test func jsonConverterWithSchemasRejectsPlainJSON() throws {
        let converter = try JsonConverter(config: [:], isKey: false)
        #expect(throws: ConnectError.self) {
            _ = try converter.toConnectData(topic: "t", bytes: ByteBuffer(string: #"{"a":1}"#))
        }
        #expect(throws: ConnectError.self) {
            _ = try converter.toConnectData(topic: "t", bytes: ByteBuffer(string: "not json"))
        }
    }

    @Test func stringAndByteArrayConverters() throws {
        let string = try StringConverter(config: [:], isKey: false)
        #expect(try string.fromConnectData(topic: "t", schema: nil, value: .int(42)).map { String(buffer: $0) } == "42")
        #expect(try string.toConnectData(topic: "t", bytes: ByteBuffer(string: "héllo")).value == .string("héllo"))
        let bytes = try ByteArrayConverter(config: [:], isKey: false)
        #expect(try bytes.toConnectData(topic: "t", bytes: ByteBuffer(bytes: [0, 255])).value == .bytes([0, 255]))
        #expect(throws: ConnectError.self) {
            _ = try bytes.fromConnectData(topic: "t", schema: .string, value: .string("x"))
        }
    }
}
