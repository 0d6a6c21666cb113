import Foundation
import Testing

/// Damaged data (python/integrity.py): segments altered while the server was stopped, cleanly and after kill -9
/// (a flipped value byte, impossible lengths, moved base offsets), read over v3 and v2, listed and repaired by
/// `runnel check-logs`: every offset but the damaged batch's stays readable, none is served twice or wrongly.
@Suite struct IntegrityTests {
    static let tests = ["test_damage_after_a_clean_stop", "test_damage_after_kill"]

    @Test(arguments: tests)
    func integrity(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("integrity.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
