import ArgumentParser
import Foundation

@main
struct Runnel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runnel",
        abstract: "Runnel: a Kafka-style event streaming platform in one binary.",
        discussion: """
            Start a server with `runnel serve`; the other commands talk to a running server over HTTP (--url, or \
            RUNNEL_URL; default http://127.0.0.1:8082).

            Quick start:
              runnel serve &
              runnel topic create orders --partitions 3
              seq 1 100 | runnel produce orders
              runnel consume orders --from-beginning --max-messages 100
              runnel group list
            """,
        version: RunnelVersion.current,
        subcommands: [
            Serve.self, TopicCommand.self, ProduceCommand.self, ConsumeCommand.self, GroupCommand.self,
            ConnectorCommand.self, ClusterCommand.self, APIKeyCommand.self, ACLCommand.self, QuotaCommand.self,
            DumpLog.self, CheckLogs.self, LogPerf.self, BrokerPerf.self,
        ]
    )

    /// Runs the command named on the command line. A command line that does not parse (an unknown command or
    /// flag, a missing argument) prints the usage and exits 2, as Unix tools do; any other failure prints
    /// `Error: <message>` and exits 1.
    static func main() async {
        MemoryTuning.apply()
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

enum RunnelVersion {
    static let current = "0.1.0"
    /// The source revision, for Kafka Connect's root document.
    static let commit = "runnel-\(current)"
}
