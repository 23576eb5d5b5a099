/* The DNS answer cache and the per-query rewrite (no sockets here: dns_serve.c).
 *
 * Every multi-byte field is read and written a byte at a time, so nothing
 * depends on alignment (ARMv7) or on the host's byte order. */
#include <stdlib.h>
#include <string.h>

#include "appliance_native.h"

#define HEADER_LEN 12u
#define TYPE_OPT 41u
#define OPT_LEN 11u
#define PLAIN_UDP_LIMIT 512u
#define MAX_NAME 255u
#define FIRST_BUCKETS 1024u

struct entry {
    struct entry *next;
    uint64_t hash;
    double stored_at;
    double expires_at;
    uint32_t packed_len;
    uint32_t question_end;
    uint32_t ttl_count;
    uint16_t qtype;
    uint16_t qclass;
    uint8_t kind;
    uint8_t dnssec_ok;
    uint8_t name_len;
    uint8_t name[MAX_NAME];
    uint32_t *ttl_offsets; /* ttl_count offsets, then ttl_count TTLs as stored */
    uint8_t *packed;
};

struct appl_dns_cache {
    struct entry **buckets;
    size_t bucket_count; /* a power of two */
    size_t counts[2];
    uint64_t seed;
};

/* The facts of a query the fast path may answer (see parse_query). */
struct query {
    size_t question_end;
    uint16_t qtype;
    uint16_t qclass;
    int edns;
    int dnssec_ok;
    uint16_t edns_payload;
    uint8_t name_len;
    uint8_t lower[MAX_NAME];
};

static uint16_t load16(const uint8_t *p) { return (uint16_t)(((unsigned)p[0] << 8) | p[1]); }

static uint32_t load32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void store16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void store32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* FNV-1a over the key, started from a per-cache random seed so that names a
 * client makes us cache cannot be chosen to pile into one bucket. */
static uint64_t key_hash(uint64_t seed, int kind, const uint8_t *name, size_t name_len,
                         uint16_t qtype, uint16_t qclass, int dnssec_ok) {
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    const uint8_t head[6] = {(uint8_t)kind, (uint8_t)(dnssec_ok != 0), (uint8_t)(qtype >> 8),
                             (uint8_t)qtype, (uint8_t)(qclass >> 8), (uint8_t)qclass};
    for (size_t i = 0; i < sizeof head; i++) {
        h = (h ^ head[i]) * 0x100000001b3ull;
    }
    for (size_t i = 0; i < name_len; i++) {
        h = (h ^ name[i]) * 0x100000001b3ull;
    }
    return h;
}

appl_dns_cache *appl_dns_cache_new(uint64_t seed) {
    appl_dns_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL) {
        return NULL;
    }
    cache->buckets = calloc(FIRST_BUCKETS, sizeof *cache->buckets);
    if (cache->buckets == NULL) {
        free(cache);
        return NULL;
    }
    cache->bucket_count = FIRST_BUCKETS;
    cache->seed = seed;
    return cache;
}

void appl_dns_cache_free(appl_dns_cache *cache) {
    if (cache == NULL) {
        return;
    }
    appl_dns_cache_clear(cache, APPL_DNS_ZONE);
    appl_dns_cache_clear(cache, APPL_DNS_FORWARDED);
    free(cache->buckets);
    free(cache);
}

static struct entry **find_slot(const appl_dns_cache *cache, uint64_t hash, int kind,
                                const uint8_t *name, size_t name_len, uint16_t qtype,
                                uint16_t qclass, int dnssec_ok) {
    struct entry **slot = &cache->buckets[hash & (cache->bucket_count - 1)];
    for (; *slot != NULL; slot = &(*slot)->next) {
        const struct entry *e = *slot;
        if (e->hash == hash && e->kind == kind && e->dnssec_ok == (dnssec_ok != 0) &&
            e->qtype == qtype && e->qclass == qclass && e->name_len == name_len &&
            memcmp(e->name, name, name_len) == 0) {
            return slot;
        }
    }
    return slot;
}

