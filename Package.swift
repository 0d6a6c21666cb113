// swift-tools-version: 6.1
import PackageDescription

var swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
// CI (CI=true) turns warnings in our own targets into errors; dependencies are unaffected.
if Context.environment["CI"] != nil {
    swiftSettings.append(.unsafeFlags(["-warnings-as-errors"]))
}

let package = Package(
    name: "runnel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "runnel", targets: ["runnel"]),
        .library(name: "RunnelRecords", targets: ["RunnelRecords"]),
        .library(name: "RunnelBrokerAPI", targets: ["RunnelBrokerAPI"]),
        .library(name: "RunnelLog", targets: ["RunnelLog"]),
        .library(name: "RunnelBroker", targets: ["RunnelBroker"]),
        .library(name: "RunnelJSON", targets: ["RunnelJSON"]),
        .library(name: "RunnelHTTP", targets: ["RunnelHTTP"]),
        .library(name: "RunnelRestProxy", targets: ["RunnelRestProxy"]),
        .library(name: "RunnelConnect", targets: ["RunnelConnect"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // Hardware-accelerated CRC-32C (SSE4.2 / ARMv8 CRC) with a portable table fallback.
        .target(name: "CCRC32C"),
        // glibc allocator thresholds, set once by the executable.
        .target(name: "CMallocTuning"),
        // Kafka's data model and record format: topic-partitions, records and headers, RecordBatch v2 with its CRC and
        // varints, and the wall clock record timestamps are read from. Shared by the log engine, the broker seam and
        // every front end.
        .target(
            name: "RunnelRecords",
            dependencies: [
                "CCRC32C",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The broker seam: the `Broker` protocol every front end speaks, its value types and errors, ACLs and callers,
        // and the client side of the group protocol. Nothing of the engine: a Kafka-cluster client implements it too.
        .target(
            name: "RunnelBrokerAPI",
            dependencies: [
                "RunnelRecords",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RunnelLog",
            dependencies: [
                "RunnelRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The embedded broker: topics, configs, partitioner, consumer groups, committed offsets, the metadata catalog,
        // security, over this process's partition logs; it implements the `Broker` seam.
        .target(
            name: "RunnelBroker",
            dependencies: [
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelLog",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // JSON without trees (reading), as values and written straight into buffers, and base64: NIOCore only.
        .target(
            name: "RunnelJSON",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // The HTTP edge shared by the proxy and connect listeners: errors in the API's format, bodies, routes.
        .target(
            name: "RunnelHTTP",
            dependencies: [
                "RunnelJSON",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Confluent REST Proxy v2 and v3 over the `Broker` seam.
        .target(
            name: "RunnelRestProxy",
            dependencies: [
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelHTTP",
                "RunnelJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The connect worker: plugin SPI, tasks, converters, transforms, errors and DLQ, its SQLite store, and
        // Kafka Connect's REST API.
        .target(
            name: "RunnelConnect",
            dependencies: [
                "RunnelBrokerAPI",
                .product(name: "Metrics", package: "swift-metrics"),
                "RunnelRecords",
                "RunnelHTTP",
                "RunnelJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The connectors shipped in the binary: file source/sink, SQLite source, S3-layout sink.
        .target(
            name: "RunnelConnectors",
            dependencies: [
                "RunnelConnect",
                "RunnelJSON",
                "RunnelBrokerAPI",
                "RunnelRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The console: /metrics in Prometheus's text format (swift-metrics through swift-prometheus, plus the
        // cluster's state read at scrape time) and the dashboard at /ui (its page, and the JSON it polls).
        .target(
            name: "RunnelConsole",
            dependencies: [
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelHTTP",
                "RunnelJSON",
                "RunnelConnect",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The dashboard's page, and the connector templates of connectors/ (links to them).
            resources: [
                .embedInCode("UI/index.html"), .embedInCode("UI/app.js"), .embedInCode("UI/app.css"),
                .embedInCode("UI/favicon.svg"), .embedInCode("Templates/sqlite-source.json"),
                .embedInCode("Templates/s3-sink.json"), .embedInCode("Templates/file-source.json"),
                .embedInCode("Templates/file-sink.json"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "runnel",
            dependencies: [
                "RunnelConsole",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "RunnelLog",
                "RunnelBroker",
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelHTTP",
                "RunnelJSON",
                "RunnelRestProxy",
                "RunnelConnect",
                "RunnelConnectors",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "CMallocTuning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // The repository's openapi.yaml (a link to it), served at GET /openapi.yaml.
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the test targets (temporary directories, loggers); never a dependency of Sources.
        .target(
            name: "RunnelTestSupport",
            dependencies: [
                "RunnelRecords",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/RunnelTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelRecordsTests",
            dependencies: [
                "RunnelRecords",
                "RunnelTestSupport",
                "CCRC32C",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelLogTests",
            dependencies: [
                "RunnelLog",
                "RunnelRecords",
                "RunnelTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelBrokerTests",
            dependencies: [
                "RunnelBroker",
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelLog",
                "RunnelTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelRestProxyTests",
            dependencies: [
                "RunnelRestProxy",
                "RunnelHTTP",
                "RunnelJSON",
                "RunnelBroker",
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelConnect",
                "RunnelTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelConnectTests",
            dependencies: [
                "RunnelConnect",
                "RunnelConnectors",
                "RunnelBroker",
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelLog",
                "RunnelHTTP",
                "RunnelJSON",
                "RunnelTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnelEndToEndTests",
            dependencies: [
                "runnel",
                "RunnelConsole",
                .product(name: "Prometheus", package: "swift-prometheus"),
                "CMallocTuning",
                "RunnelLog",
                "RunnelBroker",
                "RunnelBrokerAPI",
                "RunnelRecords",
                "RunnelRestProxy",
                "RunnelConnect",
                "RunnelHTTP",
                "RunnelJSON",
                "RunnelTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["python"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
