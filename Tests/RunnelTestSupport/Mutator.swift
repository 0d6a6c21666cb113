/// A seeded generator (SplitMix64) and byte mutations for fixed-seed fuzzing: the same seed gives the same inputs on
/// every run, so a failure names its seed and iteration and can be replayed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

public enum Mutator {
    static let interesting: [UInt8] = [
        0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x3A, 0x2C,
    ]

    /// `input` with 1 to 8 random edits: bit flips, interesting bytes, insertions, deletions, duplicated or
    /// truncated spans, and big-endian integers set to boundary values.
    public static func mutate(_ input: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...8, using: &generator) {
            let choice = Int.random(in: 0..<8, using: &generator)
            if bytes.isEmpty && choice != 2 { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
            let at = Int.random(in: 0..<max(1, bytes.count), using: &generator)
            switch choice {
            case 0:
                bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
            case 1:
                bytes[at] = interesting.randomElement(using: &generator) ?? 0
            case 2:
                bytes.insert(UInt8.random(in: 0...255, using: &generator), at: min(at, bytes.count))
            case 3:
                bytes.remove(at: at)
            case 4:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &generator))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            case 5:
                bytes = Array(bytes.prefix(at))
            case 6:
                let values: [UInt32] = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 61, 12]
                let value = values.randomElement(using: &generator) ?? 0
                for i in 0..<4 where at + i < bytes.count {
                    bytes[at + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i))
                }
            default:
                bytes[at] = UInt8.random(in: 0...255, using: &generator)
            }
        }
        return bytes
    }
}