static void grow(appl_dns_cache *cache) {
    size_t count = cache->bucket_count * 2;
    struct entry **buckets = calloc(count, sizeof *buckets);
    if (buckets == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < cache->bucket_count; i++) {
        struct entry *e = cache->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            struct entry **head = &buckets[e->hash & (count - 1)];
            e->next = *head;
            *head = e;
            e = next;
        }
    }
    free(cache->buckets);
    cache->buckets = buckets;
    cache->bucket_count = count;
}

/* Whether `name` is a plain wire name of exactly `name_len` bytes. */
static int plain_name(const uint8_t *name, size_t name_len) {
    size_t off = 0;
    while (off < name_len) {
        uint8_t len = name[off];
        if (len == 0) {
            return off + 1 == name_len;
        }
        if (len & 0xC0) {
            return 0;
        }
        off += (size_t)len + 1;
    }
    return 0;
}

int appl_dns_cache_put(appl_dns_cache *cache, int kind, const uint8_t *qname, size_t qname_len,
                       uint16_t qtype, uint16_t qclass, int dnssec_ok, const uint8_t *packed,
                       size_t packed_len, const uint32_t *ttl_offsets, size_t ttl_count,
                       double stored_at, double expires_at) {
    if ((kind != APPL_DNS_ZONE && kind != APPL_DNS_FORWARDED) || qname_len == 0 ||
        qname_len > MAX_NAME || !plain_name(qname, qname_len) || packed_len > APPL_DNS_SLOT) {
        return APPL_DNS_EINVAL;
    }
    for (size_t i = 0; i < qname_len; i++) {
        if (qname[i] != ascii_lower(qname[i])) {
            return APPL_DNS_EINVAL; /* keys are lower case */
        }
    }
    size_t question_end = HEADER_LEN + qname_len + 4;
    if (packed_len < question_end || load16(packed + 4) != 1 ||
        memcmp(packed + HEADER_LEN, qname, qname_len) != 0 ||
        load16(packed + HEADER_LEN + qname_len) != qtype ||
        load16(packed + HEADER_LEN + qname_len + 2) != qclass) {
        return APPL_DNS_EINVAL; /* the reply must carry exactly this question */
    }
    if (ttl_count > packed_len / 4) {
        return APPL_DNS_EINVAL;
    }
    for (size_t i = 0; i < ttl_count; i++) {
        if (ttl_offsets[i] < question_end || (size_t)ttl_offsets[i] + 4 > packed_len) {
            return APPL_DNS_EINVAL;
        }
    }
    if (kind == APPL_DNS_ZONE) {
        dnssec_ok = 0;
    }
    struct entry *e = malloc(sizeof *e + 2 * ttl_count * sizeof(uint32_t) + packed_len);
    if (e == NULL) {
        return APPL_DNS_ENOMEM;
    }
    e->hash = key_hash(cache->seed, kind, qname, qname_len, qtype, qclass, dnssec_ok);
    e->stored_at = stored_at;
    e->expires_at = expires_at;
    e->packed_len = (uint32_t)packed_len;
    e->question_end = (uint32_t)question_end;
    e->ttl_count = (uint32_t)ttl_count;
    e->qtype = qtype;
    e->qclass = qclass;
    e->kind = (uint8_t)kind;
    e->dnssec_ok = (uint8_t)(dnssec_ok != 0);
    e->name_len = (uint8_t)qname_len;
    memcpy(e->name, qname, qname_len);
    e->ttl_offsets = (uint32_t *)(void *)(e + 1);
    e->packed = (uint8_t *)(e->ttl_offsets + 2 * ttl_count);
    memcpy(e->packed, packed, packed_len);
    for (size_t i = 0; i < ttl_count; i++) {
        e->ttl_offsets[i] = ttl_offsets[i];
        e->ttl_offsets[ttl_count + i] = load32(packed + ttl_offsets[i]);
    }
    struct entry **slot =
        find_slot(cache, e->hash, kind, qname, qname_len, qtype, qclass, dnssec_ok);
    if (*slot != NULL) {
        struct entry *old = *slot;
        e->next = old->next;
        *slot = e;
        free(old);
        return APPL_DNS_OK;
    }
    e->next = NULL;
    *slot = e;
    cache->counts[kind]++;
    if (cache->counts[APPL_DNS_ZONE] + cache->counts[APPL_DNS_FORWARDED] > cache->bucket_count) {
        grow(cache);
    }
    return APPL_DNS_OK;
}

