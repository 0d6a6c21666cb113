import Foundation
import Testing

/// Security (python/security.py) against a real server: `--auth` modes and the refusal to start without a key, every
/// route of openapi.yaml on both ports without credentials, with a wrong secret, with a key without ACLs and as a
/// super user, Kafka ACLs through the v3 API and `runnel acl`, API keys (offline and online, secrets never stored or
/// logged), connectors running as their principal, TLS (TLS_PLAINTEXT, mutual TLS, SIGHUP reload, no TLS 1.1),
/// /metrics with and without `--open-metrics`, the dashboard's data filtered by ACLs, and audit lines a caller cannot
/// forge.
@Suite struct SecurityTests {
    static let tests = [
        "test_auth_modes", "test_route_walk", "test_acls", "test_api_keys", "test_connector_principal", "test_tls",
        "test_metrics_auth", "test_dashboard_data", "test_audit_lines", "test_browser_forgery", "test_credential_bytes",
        "test_failed_logins", "test_connector_acls", "test_file_roots", "test_low_findings",
    ]

    @Test(arguments: tests)
    func security(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("security.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
