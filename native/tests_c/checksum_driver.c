/* Test driver for the native C code on other architectures (run under qemu-user).
 *
 * Reads records from stdin: a 2-byte big-endian length, then that many bytes.
 * For each record prints "<inet_checksum> <adjust(checksum, first word, ~first word)>"
 * in decimal, one line per record. The Python tests compare these lines with
 * the pure-Python twins, so the C code is checked on the target's endianness,
 * alignment and integer widths. */
#include <stdio.h>
#include <stdlib.h>

#include "appliance_native.h"

int main(void) {
    unsigned char header[2];
    static unsigned char buffer[65536];
    while (fread(header, 1, 2, stdin) == 2) {
        size_t length = ((size_t)header[0] << 8) | header[1];
        if (fread(buffer, 1, length, stdin) != length) {
            fprintf(stderr, "short record\n");
            return 2;
        }
        uint16_t sum = appl_inet_checksum(buffer, length);
        uint16_t first = length >= 2 ? (uint16_t)((buffer[0] << 8) | buffer[1]) : 0;
        uint16_t adjusted = appl_checksum_adjust(sum, first, (uint16_t)~first);
        printf("%u %u\n", (unsigned)sum, (unsigned)adjusted);
    }
    return 0;
}
