import Foundation
import Testing

/// The connect worker driven over Kafka Connect's REST API (python/connect.py), by `requests` and by the
/// third-party client kafka-connect-py, as a Kafka Connect user would: each run starts the real binary.
@Suite struct ConnectTests {
    static let tests = [
        "test_lifecycle", "test_bad_input", "test_plugins_validate_and_secrets", "test_converters", "test_transforms",
        "test_topics_regex", "test_dead_letter_queue", "test_kafka_connect_py", "test_worker_config",
        "test_restart_and_kill", "test_templates",
    ]

    @Test(arguments: tests)
    func connect(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("connect.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
