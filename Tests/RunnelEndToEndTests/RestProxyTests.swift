import Foundation
import Testing

/// `runnel serve` driven over HTTP by `requests` (python/rest_proxy.py), as a user of Confluent REST Proxy would:
/// each test starts the real binary on free ports with its own data directory.
@Suite struct RestProxyTests {
    static let tests = [
        "test_quickstart", "test_v2_metadata", "test_errors", "test_v3_admin", "test_v3_produce_and_read",
        "test_keyed_partitioning", "test_seek_and_commit", "test_long_poll", "test_consumer_group", "test_connections",
        "test_malformed_http",
        "test_connect_root", "test_instance_expiry", "test_environment_and_config", "test_restart_and_kill",
    ]

    @Test(arguments: tests)
    func restProxy(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("rest_proxy.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
