#ifndef CMALLOCTUNING_H
#define CMALLOCTUNING_H

/// Sets glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (bytes); does nothing with other C libraries.
/// Returns 1 when both were applied.
int runnel_set_malloc_thresholds(int trim_threshold, int mmap_threshold);

#endif
