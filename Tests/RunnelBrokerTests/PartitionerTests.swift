import NIOCore
import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelBroker

@Suite struct PartitionerTests {
    /// Kafka's `UtilsTest.testMurmur2` vectors.
    @Test(
        arguments: [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ] as [(String, Int32)]
    )
    func murmur2MatchesKafka(key: String, expected: Int32) {
        #expect(Murmur2.hash(Array(key.utf8)) == expected)
    }

    /// Partitions computed by the Java client for these keys.
    @Test(
        arguments: [
            ("", UInt32(0x106e_08d9), [3: 0, 6: 3, 12: 9]),
            ("a", UInt32(0xa2d0_b27c), [3: 1, 6: 4, 12: 4]),
            ("key1", UInt32(0x01b3_8bc4), [3: 2, 6: 2, 12: 8]),
            ("hello", UInt32(0x7f1d_dbbd), [3: 0, 6: 3, 12: 9]),
        ] as [(String, UInt32, [Int32: Int32])]
    )
    func keyedPartitionsMatchJavaClient(key: String, hash: UInt32, partitions: [Int32: Int32]) {
        #expect(UInt32(bitPattern: Murmur2.hash(Array(key.utf8))) == hash)
        for (count, expected) in partitions {
            #expect(Murmur2.partition(forKey: ByteBuffer(string: key), partitions: count) == expected)
        }
    }

    @Test func negativeHashesUseTheMaskNotAbs() {
        // "21" hashes to -973932308: the mask gives 1173551340, abs would give 973932308.
        let masked = Int32(-973_932_308) & 0x7fff_ffff
        #expect(masked == 1_173_551_340)
        #expect(Murmur2.partition(forKey: ByteBuffer(string: "21"), partitions: 7) == masked % 7)
        #expect(masked % 7 != 973_932_308 % 7)
    }

    @Test func unkeyedRecordsStickUntilBatchSizeThenMove() {
        let partitioner = StickyPartitioner()
        let first = partitioner.partitionForUnkeyed(topic: "t", partitions: 6, size: 1000)
        // 16 more records of 1000 bytes reach 16384 bytes: all on the same partition.
        for _ in 0..<16 {
            #expect(partitioner.partitionForUnkeyed(topic: "t", partitions: 6, size: 1000) == first)
        }
        let next = partitioner.partitionForUnkeyed(topic: "t", partitions: 6, size: 1000)
        #expect(next != first)
        #expect((0..<6).contains(next))
    }

    @Test func unkeyedRecordsSpreadOverEveryPartitionInTime() {
        let partitioner = StickyPartitioner()
        var seen = Set<Int32>()
        for _ in 0..<2000 { seen.insert(partitioner.partitionForUnkeyed(topic: "t", partitions: 4, size: 1000)) }
        #expect(seen == [0, 1, 2, 3])
    }

    @Test func groupsMapToOffsetsPartitionsAsKafka() {
        // Java: Math.abs(groupId.hashCode()) % 50, computed with the JDK.
        #expect(TopicNames.offsetsPartition(forGroup: "my-group", partitions: 50) == 12)  // hashCode -1906497762
        #expect(TopicNames.offsetsPartition(forGroup: "console-consumer-12345", partitions: 50) == 6)
    }
}
