import ArgumentParser

@main
struct Runnel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runnel",
        abstract: "Runnel: a Kafka-style event streaming platform in one binary.",
        version: RunnelVersion.current,
        subcommands: [Serve.self, DumpLog.self, LogPerf.self, BrokerPerf.self]
    )

    static func main() async {
        MemoryTuning.apply()
        await main(nil)
    }
}

enum RunnelVersion {
    static let current = "0.1.0"
    /// The source revision, for Kafka Connect's root document.
    static let commit = "runnel-\(current)"
}
