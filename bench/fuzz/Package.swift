// swift-tools-version: 6.1
// Coverage-guided fuzzers (libFuzzer) for the decoders that read untrusted bytes: the record batch decoder and the
// JSON reader of produce requests. Separate from the main package so its build stays fast. See bench/fuzz/run.sh.
import PackageDescription

let package = Package(
    name: "runnel-fuzz",
    dependencies: [.package(name: "runnel", path: "../..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "FuzzRecordBatch",
            dependencies: ["FuzzDriver", .product(name: "RunnelRecords", package: "runnel")]
        ),
        .executableTarget(
            name: "FuzzJSON",
            dependencies: ["FuzzDriver", .product(name: "RunnelJSON", package: "runnel")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
