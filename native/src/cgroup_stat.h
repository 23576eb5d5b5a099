/* cgroup accounting: a set of cgroup files kept open and read at offset 0.
 *
 * cAdvisor opens every file on every scan; here each file is opened once and
 * each scan is one pread per file plus a small parser, all in one call for
 * the whole set. Works for cgroup v1 and v2 alike: the caller says which file
 * holds what (native/cgroup_stat.py). Twin: native/cgroup_stat.py. */
#ifndef APPL_CGROUP_STAT_H
#define APPL_CGROUP_STAT_H

#include <stddef.h>
#include <stdint.h>

enum {
    APPL_CG_INTEGER = 0,   /* "123\n" or "max\n" (memory.current, memory.max, pids.current...) */
    APPL_CG_KEYED = 1,     /* the line "<key> <n>" (cpu.stat's usage_usec) */
    APPL_CG_IO_V2 = 2,     /* io.stat: sums of rbytes= and wbytes= over devices */
    APPL_CG_BLKIO_V1 = 3,  /* blkio.throttle.io_service_bytes: sums of Read and Write lines */
};

enum {
    APPL_CG_OK = 0,
    APPL_CG_UNLIMITED = 1, /* the file says "max" */
    APPL_CG_MISSING = 2,   /* the file could not be opened, or its slot is closed */
    APPL_CG_GONE = 3,      /* the cgroup was removed since the file was opened */
    APPL_CG_BAD = 4,       /* unreadable or not in the expected format */
};

enum {
    APPL_CG_MAX_KEY = 64,
    APPL_CG_MAX_FILE = 1 << 20, /* larger files are BAD: no cgroup file is near this */
};

/* Parse one file's text (pure): the status, and the value(s) in first/second. */
int appl_cg_parse(int kind, const char *key, const uint8_t *text, size_t length, int64_t *first,
                  int64_t *second);

typedef struct appl_cg_set appl_cg_set;

appl_cg_set *appl_cg_set_new(void);
void appl_cg_set_free(appl_cg_set *set);

/* Open `count` files, each read as kinds[i] (keys[i] for KEYED, else NULL),
 * into free slots; their slot numbers go to slots[i]. A file that cannot be
 * opened still gets a slot, which scans as MISSING. Returns 0, or
 * APPL_CG_BAD for a bad kind or key and -1 when out of memory (nothing opened). */
int appl_cg_set_open(appl_cg_set *set, const char *const *paths, const int *kinds,
                     const char *const *keys, size_t count, int32_t *slots);
/* Close slots (they scan as MISSING and are reused by later opens). */
void appl_cg_set_close(appl_cg_set *set, const int32_t *slots, size_t count);
/* Slots in use or free: what appl_cg_scan fills. */
size_t appl_cg_set_size(const appl_cg_set *set);

/* Read and parse every slot: status[i], values[2 i], values[2 i + 1] for
 * i < capacity (which must be >= appl_cg_set_size). Returns the slots read. */
size_t appl_cg_scan(appl_cg_set *set, int32_t *status, int64_t *values, size_t capacity);

#endif