int appl_dns_cache_remove(appl_dns_cache *cache, int kind, const uint8_t *qname, size_t qname_len,
                          uint16_t qtype, uint16_t qclass, int dnssec_ok) {
    if ((kind != APPL_DNS_ZONE && kind != APPL_DNS_FORWARDED) || qname_len > MAX_NAME) {
        return APPL_DNS_EINVAL;
    }
    if (kind == APPL_DNS_ZONE) {
        dnssec_ok = 0;
    }
    uint64_t hash = key_hash(cache->seed, kind, qname, qname_len, qtype, qclass, dnssec_ok);
    struct entry **slot = find_slot(cache, hash, kind, qname, qname_len, qtype, qclass, dnssec_ok);
    if (*slot == NULL) {
        return APPL_DNS_ENOENT;
    }
    struct entry *gone = *slot;
    *slot = gone->next;
    free(gone);
    cache->counts[kind]--;
    return APPL_DNS_OK;
}

void appl_dns_cache_clear(appl_dns_cache *cache, int kind) {
    if (kind != APPL_DNS_ZONE && kind != APPL_DNS_FORWARDED) {
        return;
    }
    for (size_t i = 0; i < cache->bucket_count; i++) {
        struct entry **slot = &cache->buckets[i];
        while (*slot != NULL) {
            if ((*slot)->kind == kind) {
                struct entry *gone = *slot;
                *slot = gone->next;
                free(gone);
            } else {
                slot = &(*slot)->next;
            }
        }
    }
    cache->counts[kind] = 0;
}

size_t appl_dns_cache_count(const appl_dns_cache *cache, int kind) {
    if (kind != APPL_DNS_ZONE && kind != APPL_DNS_FORWARDED) {
        return 0;
    }
    return cache->counts[kind];
}

/* Whether the fast path may answer `d`: a QUERY with one plain question, no
 * answer or authority records, and either nothing after the question or one
 * OPT record (root owner, EDNS version 0) ending the message. Anything else
 * (netd/dns/wire.py decides what it is) goes to Python. */
static int parse_query(const uint8_t *d, size_t n, struct query *q) {
    if (n < HEADER_LEN) {
        return 0;
    }
    uint16_t flags = load16(d + 2);
    if ((flags & 0x8000u) || ((flags >> 11) & 0xFu) != 0) {
        return 0; /* a response, or an opcode other than QUERY */
    }
    if (load16(d + 4) != 1 || load16(d + 6) != 0 || load16(d + 8) != 0) {
        return 0;
    }
    uint16_t arcount = load16(d + 10);
    if (arcount > 1) {
        return 0;
    }
    size_t off = HEADER_LEN;
    unsigned total = 0;
    for (;;) {
        if (off >= n) {
            return 0;
        }
        uint8_t len = d[off];
        if (len == 0) {
            break;
        }
        if (len & 0xC0) {
            return 0; /* compression pointer or unknown label type */
        }
        total += len + 1u;
        if (total > 254) {
            return 0;
        }
        off += (size_t)len + 1;
    }
    size_t name_end = off + 1;
    if (name_end + 4 > n) {
        return 0;
    }
    q->name_len = (uint8_t)(name_end - HEADER_LEN);
    for (size_t i = 0; i < q->name_len; i++) {
        q->lower[i] = ascii_lower(d[HEADER_LEN + i]);
    }
    q->qtype = load16(d + name_end);
    q->qclass = load16(d + name_end + 2);
    q->question_end = name_end + 4;
    if (q->qtype == 251 || q->qtype == 252) {
        return 0; /* IXFR, AXFR: NOTIMP from Python */
    }
    q->edns = 0;
    q->dnssec_ok = 0;
    q->edns_payload = 0;
    if (arcount == 0) {
        return q->question_end == n;
    }
    off = q->question_end;
    if (off + OPT_LEN > n || d[off] != 0 || load16(d + off + 1) != TYPE_OPT) {
        return 0;
    }
    uint32_t ttl = load32(d + off + 5);
    if (((ttl >> 16) & 0xFFu) != 0) {
        return 0; /* EDNS version other than 0: BADVERS from Python */
    }
    if (off + OPT_LEN + load16(d + off + 9) != n) {
        return 0;
    }
    q->edns = 1;
    q->edns_payload = load16(d + off + 3);
    q->dnssec_ok = (ttl & 0x8000u) != 0;
    return 1;
}

