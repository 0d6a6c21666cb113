import CMallocTuning

/// Process-wide allocator settings for a program that allocates and frees record batches (up to
/// `max.message.bytes`, 1 MiB by default) on every append and read.
///
/// glibc's defaults hand freed memory back to the kernel as soon as 128 KiB sit free at the top of the heap, so
/// batch-sized buffers cost page faults, page zeroing and TLB shootdowns on every allocation: `runnel log-perf`
/// measured 296-338 MB/s with the defaults and 459-564 MB/s with these settings (bench/README.md). Up to 64 MiB of
/// freed heap is kept; allocations above 8 MiB still get their own mapping.
enum MemoryTuning {
    static let trimThreshold: Int32 = 64 << 20
    static let mmapThreshold: Int32 = 8 << 20

    static func apply() {
        _ = runnel_set_malloc_thresholds(trimThreshold, mmapThreshold)
    }
}
