import Foundation
import Testing

/// The dashboard at /ui (python/dashboard.py) in headless Chromium driven by Playwright: after data flows, the
/// graphs have points, the tables have rows, peeking shows the records, and the connector buttons work; server
/// errors are shown and nothing breaks. Screenshots land in .build/test-artifacts/dashboard/.
@Suite struct DashboardTests {
    static let tests = ["test_overview_graphs_fill", "test_topics", "test_groups", "test_connectors"]

    @Test(arguments: tests)
    func dashboard(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("dashboard.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