static const struct entry *lookup(const appl_dns_cache *cache, int kind, const struct query *q) {
    int dnssec_ok = kind == APPL_DNS_ZONE ? 0 : q->dnssec_ok;
    uint64_t hash = key_hash(cache->seed, kind, q->lower, q->name_len, q->qtype, q->qclass,
                             dnssec_ok);
    return *find_slot(cache, hash, kind, q->lower, q->name_len, q->qtype, q->qclass, dnssec_ok);
}

static size_t render(const struct entry *e, const uint8_t *query, const struct query *q,
                     double now, uint16_t our_payload, uint8_t *out, size_t out_cap) {
    size_t length = e->packed_len + (q->edns ? OPT_LEN : 0);
    size_t client = q->edns && q->edns_payload > PLAIN_UDP_LIMIT ? q->edns_payload
                                                                 : PLAIN_UDP_LIMIT;
    size_t ours = our_payload > PLAIN_UDP_LIMIT ? our_payload : PLAIN_UDP_LIMIT;
    size_t limit = client < ours ? client : ours;
    if (length > limit || length > out_cap || q->question_end != e->question_end) {
        return 0; /* truncation (TC) is Python's */
    }
    memcpy(out, e->packed, e->packed_len);
    out[0] = query[0]; /* ID */
    out[1] = query[1];
    out[2] |= query[2] & 0x01; /* RD */
    out[3] |= query[3] & 0x10; /* CD */
    memcpy(out + HEADER_LEN, query + HEADER_LEN, e->question_end - HEADER_LEN); /* as asked */
    double age = now - e->stored_at;
    if (age >= 1.0) { /* whole seconds spent in the cache, as Python's int(now - stored_at) */
        uint64_t elapsed = age >= 4294967296.0 ? 4294967296ull : (uint64_t)age;
        const uint32_t *ttls = e->ttl_offsets + e->ttl_count;
        for (uint32_t i = 0; i < e->ttl_count; i++) {
            uint32_t ttl = ttls[i];
            store32(out + e->ttl_offsets[i], ttl > elapsed ? (uint32_t)(ttl - elapsed) : 0);
        }
    }
    if (q->edns) {
        store16(out + 10, (uint16_t)(load16(out + 10) + 1));
        uint8_t *opt = out + e->packed_len;
        opt[0] = 0;
        store16(opt + 1, TYPE_OPT);
        store16(opt + 3, our_payload);
        store32(opt + 5, q->dnssec_ok ? 0x8000u : 0);
        store16(opt + 9, 0);
    }
    return length;
}

size_t appl_dns_answer(const appl_dns_cache *cache, const uint8_t *query, size_t query_len,
                       double now, uint16_t our_payload, uint8_t *out, size_t out_cap,
                       int *kind_out) {
    struct query q;
    if (!parse_query(query, query_len, &q)) {
        return 0;
    }
    int kind = APPL_DNS_ZONE;
    const struct entry *e = lookup(cache, APPL_DNS_ZONE, &q);
    if (e == NULL) {
        kind = APPL_DNS_FORWARDED;
        e = lookup(cache, APPL_DNS_FORWARDED, &q);
    }
    if (e == NULL || !(now < e->expires_at)) {
        return 0; /* expired entries are Python's to drop and fetch again */
    }
    size_t length = render(e, query, &q, now, our_payload, out, out_cap);
    if (length > 0 && kind_out != NULL) {
        *kind_out = kind;
    }
    return length;
}
