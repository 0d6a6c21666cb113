#include "CCRC32C.h"

#include <string.h>

// CRC-32C, reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF (as Kafka's Crc32C).

static uint32_t table[8][256];

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
}

static uint32_t extend_software(uint32_t crc, const uint8_t *p, size_t length) {
    uint32_t c = ~crc;
    while (length > 0 && ((uintptr_t)p & 7) != 0) {
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        length--;
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        uint32_t lo = (uint32_t)word ^ c;
        uint32_t hi = (uint32_t)(word >> 32);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        length -= 8;
    }
    while (length > 0) {
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        length--;
    }
    return ~c;
}

#if defined(__x86_64__)
#include <cpuid.h>

__attribute__((target("sse4.2"))) static uint32_t extend_hardware(uint32_t crc, const uint8_t *p, size_t length) {
    uint64_t c = ~crc;
    while (length > 0 && ((uintptr_t)p & 7) != 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        length--;
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        length -= 8;
    }
    while (length > 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        length--;
    }
    return ~(uint32_t)c;
}

static int cpu_has_crc(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return 0;
    }
    return (ecx & bit_SSE4_2) != 0;
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif

__attribute__((target("crc"))) static uint32_t extend_hardware(uint32_t crc, const uint8_t *p, size_t length) {
    uint32_t c = ~crc;
    while (length > 0 && ((uintptr_t)p & 7) != 0) {
        c = __builtin_arm_crc32cb(c, *p++);
        length--;
    }
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_arm_crc32cd(c, word);
        p += 8;
        length -= 8;
    }
    while (length > 0) {
        c = __builtin_arm_crc32cb(c, *p++);
        length--;
    }
    return ~c;
}

static int cpu_has_crc(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#else
static uint32_t extend_hardware(uint32_t crc, const uint8_t *p, size_t length) {
    return extend_software(crc, p, length);
}
static int cpu_has_crc(void) { return 0; }
#endif

typedef uint32_t (*extend_fn)(uint32_t, const uint8_t *, size_t);

static extend_fn selected;
static int hardware;

// Runs before main, so the selection is published before any thread can call in.
__attribute__((constructor)) static void select_implementation(void) {
    build_table();
    hardware = cpu_has_crc();
    selected = hardware ? extend_hardware : extend_software;
}

uint32_t runnel_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    return selected((uint32_t)crc, (const uint8_t *)data, length);
}

int runnel_crc32c_is_hardware_accelerated(void) { return hardware; }

uint32_t runnel_crc32c_extend_software(uint32_t crc, const void *data, size_t length) {
    return extend_software(crc, (const uint8_t *)data, length);
}
