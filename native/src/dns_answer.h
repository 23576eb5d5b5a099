/* DNS answers rewritten from a wire cache, and the batched UDP loop around it.
 *
 * The cache holds replies that Python packed once (netd/dns/template.py):
 * ID 0, RD/CD clear, the question in lower case, no OPT record. It mirrors
 * Python's own tables (zone templates and forwarded answers): Python puts and
 * removes entries; C only reads them. A query is answered here only when it
 * is plainly well formed and its answer is cached and fresh; everything else
 * (malformed, other opcodes, truncation, misses, expired entries) is handed
 * back to Python, which stays the reference. Twin: native/dns_answer.py. */
#ifndef APPL_DNS_ANSWER_H
#define APPL_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

enum {
    APPL_DNS_ZONE = 0,      /* our authoritative answers: looked up first, DO bit ignored */
    APPL_DNS_FORWARDED = 1, /* cached upstream answers, keyed with the DO bit */
};

enum {
    APPL_DNS_BATCH = 64,    /* datagrams per recvmmsg/sendmmsg */
    APPL_DNS_SLOT = 65535,  /* receive buffer per datagram: what recvfrom(65535) reads */
    APPL_DNS_MAX_NETS = 16, /* allowed source networks besides loopback */
    APPL_DNS_ROUNDS = 8,    /* recvmmsg calls one appl_dns_serve makes at most */
};

enum {
    APPL_DNS_OK = 0,
    APPL_DNS_EINVAL = -1, /* the entry does not fit its key or its own bytes */
    APPL_DNS_ENOMEM = -2,
    APPL_DNS_ENOENT = -3,
};

typedef struct appl_dns_cache appl_dns_cache;

/* `seed` (random) keys the hash, so clients cannot choose names that share a bucket. */
appl_dns_cache *appl_dns_cache_new(uint64_t seed);
void appl_dns_cache_free(appl_dns_cache *cache);

/* Store (or replace) the packed reply for a lower-case question. `packed`
 * must hold one question equal to (qname, qtype, qclass); `ttl_offsets` point
 * at TTL fields past the question that age with time (none for the zone). */
int appl_dns_cache_put(appl_dns_cache *cache, int kind, const uint8_t *qname, size_t qname_len,
                       uint16_t qtype, uint16_t qclass, int dnssec_ok, const uint8_t *packed,
                       size_t packed_len, const uint32_t *ttl_offsets, size_t ttl_count,
                       double stored_at, double expires_at);
int appl_dns_cache_remove(appl_dns_cache *cache, int kind, const uint8_t *qname, size_t qname_len,
                          uint16_t qtype, uint16_t qclass, int dnssec_ok);
void appl_dns_cache_clear(appl_dns_cache *cache, int kind);
size_t appl_dns_cache_count(const appl_dns_cache *cache, int kind);

/* The reply to `query` written to `out` and its length, or 0 when Python must
 * answer. `*kind_out` says which table answered. Never reads outside
 * query[0..query_len) nor writes outside out[0..out_cap). */
size_t appl_dns_answer(const appl_dns_cache *cache, const uint8_t *query, size_t query_len,
                       double now, uint16_t our_payload, uint8_t *out, size_t out_cap,
                       int *kind_out);

/* What one appl_dns_serve call did; the misses point into the server's
 * receive buffers and stay valid until the next call. */
typedef struct {
    uint32_t received;           /* datagrams read (over every round) */
    uint32_t drained;            /* 1 when the socket had no more datagrams waiting */
    uint32_t answered_zone;      /* answered from the zone table */
    uint32_t answered_forwarded; /* answered from the forwarded table */
    uint32_t refused;            /* from sources neither loopback nor allowed: dropped */
    uint32_t send_errors;        /* replies the kernel would not take */
    uint32_t misses;             /* datagrams handed to Python, below */
    int32_t receive_error;       /* errno of a failed receive other than EAGAIN, else 0 */
    uint32_t miss_length[APPL_DNS_BATCH];
    uint32_t miss_address[APPL_DNS_BATCH]; /* IPv4 source address, host order */
    uint16_t miss_port[APPL_DNS_BATCH];
    const uint8_t *miss_data[APPL_DNS_BATCH];
} appl_dns_batch;

typedef struct appl_dns_server appl_dns_server;

appl_dns_server *appl_dns_server_new(uint16_t our_payload);
void appl_dns_server_free(appl_dns_server *server);
/* Sources answered besides 127.0.0.0/8: networks and masks in host order. */
int appl_dns_server_allow(appl_dns_server *server, const uint32_t *networks,
                          const uint32_t *masks, size_t count);
/* Rounds of: one recvmmsg on the non-blocking IPv4 UDP socket `fd`, the hits
 * answered with one sendmmsg (more only after a send error). Rounds go on
 * while every datagram was answered and a full batch came in, up to
 * APPL_DNS_ROUNDS; the misses of the last round are left in `batch`.
 * Returns the number of datagrams received (0 when none were waiting). */
int appl_dns_serve(appl_dns_server *server, const appl_dns_cache *cache, int fd, double now,
                   appl_dns_batch *batch);

#endif
