// swift-tools-version: 6.1
// A Hummingbird server that receives a produce request and does nothing with it: the ceiling the REST proxy's
// produce path is compared with in bench/rest-proxy.sh. Benchmark-only; not part of the product.
import PackageDescription

let package = Package(
    name: "http-baseline",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1")
    ],
    targets: [
        .executableTarget(
            name: "noop-server",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources/NoopServer"
        )
    ],
    swiftLanguageModes: [.v6]
)
