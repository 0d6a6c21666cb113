#ifndef CCRC32C_H
#define CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) checksum with `length` bytes.
///
/// Start with `crc = 0`; feeding a buffer in several calls gives the same result as one call over the whole
/// buffer. Uses the SSE4.2 or ARMv8 CRC instructions when the CPU has them, a slicing-by-8 table otherwise.
uint32_t runnel_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// The portable table implementation, always available (tests compare it with the hardware path).
uint32_t runnel_crc32c_extend_software(uint32_t crc, const void *data, size_t length);

/// Whether `runnel_crc32c_extend` uses a hardware CRC instruction on this CPU.
int runnel_crc32c_is_hardware_accelerated(void);

#endif
