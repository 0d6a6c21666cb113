import Foundation
import Testing

/// The console (python/console.py): GET /metrics on both ports read as Prometheus reads it, its values following
/// produce, consume, commits and connectors, Prometheus's own `promtool check metrics` on the exposition, and the
/// server's `--log-format json` lines, and `--log-topic` shipped to a bucket by a sink.
@Suite struct ConsoleTests {
    static let tests = [
        "test_metrics_follow_the_data", "test_process_metrics", "test_promtool_accepts_the_exposition",
        "test_json_logs", "test_log_topic",
    ]

    @Test(arguments: tests)
    func console(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("console.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
