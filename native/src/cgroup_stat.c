/* cgroup files kept open and read at offset 0; strict parsers of their text.
 *
 * The grammar is the twin's (native/cgroup_stat.py): lines split on '\n',
 * fields on single spaces (two spaces make an empty field), numbers are 1 to
 * 19 ASCII digits up to INT64_MAX, and sums that would pass INT64_MAX are BAD. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appliance_native.h"

struct slot {
    int fd;     /* -1: missing (open failed) or closed */
    int in_use; /* 0: free for the next open */
    int kind;
    char key[APPL_CG_MAX_KEY + 1];
    size_t key_len;
};

struct appl_cg_set {
    struct slot *slots;
    size_t size;
    size_t capacity;
    uint8_t *buffer;
    size_t buffer_size;
};

/* A number of 1..19 digits not above INT64_MAX, or -1. */
static int64_t number(const uint8_t *p, size_t n) {
    if (n == 0 || n > 19) {
        return -1;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        value = value * 10 + (uint64_t)(p[i] - '0'); /* < 10^19 < 2^64: no wrap */
    }
    return value > (uint64_t)INT64_MAX ? -1 : (int64_t)value;
}

static int add(int64_t *sum, int64_t value) {
    if (value < 0 || *sum > INT64_MAX - value) {
        return 0;
    }
    *sum += value;
    return 1;
}

static int starts_with(const uint8_t *p, size_t n, const char *prefix, size_t prefix_len) {
    return n >= prefix_len && memcmp(p, prefix, prefix_len) == 0;
}

static int parse_integer(const uint8_t *text, size_t length, int64_t *first) {
    if (length > 0 && text[length - 1] == '\n') {
        length--;
    }
    if (length == 3 && memcmp(text, "max", 3) == 0) {
        return APPL_CG_UNLIMITED;
    }
    int64_t value = number(text, length);
    if (value < 0) {
        return APPL_CG_BAD;
    }
    *first = value;
    return APPL_CG_OK;
}

static int parse_keyed(const char *key, size_t key_len, const uint8_t *text, size_t length,
                       int64_t *first) {
    size_t start = 0;
    while (start <= length) {
        size_t end = start;
        while (end < length && text[end] != '\n') {
            end++;
        }
        const uint8_t *line = text + start;
        size_t n = end - start;
        if (n > key_len && memcmp(line, key, key_len) == 0 && line[key_len] == ' ') {
            int64_t value = number(line + key_len + 1, n - key_len - 1);
            if (value < 0) {
                return APPL_CG_BAD;
            }
            *first = value;
            return APPL_CG_OK;
        }
        start = end + 1;
    }
    return APPL_CG_BAD;
}

static int parse_io_v2(const uint8_t *text, size_t length, int64_t *first, int64_t *second) {
    int64_t read_bytes = 0;
    int64_t write_bytes = 0;
    size_t start = 0;
    while (start <= length) {
        size_t end = start;
        while (end < length && text[end] != '\n') {
            end++;
        }
        /* Fields after the first (the device) separated by single spaces. */
        size_t field = start;
        while (field < end && text[field] != ' ') {
            field++;
        }
        while (field < end) {
            size_t from = field + 1;
            size_t to = from;
            while (to < end && text[to] != ' ') {
                to++;
            }
            const uint8_t *f = text + from;
            size_t n = to - from;
            if (starts_with(f, n, "rbytes=", 7)) {
                if (!add(&read_bytes, number(f + 7, n - 7))) {
                    return APPL_CG_BAD;
                }
            } else if (starts_with(f, n, "wbytes=", 7)) {
                if (!add(&write_bytes, number(f + 7, n - 7))) {
                    return APPL_CG_BAD;
                }
            }
            field = to;
        }
        start = end + 1;
    }
    *first = read_bytes;
    *second = write_bytes;
    return APPL_CG_OK;
}

static int parse_blkio_v1(const uint8_t *text, size_t length, int64_t *first, int64_t *second) {
    int64_t read_bytes = 0;
    int64_t write_bytes = 0;
    size_t start = 0;
    while (start <= length) {
        size_t end = start;
        while (end < length && text[end] != '\n') {
            end++;
        }
        /* "MAJ:MIN Op N": exactly three fields ("Total N" has two). */
        const uint8_t *line = text + start;
        size_t n = end - start;
        const uint8_t *s1 = n > 0 ? memchr(line, ' ', n) : NULL;
        const uint8_t *s2 = s1 ? memchr(s1 + 1, ' ', (size_t)(line + n - s1 - 1)) : NULL;
        if (s2 != NULL && memchr(s2 + 1, ' ', (size_t)(line + n - s2 - 1)) == NULL) {
            const uint8_t *op = s1 + 1;
            size_t op_len = (size_t)(s2 - op);
            const uint8_t *value = s2 + 1;
            size_t value_len = (size_t)(line + n - value);
            if (op_len == 4 && memcmp(op, "Read", 4) == 0) {
                if (!add(&read_bytes, number(value, value_len))) {
                    return APPL_CG_BAD;
                }
            } else if (op_len == 5 && memcmp(op, "Write", 5) == 0) {
                if (!add(&write_bytes, number(value, value_len))) {
                    return APPL_CG_BAD;
                }
            }
        }
        start = end + 1;
    }
    *first = read_bytes;
    *second = write_bytes;
    return APPL_CG_OK;
}

static int key_ok(const char *key, size_t *key_len) {
    if (key == NULL) {
        return 0;
    }
    size_t n = 0;
    while (key[n] != '\0') {
        if (n >= APPL_CG_MAX_KEY || key[n] == ' ' || key[n] == '\n') {
            return 0;
        }
        n++;
    }
    *key_len = n;
    return n > 0;
}

