public import NIOCore
import RunnelBrokerAPI
import Synchronization

/// Kafka's murmur2 (MurmurHash2, 32-bit, seed 0x9747b28c), as `org.apache.kafka.common.utils.Utils.murmur2`:
/// keyed records land on the same partition as with the Java and librdkafka (`murmur2_random`) producers.
public enum Murmur2 {
    /// The hash as Java's signed int.
    public static func hash(_ data: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let words = length / 4
        for index in 0..<words {
            let i = index * 4
            // Four bytes, little-endian.
            var k =
                UInt32(data[i]) | (UInt32(data[i + 1]) << 8) | (UInt32(data[i + 2]) << 16) | (UInt32(data[i + 3]) << 24)
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = words * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 1:
            h ^= UInt32(data[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The hash of a byte array as Java's signed int.
    public static func hash(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// Kafka's `Utils.toPositive(murmur2(key)) % partitions`: a mask, not `abs`.
    public static func partition(forKey key: ByteBuffer, partitions: Int32) -> Int32 {
        let hash = key.withUnsafeReadableBytes { Murmur2.hash($0) }
        return (hash & 0x7fff_ffff) % partitions
    }
}

/// The partition of records without an explicit one, as Kafka's built-in partitioner (KIP-794): keyed records by
/// murmur2 of the key; records without a key stick to one partition until `batch.size` bytes have gone to it, then
/// move to another partition chosen at random.
final class StickyPartitioner: Sendable {
    /// Kafka's producer `batch.size` default: the bytes sent to a sticky partition before it changes.
    static let switchBytes = 16_384

    private struct Sticky {
        var partition: Int32
        var bytes: Int
    }

    private let sticky = Mutex<[String: Sticky]>([:])

    /// The partition for a record of `size` bytes with no key, counting the bytes toward the switch.
    func partitionForUnkeyed(topic: String, partitions: Int32, size: Int) -> Int32 {
        sticky.withLock { sticky in
            var current = sticky[topic] ?? Sticky(partition: Int32.random(in: 0..<partitions), bytes: 0)
            if current.partition >= partitions || current.bytes >= StickyPartitioner.switchBytes {
                current = Sticky(partition: Self.next(after: current.partition, partitions: partitions), bytes: 0)
            }
            current.bytes += size
            sticky[topic] = current
            return current.partition
        }
    }

    /// Forgets a topic's sticky partition (the topic was deleted or resized).
    func reset(topic: String) {
        _ = sticky.withLock { $0.removeValue(forKey: topic) }
    }

    private static func next(after previous: Int32, partitions: Int32) -> Int32 {
        guard partitions > 1 else { return 0 }
        // A different partition, uniformly among the others.
        let pick = Int32.random(in: 0..<(partitions - 1))
        return pick >= previous ? pick + 1 : pick
    }
}
