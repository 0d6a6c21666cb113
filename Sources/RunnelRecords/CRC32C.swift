import CCRC32C

/// CRC-32C (Castagnoli), the checksum of Kafka record batches.
public enum CRC32C {
    /// The checksum of `bytes`, or of `bytes` appended to data whose checksum was `crc`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return runnel_crc32c_extend(crc, base, bytes.count)
    }

    /// The checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Whether the CPU's CRC instruction is in use (otherwise a table implementation is).
    public static var isHardwareAccelerated: Bool { runnel_crc32c_is_hardware_accelerated() != 0 }
}
