import Foundation
import RunnelRecords
import RunnelTestSupport
import Testing

@testable import RunnelLog

@Suite struct LogConfigTests {
    @Test func hasKafkasDefaults() {
        let properties = LogConfig().properties
        #expect(properties["cleanup.policy"] == "delete")
        #expect(properties["segment.bytes"] == "1073741824")
        #expect(properties["segment.ms"] == "604800000")
        #expect(properties["retention.ms"] == "604800000")
        #expect(properties["retention.bytes"] == "-1")
        #expect(properties["index.interval.bytes"] == "4096")
        #expect(properties["segment.index.bytes"] == "10485760")
        #expect(properties["min.cleanable.dirty.ratio"] == "0.5")
        #expect(properties["delete.retention.ms"] == "86400000")
        #expect(properties["max.message.bytes"] == "1048588")
        #expect(properties["message.timestamp.type"] == "CreateTime")
        #expect(properties["compression.type"] == "producer")
        #expect(properties["flush.messages"] == String(Int64.max))
        #expect(Set(properties.keys) == Set(LogConfig.keys))
    }

    @Test func appliesKafkaProperties() throws {
        let config = try LogConfig().applying([
            "cleanup.policy": "compact,delete", "retention.ms": "-1", "segment.bytes": "1048576",
            "min.cleanable.dirty.ratio": "0.1", "message.timestamp.type": "LogAppendTime", "compression.type": "gzip",
            "flush.messages": "1",
        ])
        #expect(config.cleanupPolicy == [.compact, .delete])
        #expect(config.retentionMs == -1)
        #expect(config.segmentBytes == 1_048_576)
        #expect(config.minCleanableDirtyRatio == 0.1)
        #expect(config.messageTimestampType == .logAppendTime)
        #expect(config.compressionType == .codec(.gzip))
        #expect(config.flushMessages == 1)
        #expect(try LogConfig().applying(config.properties) == config)
    }

    @Test func rejectsBadKeysAndValuesWithKafkasMessages() {
        let cases: [([String: String], String)] = [
            (["segment.bytes": "10"], "Invalid value 10 for configuration segment.bytes: Value must be at least 14"),
            (["retention.ms": "soon"], "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
            (
                ["cleanup.policy": "archive"],
                "Invalid value archive for configuration cleanup.policy: must be delete, compact or compact,delete"
            ),
            (
                ["min.cleanable.dirty.ratio": "1.5"],
                "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be between 0 and 1"
            ),
            (
                ["message.timestamp.type": "Now"],
                "Invalid value Now for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"
            ),
            (["retention.mss": "1"], "Unknown topic config name: retention.mss"),
        ]
        for (properties, message) in cases {
            let error = #expect(throws: LogError.self) { try LogConfig().applying(properties) }
            #expect(error?.code == .invalidConfig)
            #expect(error?.message == message)
        }
        let snappy = #expect(throws: LogError.self) { try LogConfig().applying(["compression.type": "snappy"]) }
        #expect(snappy?.message.contains("not supported") == true)
    }

    @Test func flushPoliciesSetFlushMessagesAndMs() {
        #expect(FlushPolicy.everyAppend.applied(to: LogConfig()).flushMessages == 1)
        #expect(FlushPolicy.interval(milliseconds: 250).applied(to: LogConfig()).flushMs == 250)
        let os = FlushPolicy.operatingSystem.applied(to: LogConfig())
        #expect(os.flushMs == .max && os.flushMessages == .max)
    }
}

@Suite struct CheckpointFileTests {
    @Test func writesKafkasTextFormatAtomically() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("recovery-point-offset-checkpoint")
        try CheckpointFile.writeOffsets(path, [topicPartition("b", 1): 7, topicPartition("a", 0): 42])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "0\n2\na 0 42\nb 1 7\n")
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        #expect(try CheckpointFile.readOffsets(path) == [topicPartition("a", 0): 42, topicPartition("b", 1): 7])
        #expect(try CheckpointFile.readOffsets(directory.file("missing")) == nil)
    }

    @Test func rejectsMalformedFiles() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("checkpoint")
        for content in ["", "0\n", "1\n0\n", "0\n2\na 0 1\n", "0\n1\na zero 1\n", "0\n1\na 0\n", "x\n0\n"] {
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: LogError.self, "\(content.debugDescription)") {
                try CheckpointFile.readOffsets(path)
            }
            #expect(error?.code == .corruptCheckpoint)
        }
        try "0\n1\n0 0\n".write(toFile: directory.file(LeaderEpochCache.fileName), atomically: true, encoding: .utf8)
        #expect(try LeaderEpochCache.read(directory: directory.path)?.entries == [.init(epoch: 0, startOffset: 0)])
    }

    @Test func leaderEpochsFollowTheLog() {
        var cache = LeaderEpochCache()
        cache.assign(epoch: 0, startOffset: 0)
        cache.assign(epoch: 0, startOffset: 10)
        cache.assign(epoch: 3, startOffset: 20)
        #expect(cache.entries == [.init(epoch: 0, startOffset: 0), .init(epoch: 3, startOffset: 20)])
        cache.truncate(fromStart: 5)
        #expect(cache.entries == [.init(epoch: 0, startOffset: 5), .init(epoch: 3, startOffset: 20)])
        cache.truncate(fromStart: 25)
        #expect(cache.entries == [.init(epoch: 3, startOffset: 25)])
        cache.truncate(fromEnd: 25)
        #expect(cache.entries.isEmpty)
    }
}

@Suite struct LogFlushServiceTests {
    @Test func flushesOnFlushMsAndCheckpointsRecoveryPoints() async throws {
        let clock = ManualWallClock()
        let directory = TemporaryDirectory()
        let config = FlushPolicy.interval(milliseconds: 1000).applied(to: LogConfig())
        let manager = try await openManager(directory, clock: clock, config: config) {
            $0.flushCheckIntervalMs = 100
            $0.checkpointIntervalMs = 1000
        }
        let log = try await manager.createLog(topicPartition())
        _ = try await log.append(try makeBatch(count: 10))
        #expect(log.recoveryPoint == 0)
        let service = Task { try await LogFlushService(manager: manager).run() }
        let checkpoint = directory.file("logs/recovery-point-offset-checkpoint")
        for _ in 0..<15 {
            while clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
            clock.advance(by: 100)
            try await Task.sleep(for: .milliseconds(5))
        }
        for _ in 0..<5000 where (try? String(contentsOfFile: checkpoint, encoding: .utf8)) != "0\n1\nevents 0 10\n" {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(log.recoveryPoint == 10)
        #expect(try String(contentsOfFile: checkpoint, encoding: .utf8) == "0\n1\nevents 0 10\n")
        service.cancel()
        try await service.value
        try await manager.close()
    }
}
