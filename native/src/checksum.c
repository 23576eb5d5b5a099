/* Internet checksum (RFC 1071) and its incremental update (RFC 1624). */
#include "appliance_native.h"

static uint16_t fold(uint32_t sum) {
    while (sum >> 16) {
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    return (uint16_t)sum;
}

uint16_t appl_inet_checksum(const uint8_t *data, size_t length) {
    uint32_t sum = 0;
    size_t i = 0;
    for (; i + 1 < length; i += 2) {
        sum += (uint32_t)((data[i] << 8) | data[i + 1]);
        if (sum & 0x80000000u) { /* keep headroom on very long inputs */
            sum = (sum & 0xffffu) + (sum >> 16);
        }
    }
    if (i < length) {
        sum += (uint32_t)(data[i] << 8); /* odd byte padded with zero */
    }
    return (uint16_t)~fold(sum);
}

uint16_t appl_checksum_adjust(uint16_t old_checksum, uint16_t old_word, uint16_t new_word) {
    /* RFC 1624 eqn. 3 avoids the -0 ambiguity of eqn. 2. */
    uint32_t sum = (uint16_t)~old_checksum;
    sum += (uint16_t)~old_word;
    sum += new_word;
    return (uint16_t)~fold(sum);
}
