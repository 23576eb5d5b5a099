"""cffi build script (API mode, out-of-line) for the native extension `native._native`.

Run by the package build through `cffi_modules` in setup.py. Every exported
C symbol carries the `appl_` prefix; constants are `...` so the compiler
fills them in from the headers. The version string (native/_version.py) is
compiled in and checked when the extension is imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
SOURCES = sorted(str(p.relative_to(HERE.parent)) for p in (HERE / "src").glob("*.c"))

CDEF = """
const char *appl_native_version(void);

uint16_t appl_inet_checksum(const uint8_t *data, size_t length);
uint16_t appl_checksum_adjust(uint16_t old_checksum, uint16_t old_word, uint16_t new_word);

#define APPL_DNS_ZONE ...
#define APPL_DNS_FORWARDED ...
#define APPL_DNS_BATCH ...
#define APPL_DNS_SLOT ...
#define APPL_DNS_MAX_NETS ...
#define APPL_DNS_ROUNDS ...
#define APPL_DNS_OK ...
#define APPL_DNS_EINVAL ...
#define APPL_DNS_ENOMEM ...
#define APPL_DNS_ENOENT ...
typedef struct appl_dns_cache appl_dns_cache;
appl_dns_cache *appl_dns_cache_new(uint64_t seed);
void appl_dns_cache_free(appl_dns_cache *cache);
int appl_dns_cache_put(appl_dns_cache *cache, int kind, const uint8_t *qname, size_t qname_len,
                       uint16_t qtype, uint16_t qclass, int dnssec_ok, const uint8_t *packed,
                       size_t packed_len, const uint32_t *ttl_offsets, size_t ttl_count,
                       double stored_at, double expires_at);
int appl_dns_cache_remove(appl_dns_cache *cache, int kind, const uint8_t *qname, size_t qname_len,
                          uint16_t qtype, uint16_t qclass, int dnssec_ok);
void appl_dns_cache_clear(appl_dns_cache *cache, int kind);
size_t appl_dns_cache_count(const appl_dns_cache *cache, int kind);
size_t appl_dns_answer(const appl_dns_cache *cache, const uint8_t *query, size_t query_len,
                       double now, uint16_t our_payload, uint8_t *out, size_t out_cap,
                       int *kind_out);
typedef struct {
    uint32_t received;
    uint32_t drained;
    uint32_t answered_zone;
    uint32_t answered_forwarded;
    uint32_t refused;
    uint32_t send_errors;
    uint32_t misses;
    int32_t receive_error;
    uint32_t miss_length[...];
    uint32_t miss_address[...];
    uint16_t miss_port[...];
    const uint8_t *miss_data[...];
    ...;
} appl_dns_batch;
typedef struct appl_dns_server appl_dns_server;
appl_dns_server *appl_dns_server_new(uint16_t our_payload);
void appl_dns_server_free(appl_dns_server *server);
int appl_dns_server_allow(appl_dns_server *server, const uint32_t *networks,
                          const uint32_t *masks, size_t count);
int appl_dns_serve(appl_dns_server *server, const appl_dns_cache *cache, int fd, double now,
                   appl_dns_batch *batch);

#define APPL_CG_INTEGER ...
#define APPL_CG_KEYED ...
#define APPL_CG_IO_V2 ...
#define APPL_CG_BLKIO_V1 ...
#define APPL_CG_OK ...
#define APPL_CG_UNLIMITED ...
#define APPL_CG_MISSING ...
#define APPL_CG_GONE ...
#define APPL_CG_BAD ...
#define APPL_CG_MAX_KEY ...
int appl_cg_parse(int kind, const char *key, const uint8_t *text, size_t length, int64_t *first,
                  int64_t *second);
typedef struct appl_cg_set appl_cg_set;
appl_cg_set *appl_cg_set_new(void);
void appl_cg_set_free(appl_cg_set *set);
int appl_cg_set_open(appl_cg_set *set, const char *const *paths, const int *kinds,
                     const char *const *keys, size_t count, int32_t *slots);
void appl_cg_set_close(appl_cg_set *set, const int32_t *slots, size_t count);
size_t appl_cg_set_size(const appl_cg_set *set);
size_t appl_cg_scan(appl_cg_set *set, int32_t *status, int64_t *values, size_t capacity);
"""


def _expected_version() -> str:
    # Loaded by path: this script runs inside the build backend, where `native` may not import.
    spec = importlib.util.spec_from_file_location("_native_version", HERE / "_version.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    version = module.expected_version(HERE)
    assert version is not None, f"no C sources in {HERE / 'src'}"
    return str(version)


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "native._native",
    '#include "appliance_native.h"',
    sources=SOURCES,
    include_dirs=[str((HERE / "src").relative_to(HERE.parent))],
    define_macros=[("APPL_NATIVE_VERSION", f'"{_expected_version()}"')],
    extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