int appl_cg_parse(int kind, const char *key, const uint8_t *text, size_t length, int64_t *first,
                  int64_t *second) {
    size_t key_len = 0;
    *first = 0;
    *second = 0;
    switch (kind) {
    case APPL_CG_INTEGER:
        return parse_integer(text, length, first);
    case APPL_CG_KEYED:
        if (!key_ok(key, &key_len)) {
            return APPL_CG_BAD;
        }
        return parse_keyed(key, key_len, text, length, first);
    case APPL_CG_IO_V2:
        return parse_io_v2(text, length, first, second);
    case APPL_CG_BLKIO_V1:
        return parse_blkio_v1(text, length, first, second);
    default:
        return APPL_CG_BAD;
    }
}

appl_cg_set *appl_cg_set_new(void) {
    appl_cg_set *set = calloc(1, sizeof *set);
    if (set == NULL) {
        return NULL;
    }
    set->buffer_size = 4096;
    set->buffer = malloc(set->buffer_size);
    if (set->buffer == NULL) {
        free(set);
        return NULL;
    }
    return set;
}

void appl_cg_set_free(appl_cg_set *set) {
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->size; i++) {
        if (set->slots[i].fd >= 0) {
            close(set->slots[i].fd);
        }
    }
    free(set->slots);
    free(set->buffer);
    free(set);
}

/* Make room for `count` more slots; the free ones are reused first. */
static int reserve(appl_cg_set *set, size_t count) {
    size_t free_slots = 0;
    for (size_t i = 0; i < set->size; i++) {
        free_slots += !set->slots[i].in_use;
    }
    size_t needed = set->size + (count > free_slots ? count - free_slots : 0);
    if (needed <= set->capacity) {
        return 1;
    }
    size_t capacity = set->capacity ? set->capacity : 64;
    while (capacity < needed) {
        capacity *= 2;
    }
    struct slot *slots = realloc(set->slots, capacity * sizeof *slots);
    if (slots == NULL) {
        return 0;
    }
    set->slots = slots;
    set->capacity = capacity;
    return 1;
}

int appl_cg_set_open(appl_cg_set *set, const char *const *paths, const int *kinds,
                     const char *const *keys, size_t count, int32_t *slots) {
    for (size_t i = 0; i < count; i++) {
        size_t key_len = 0;
        if (kinds[i] < APPL_CG_INTEGER || kinds[i] > APPL_CG_BLKIO_V1 || paths[i] == NULL ||
            (kinds[i] == APPL_CG_KEYED && !key_ok(keys[i], &key_len))) {
            return APPL_CG_BAD;
        }
    }
    if (!reserve(set, count)) {
        return -1;
    }
    size_t next_free = 0;
    for (size_t i = 0; i < count; i++) {
        while (next_free < set->size && set->slots[next_free].in_use) {
            next_free++;
        }
        if (next_free == set->size) {
            set->size++; /* room was reserved above */
        }
        struct slot *s = &set->slots[next_free];
        s->in_use = 1;
        s->kind = kinds[i];
        s->key_len = 0;
        s->key[0] = '\0';
        if (kinds[i] == APPL_CG_KEYED) {
            key_ok(keys[i], &s->key_len);
            memcpy(s->key, keys[i], s->key_len + 1);
        }
        do {
            s->fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        } while (s->fd < 0 && errno == EINTR);
        slots[i] = (int32_t)next_free;
    }
    return 0;
}

void appl_cg_set_close(appl_cg_set *set, const int32_t *slots, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (slots[i] < 0 || (size_t)slots[i] >= set->size) {
            continue;
        }
        struct slot *s = &set->slots[slots[i]];
        if (s->fd >= 0) {
            close(s->fd);
        }
        s->fd = -1;
        s->in_use = 0;
    }
}

size_t appl_cg_set_size(const appl_cg_set *set) { return set->size; }

/* The whole file at offset 0 into the set's buffer: its length, or -1 (errno set). */
static ssize_t read_whole(appl_cg_set *set, int fd) {
    size_t length = 0;
    for (;;) {
        if (length == set->buffer_size) {
            if (set->buffer_size >= APPL_CG_MAX_FILE) {
                errno = EFBIG;
                return -1;
            }
            uint8_t *bigger = realloc(set->buffer, set->buffer_size * 2);
            if (bigger == NULL) {
                errno = ENOMEM;
                return -1;
            }
            set->buffer = bigger;
            set->buffer_size *= 2;
        }
        ssize_t got = pread(fd, set->buffer + length, set->buffer_size - length, (off_t)length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return -1;
        }
        size_t wanted = set->buffer_size - length;
        length += (size_t)got;
        if ((size_t)got < wanted) {
            return (ssize_t)length; /* a short read is the end (seq_file fills what it can) */
        }
    }
}

size_t appl_cg_scan(appl_cg_set *set, int32_t *status, int64_t *values, size_t capacity) {
    size_t count = set->size < capacity ? set->size : capacity;
    for (size_t i = 0; i < count; i++) {
        const struct slot *s = &set->slots[i];
        values[2 * i] = 0;
        values[2 * i + 1] = 0;
        if (!s->in_use || s->fd < 0) {
            status[i] = APPL_CG_MISSING;
            continue;
        }
        ssize_t length = read_whole(set, s->fd);
        if (length < 0) {
            status[i] = (errno == ENODEV || errno == ENOENT || errno == ESTALE) ? APPL_CG_GONE
                                                                                : APPL_CG_BAD;
            continue;
        }
        status[i] = appl_cg_parse(s->kind, s->key, set->buffer, (size_t)length, &values[2 * i],
                                  &values[2 * i + 1]);
    }
    return count;
}
