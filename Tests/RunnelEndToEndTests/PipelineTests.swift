import Foundation
import Testing

/// The built-in SQLite source and S3-layout sink (python/pipeline.py): a SQLite database written by another process,
/// topics read back over the REST proxy, buckets read back from the file system, kills and restarts of the real
/// binary. Each test starts its own server.
@Suite struct PipelineTests {
    static let tests = [
        "test_source_incrementing", "test_source_timestamp", "test_source_timestamp_incrementing", "test_source_bulk",
        "test_source_query", "test_source_restart", "test_source_new_tables_and_tasks", "test_source_schema_changes",
        "test_source_types", "test_source_locks_and_time_settings", "test_source_bad_input", "test_sink_objects",
        "test_sink_restarts", "test_sink_field_partitioner", "test_sink_time_partitioners", "test_sink_formats",
        "test_sink_null_values", "test_sink_bad_input", "test_sink_symlinks", "test_sink_unformattable",
        "test_sink_tasks_and_rotation", "test_sink_field_traversal", "test_sink_transient_failure",
        "test_sink_folder_removed", "test_pipeline_kill",
    ]

    @Test(arguments: tests)
    func pipeline(_ name: String) async throws {
        let output = try await runProcess(try pythonInterpreter(), [pythonScript("pipeline.py"), runnelPath, name])
        #expect(output.status == 0, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stdout.hasPrefix("PASS \(name)"), "\(output.stdout)")
    }
}
