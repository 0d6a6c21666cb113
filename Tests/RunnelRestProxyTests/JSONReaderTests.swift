import Foundation
import NIOCore
import RunnelHTTP
import RunnelJSON
import Testing

@Suite struct JSONReaderTests {
    @Test(arguments: [
        #"{"a":[1,-2.5e3,true,false,null,"x\"y\\z\u00e9\ud83d\ude00"],"b":{}}"#,
        "[]", "0", "-0.5", "\"\"", "  {\n\"k\" :\t[ 1 , 2 ] }  ", "1E+2", "\"caf\u{e9} \u{1F600}\"",
    ])
    func readsWhatFoundationReads(_ text: String) throws {
        let ours = try JSONValue.parse(text)
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
        // Writing ours and reading it with Foundation gives the same document.
        let again = try JSONSerialization.jsonObject(with: Data(ours.text.utf8), options: .fragmentsAllowed)
        #expect(NSArray(object: foundation).isEqual(NSArray(object: again)))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "{,}", "01", "1.", ".5", "-", "1e", "[1 2]", "{\"a\" 1}", "{'a':1}",
        "\"\\x\"", "\"\\u12\"", "\"a\u{1}b\"", "\"\\ud800\"", "\"\\udc00x\"", "tru", "nul", "[1]]", "NaN", "\"abc",
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
        // The produce path's one-pass copy refuses the same documents, and writes nothing when the value itself
        // is malformed (rather than what follows it).
        var out = ByteBuffer(string: "kept")
        var copyFailed = false
        #expect(throws: JSONError.self) {
            try ByteBuffer(string: text).withUnsafeReadableBytes { bytes in
                var reader = JSONReader(bytes)
                do {
                    try reader.copyCompactValue(into: &out)
                } catch {
                    copyFailed = true
                    throw error
                }
                try reader.expectEnd()
            }
        }
        if copyFailed { #expect(String(buffer: out) == "kept") }
    }

    @Test(arguments: [
        #"{"a":[1,-2.5e3,true,false,null,"x\"y\\z\u00e9"],"b":{},"c":[[],[{}]]}"#, "[]", "0", "-0.5", "\"\"",
        "  {\n\"k\" :\t[ 1 , 2 ] }  ", "1E+2", "[ null , true ]", "{ \"a b\" : \" c d \" }",
    ])
    func copiesValidDocumentsCompactly(_ text: String) throws {
        let copied = try ByteBuffer(string: text).withUnsafeReadableBytes { bytes in
            var reader = JSONReader(bytes)
            var out = ByteBuffer()
            try reader.copyCompactValue(into: &out)
            try reader.expectEnd()
            return out
        }
        // The same document, written as a serializer writes it.
        // The same value, with whitespace only inside strings (escapes are kept as written).
        #expect(try JSONValue.parse(copied) == JSONValue.parse(text))
        #expect(!text.contains("\\") ? String(buffer: copied) == (try JSONValue.parse(text)).text : true)
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONError.self) { try JSONValue.parse(ByteBuffer(bytes: [0x22, 0xFF, 0x22])) }
        #expect(throws: JSONError.self) { try JSONValue.parse(ByteBuffer(bytes: [0x22, 0xC3, 0x28, 0x22])) }
        #expect(throws: JSONError.self) { try JSONValue.parse(ByteBuffer(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22])) }
        #expect(throws: JSONError.self) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
        #expect(throws: JSONError.self) {
            try JSONValue.parse(String(repeating: "[", count: 300) + String(repeating: "]", count: 300))
        }
    }

    @Test func anUnfinishedDocumentFailsAtItsEnd() throws {
        // A streaming reader tells "not all here yet" from "malformed" by where the error is.
        for text in ["{\"value\":", "{\"a\":\"unfinished", "[1,", "{\"a\":[{\"b\":1}"] {
            let buffer = ByteBuffer(string: text)
            do {
                _ = try JSONValue.parse(buffer)
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.offset == buffer.readableBytes, "\(text): \(error)")
            }
        }
        // A UTF-8 sequence cut by the end of the bytes is unfinished too.
        let cut = ByteBuffer(bytes: Array("\"caf".utf8) + [0xC3])
        #expect(throws: JSONError.self) { try JSONValue.parse(cut) }
        do { _ = try JSONValue.parse(cut) } catch { #expect(error.offset == cut.readableBytes) }
    }

    @Test func compactCopyDropsWhitespaceOutsideStrings() throws {
        let text = " { \"a b\" : [ 1 , \"x \\\" y\" ] ,\n \"c\" : { } } "
        let copied = try ByteBuffer(string: text).withUnsafeReadableBytes { bytes in
            var reader = JSONReader(bytes)
            var out = ByteBuffer()
            try reader.copyCompactValue(into: &out)
            try reader.expectEnd()
            return String(buffer: out)
        }
        #expect(copied == #"{"a b":[1,"x \" y"],"c":{}}"#)
    }

    @Test func readsWholeNumbersAndRefusesOthers() throws {
        func int(_ text: String) throws -> Int64? {
            try ByteBuffer(string: text).withUnsafeReadableBytes { bytes in
                var reader = JSONReader(bytes)
                return try reader.readInt64()
            }
        }
        #expect(try int("9223372036854775807") == Int64.max)
        #expect(try int("-9223372036854775808") == Int64.min)
        #expect(try int("9223372036854775808") == nil)
        #expect(try int("3.0") == 3)
        #expect(try int("1e3") == 1000)
        #expect(try int("2.5") == nil)
    }

    @Test func writesStringsWithJSONEscapes() throws {
        let text = "q\"b\\n\n\t\u{1}é😀"
        let written = JSONValue.string(text).text
        #expect(written == #""q\"b\\n\n\t\u0001é😀""#)
        #expect(try JSONValue.parse(written) == .string(text))
    }
}

@Suite struct Base64Tests {
    @Test func matchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(Base64.decode(encoded) == bytes)
            // Java's decoder (and ours) accepts the padding left out.
            #expect(Base64.decode(String(encoded.drop { _ in false }.filter { $0 != "=" })) == bytes)
        }
    }

    @Test(arguments: ["a", "ab=c", "abc!", "a===", "ab=", "Zm9v YmFy", "-_8=", "Zg==Zg=="])
    func rejectsWhatIsNotBase64(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

@Suite struct JSONWriterTests {
    @Test(arguments: [Int64.min, -1_000_000_007, -10, -9, -1, 0, 1, 9, 10, 99, 100, 1_000_000_000_000, Int64.max])
    func writesWholeNumbersAsSwiftPrintsThem(_ value: Int64) {
        var writer = JSONWriter()
        writer.int(value)
        #expect(String(buffer: writer.buffer) == String(value))
    }
}
