public import NIOCore
public import RunnelRecords

public func buffer(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

public func string(_ buffer: ByteBuffer?) -> String? { buffer.map { String(buffer: $0) } }

/// A batch of records `prefix-0`, `prefix-1`, ... with keys `key-<i % keys>` (or null keys when `keys` is 0).
public func makeBatch(
    count: Int,
    prefix: String = "value",
    keys: Int = 0,
    valueSize: Int = 0,
    timestamp: Int64 = 1_700_000_000_000,
    compression: CompressionCodec = .none
) throws -> RecordBatch {
    var builder = RecordBatchBuilder(compression: compression)
    for i in 0..<count {
        var value = buffer("\(prefix)-\(i)")
        if valueSize > value.readableBytes {
            value.writeRepeatingByte(UInt8(ascii: "."), count: valueSize - value.readableBytes)
        }
        builder.append(key: keys > 0 ? buffer("key-\(i % keys)") : nil, value: value, timestamp: timestamp + Int64(i))
    }
    return try builder.build()
}

/// One record per entry: `(key, value)`, with `nil` for null.
public func makeBatch(_ records: [(String?, String?)], timestamp: Int64 = 1_700_000_000_000) throws -> RecordBatch {
    var builder = RecordBatchBuilder()
    for (key, value) in records {
        builder.append(key: key.map(buffer), value: value.map(buffer), timestamp: timestamp)
    }
    return try builder.build()
}

public func bytes(fromHex hex: String) -> [UInt8] {
    let digits = hex.filter { $0.isHexDigit }
    var result: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        result.append(UInt8(digits[index..<next], radix: 16) ?? 0)
        index = next
    }
    return result
}

extension ByteBuffer {
    public var bytes: [UInt8] { Array(readableBytesView) }
}
