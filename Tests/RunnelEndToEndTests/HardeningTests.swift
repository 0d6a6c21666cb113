import Foundation
import Testing

/// Abuse of a real server (python/hardening.py): a corpus of malformed HTTP on both ports, slowloris and stalled
/// bodies, 5 000 idle connections and the connection limits, byte-rate quotas, a full disk, a lowered open-file limit,
/// and parallel huge reads under the fetch memory budget.
@Suite struct HardeningTests {
    static let tests = [
        "test_malformed_http_corpus", "test_slow_clients", "test_idle_connections_and_limits", "test_quotas",
        "test_disk_full", "test_descriptor_limit", "test_read_memory",
    ]

    @Test(arguments: tests)
    func hardening(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("hardening.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
