public import NIOCore

/// Standard base64 (RFC 4648 §4, with padding), which Confluent's binary embedded format uses.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8
    )
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    public static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    public static func encode(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        let length = encodedLength(bytes.count)
        guard length > 0 else { return }
        alphabet.withUnsafeBufferPointer { alphabet in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
                var input = 0
                var out = 0
                while input + 3 <= bytes.count {
                    let chunk = UInt32(bytes[input]) << 16 | UInt32(bytes[input + 1]) << 8 | UInt32(bytes[input + 2])
                    output[out] = alphabet[Int(chunk >> 18)]
                    output[out + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                    output[out + 2] = alphabet[Int(chunk >> 6 & 0x3F)]
                    output[out + 3] = alphabet[Int(chunk & 0x3F)]
                    input += 3
                    out += 4
                }
                let remaining = bytes.count - input
                if remaining > 0 {
                    var chunk = UInt32(bytes[input]) << 16
                    if remaining == 2 { chunk |= UInt32(bytes[input + 1]) << 8 }
                    output[out] = alphabet[Int(chunk >> 18)]
                    output[out + 1] = alphabet[Int(chunk >> 12 & 0x3F)]
                    output[out + 2] = remaining == 2 ? alphabet[Int(chunk >> 6 & 0x3F)] : UInt8(ascii: "=")
                    output[out + 3] = UInt8(ascii: "=")
                    out += 4
                }
                return out
            }
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var buffer = ByteBuffer()
        bytes.withUnsafeBytes { encode($0, into: &buffer) }
        return String(buffer: buffer)
    }

    /// Decodes base64 text into `buffer`; false (with `buffer` unchanged) if the text is not base64. Padding may be
    /// left out, as Java's decoder allows.
    public static func decode(_ text: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) -> Bool {
        var count = text.count
        if count > 0 && text[count - 1] == UInt8(ascii: "=") { count -= 1 }
        if count > 0 && text[count - 1] == UInt8(ascii: "=") { count -= 1 }
        // A padded text must be a whole number of quads; one leftover character is never valid.
        if count < text.count && text.count % 4 != 0 { return false }
        if count % 4 == 1 { return false }
        let length = count / 4 * 3 + max(0, count % 4 - 1)
        if length == 0 { return count == 0 }
        let start = buffer.writerIndex
        let valid = decodeTable.withUnsafeBufferPointer { table in
            var valid = true
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
                var input = 0
                var out = 0
                while input + 4 <= count {
                    let a = table[Int(text[input])]
                    let b = table[Int(text[input + 1])]
                    let c = table[Int(text[input + 2])]
                    let d = table[Int(text[input + 3])]
                    if (a | b | c | d) & 0xC0 != 0 {
                        valid = false
                        return 0
                    }
                    let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    output[out] = UInt8(chunk >> 16)
                    output[out + 1] = UInt8(chunk >> 8 & 0xFF)
                    output[out + 2] = UInt8(chunk & 0xFF)
                    input += 4
                    out += 3
                }
                let remaining = count - input
                if remaining >= 2 {
                    let a = table[Int(text[input])]
                    let b = table[Int(text[input + 1])]
                    let c = remaining == 3 ? table[Int(text[input + 2])] : 0
                    if (a | b | c) & 0xC0 != 0 {
                        valid = false
                        return 0
                    }
                    let chunk = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                    output[out] = UInt8(chunk >> 16)
                    out += 1
                    if remaining == 3 {
                        output[out] = UInt8(chunk >> 8 & 0xFF)
                        out += 1
                    }
                }
                return out
            }
            return valid
        }
        if !valid { buffer.moveWriterIndex(to: start) }
        return valid
    }

    public static func decode(_ text: String) -> [UInt8]? {
        var buffer = ByteBuffer()
        var text = text
        let valid = text.withUTF8 { decode(UnsafeRawBufferPointer($0), into: &buffer) }
        return valid ? Array(buffer.readableBytesView) : nil
    }
}
