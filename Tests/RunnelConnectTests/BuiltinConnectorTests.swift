import Foundation
import RunnelConnect
import Testing

@testable import RunnelConnectors

/// The pure parts of the built-in connectors: time folders, timestamps, names and config checks. The connectors
/// themselves are driven end to end by python/pipeline.py.
@Suite struct BuiltinConnectorTests {
    let utc = TimeZone(identifier: "UTC") ?? .current

    @Test func hourlyPathOfABucketStart() throws {
        let path = try TimePath("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH")
        let time: Int64 = 1_717_249_500_000  // 2024-06-01T13:45:00Z
        let start = TimePath.bucketStart(time, duration: 3_600_000, zone: utc)
        #expect(start == 1_717_246_800_000)
        #expect(path.render(start, zone: utc) == "year=2024/month=06/day=01/hour=13")
    }

    @Test func bucketsFollowTheTimeZone() throws {
        let path = try TimePath("YYYY-MM-dd")
        let zone = try #require(S3SinkConfig.parseTimeZone("+02:00"))
        let time: Int64 = 1_717_278_000_000  // 2024-06-01T21:40:00Z = 2024-06-01T23:40+02:00
        let next = time + 3_600_000  // 2024-06-02T00:40+02:00
        #expect(path.render(TimePath.bucketStart(time, duration: 86_400_000, zone: zone), zone: zone) == "2024-06-01")
        #expect(path.render(TimePath.bucketStart(next, duration: 86_400_000, zone: zone), zone: zone) == "2024-06-02")
        #expect(path.render(TimePath.bucketStart(next, duration: 86_400_000, zone: utc), zone: utc) == "2024-06-01")
    }

    @Test func timesBefore1970FallInTheirBucket() throws {
        let path = try TimePath("YYYY/MM/dd/HH")
        let start = TimePath.bucketStart(-1, duration: 3_600_000, zone: utc)
        #expect(start == -3_600_000)
        #expect(path.render(start, zone: utc) == "1969/12/31/23")
    }

    @Test func pathFormatsThatCannotBeUsed() {
        #expect(throws: TimePath.Problem.self) { try TimePath("'year'=YYYY/'week'=ww") }
        #expect(throws: TimePath.Problem.self) { try TimePath("'unterminated") }
        #expect(throws: TimePath.Problem.self) { try TimePath("'..'/YYYY") }
    }

    @Test func isoTimestamps() {
        #expect(Timestamps.parseISO8601("2024-06-01 13:45:00") == 1_717_249_500_000)
        #expect(Timestamps.parseISO8601("2024-06-01T13:45:00.250Z") == 1_717_249_500_250)
        #expect(Timestamps.parseISO8601("2024-06-01T15:45:00+02:00") == 1_717_249_500_000)
        #expect(Timestamps.parseISO8601("2024-06-01") == 1_717_200_000_000)
        #expect(Timestamps.parseISO8601("1970-01-01 00:00:00") == 0)
        #expect(Timestamps.parseISO8601("yesterday") == nil)
        #expect(Timestamps.parseISO8601("2024-13-01") == nil)
    }

    @Test func fieldValuesStayOneFolder() {
        #expect(S3SinkTask.escapePathValue("ops/eu") == "ops%2Feu")
        #expect(S3SinkTask.escapePathValue("..") == "..")  // always behind "<field>=", never a folder of its own
        #expect(S3SinkTask.escapePathValue("100%") == "100%25")
        #expect(S3SinkTask.escapePathValue("a\nb") == "a%0Ab")
    }

    @Test func stagedNamesAreFlatAndBounded() {
        #expect(
            Staging.stagedName("topics/t/partition=0/t+0+0000000000.json")
                == "topics%2Ft%2Fpartition=0%2Ft+0+0000000000.json"
        )
        let long = Staging.stagedName("topics/" + String(repeating: "x", count: 400) + "/t+0+0000000000.json")
        #expect(long.utf8.count < 255 && !long.contains("/"))
    }

    @Test func bucketsAndFoldersCannotEscape() {
        for name in ["../x", "A_B", "ab", "-abc", "abc.", "a..b", "a/b"] {
            #expect(S3SinkConfig.bucketProblem(name) != nil, "\(name)")
        }
        #expect(S3SinkConfig.bucketProblem("my-lake.2024") == nil)
        for path in ["../../etc", "/etc", "a/../b", "a//b", "./a"] {
            #expect(S3SinkConfig.relativePathProblem(path, key: "topics.dir") != nil, "\(path)")
        }
        #expect(S3SinkConfig.relativePathProblem("exports/topics", key: "topics.dir") == nil)
    }

    @Test func sinkConfigsAsConfluentWritesThem() throws {
        let config = try S3SinkConfig(
            [
                "s3.bucket.name": "lake", "flush.size": "3",
                "partitioner.class": "io.confluent.connect.storage.partitioner.HourlyPartitioner",
                "locale": "en-US", "timezone": "UTC",
                "timestamp.extractor":
                    "io.confluent.connect.storage.partitioner.TimeBasedPartitioner$RecordTimestampExtractor",
                "format.class": "io.confluent.connect.s3.format.json.JsonFormat", "s3.compression.type": "gzip",
            ],
            dataDirectory: "/var/lib/runnel"
        )
        #expect(config.root == "/var/lib/runnel/buckets")
        #expect(config.timestampExtractor == .record)
        #expect(config.fileExtension(config.format) == ".json.gz")
        guard case .time(_, let duration) = config.partitioner else {
            Issue.record("not time-based")
            return
        }
        #expect(duration == 3_600_000)
        #expect(throws: ConfigProblem.self) {
            try S3SinkConfig(
                ["s3.bucket.name": "lake", "flush.size": "3", "store.url": "https://s3.amazonaws.com"],
                dataDirectory: "/"
            )
        }
        #expect(throws: ConfigProblem.self) {
            try S3SinkConfig(
                ["s3.bucket.name": "lake", "flush.size": "3", "behavior.on.null.values": "write"],
                dataDirectory: "/"
            )
        }
    }

    @Test func jdbcUrls() throws {
        #expect(try SqliteSourceConfig.databasePath("jdbc:sqlite:/data/shop.db") == "/data/shop.db")
        #expect(
            try SqliteSourceConfig.databasePath("jdbc:sqlite:file:/data/my%20shop.db?mode=ro") == "/data/my shop.db"
        )
        #expect(try SqliteSourceConfig.databasePath("shop.db") == "shop.db")
        #expect(throws: (any Error).self) { try SqliteSourceConfig.databasePath("jdbc:postgresql://db:5432/shop") }
        #expect(throws: (any Error).self) { try SqliteSourceConfig.databasePath("jdbc:sqlite::memory:") }
    }

    @Test func sourceOffsetsInKafkaConnectsShape() {
        let offset = SqliteQuerier.timestampOffset(1_717_249_500_250, incrementing: 42)
        #expect(offset.names == ["timestamp", "timestamp_nanos", "incrementing"])
        #expect(offset["timestamp_nanos"] == .int(250_000_000))
        #expect(SqliteQuerier.timestampOffset(-1, incrementing: nil)["timestamp_nanos"] == .int(999_000_000))
    }
}
