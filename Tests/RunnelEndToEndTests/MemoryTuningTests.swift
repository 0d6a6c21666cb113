import CMallocTuning
import Testing

@Suite struct MemoryTuningTests {
    /// `runnel` keeps freed batch buffers in the heap (bench/README.md); the setting must reach glibc, not be skipped.
    @Test func glibcAcceptsTheAllocatorThresholds() {
        #if canImport(Glibc)
        #expect(runnel_set_malloc_thresholds(64 << 20, 8 << 20) == 1)
        #endif
    }
}
