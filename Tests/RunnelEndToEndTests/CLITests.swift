import Foundation
import Testing

/// The `runnel` CLI (python/cli.py) run as a process against a real server: topics, a produce/consume round trip
/// (keys, headers, bytes that are not text, standard input and files), following a topic until Ctrl-C, group lag
/// after partial consumption and offset resets, the connector lifecycle, URLs, bad input (exit codes 1 and 2), and `runnel serve`'s settings from flags and RUNNEL_* variables.
@Suite struct CLITests {
    static let tests = [
        "test_topic_commands", "test_produce_consume_round_trip", "test_consume_follows_until_ctrl_c",
        "test_group_lag_and_reset", "test_connector_lifecycle", "test_cluster_and_urls", "test_bad_input",
        "test_help_and_completion", "test_serve_settings",
    ]

    @Test(arguments: tests)
    func cli(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("cli.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
