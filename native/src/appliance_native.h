/* Public C interface of the appliance's native extension. Every symbol is
 * prefixed appl_. Each function has a pure-Python twin in native/. */
#ifndef APPLIANCE_NATIVE_H
#define APPLIANCE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

/* The version compiled in: "<api>:<digest of the sources>", set by the build
 * (native/build_native.py) and compared by native/_loader.py at import. */
const char *appl_native_version(void);

/* RFC 1071 Internet checksum of `length` bytes, returned in host order of the
 * big-endian 16-bit words (i.e. the value to store with htons). */
uint16_t appl_inet_checksum(const uint8_t *data, size_t length);

/* RFC 1624 eqn. 3 incremental update: HC' = ~(~HC + ~m + m'). */
uint16_t appl_checksum_adjust(uint16_t old_checksum, uint16_t old_word, uint16_t new_word);

#include "dns_answer.h"
#include "cgroup_stat.h"

#endif
