/* The batched UDP loop of the DNS fast path: recvmmsg, answer the hits from
 * the cache, sendmmsg them; the rest is handed back to Python.
 *
 * cffi calls this with the GIL released; the cache is only ever touched by
 * the thread running the event loop (Python puts, C reads), so it needs no
 * lock. The socket is non-blocking, so a call never waits. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "appliance_native.h"

struct appl_dns_server {
    uint16_t our_payload;
    size_t net_count;
    uint32_t networks[APPL_DNS_MAX_NETS];
    uint32_t masks[APPL_DNS_MAX_NETS];
    uint8_t *receive;         /* APPL_DNS_BATCH slots of APPL_DNS_SLOT bytes */
    uint8_t *reply;           /* APPL_DNS_BATCH slots of reply_size bytes */
    size_t reply_size;
    struct mmsghdr in[APPL_DNS_BATCH];
    struct iovec in_iov[APPL_DNS_BATCH];
    struct sockaddr_in in_addr[APPL_DNS_BATCH];
    struct mmsghdr out[APPL_DNS_BATCH];
    struct iovec out_iov[APPL_DNS_BATCH];
};

appl_dns_server *appl_dns_server_new(uint16_t our_payload) {
    appl_dns_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->our_payload = our_payload;
    /* A reply is never longer than what we advertise (or 512): longer ones are Python's. */
    s->reply_size = our_payload > 512 ? our_payload : 512;
    /* 4 MiB of address space, but calloc maps it lazily: only the pages that
     * datagrams touch become resident (about one page per slot). */
    s->receive = calloc(APPL_DNS_BATCH, APPL_DNS_SLOT);
    s->reply = calloc(APPL_DNS_BATCH, s->reply_size);
    if (s->receive == NULL || s->reply == NULL) {
        appl_dns_server_free(s);
        return NULL;
    }
    return s;
}

void appl_dns_server_free(appl_dns_server *server) {
    if (server == NULL) {
        return;
    }
    free(server->receive);
    free(server->reply);
    free(server);
}

int appl_dns_server_allow(appl_dns_server *server, const uint32_t *networks,
                          const uint32_t *masks, size_t count) {
    if (count > APPL_DNS_MAX_NETS) {
        return APPL_DNS_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        server->networks[i] = networks[i] & masks[i];
        server->masks[i] = masks[i];
    }
    server->net_count = count;
    return APPL_DNS_OK;
}

static int allowed(const appl_dns_server *server, uint32_t address) {
    if ((address >> 24) == 127) {
        return 1; /* loopback */
    }
    for (size_t i = 0; i < server->net_count; i++) {
        if ((address & server->masks[i]) == server->networks[i]) {
            return 1;
        }
    }
    return 0;
}

/* sendmmsg until every reply went or failed; a failed one is counted and
 * skipped, as Python counts a sendto that raised and goes on. */
static uint32_t send_all(int fd, struct mmsghdr *out, unsigned count) {
    uint32_t errors = 0;
    unsigned done = 0;
    while (done < count) {
        int sent = sendmmsg(fd, out + done, count - done, MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            errors++;
            done++;
        } else {
            done += (unsigned)sent;
        }
    }
    return errors;
}

/* One round: a recvmmsg, the hits answered, the misses noted in `batch`. */
static int serve_round(appl_dns_server *server, const appl_dns_cache *cache, int fd, double now,
                       appl_dns_batch *batch) {
    for (unsigned i = 0; i < APPL_DNS_BATCH; i++) {
        server->in_iov[i].iov_base = server->receive + (size_t)i * APPL_DNS_SLOT;
        server->in_iov[i].iov_len = APPL_DNS_SLOT;
        memset(&server->in[i].msg_hdr, 0, sizeof server->in[i].msg_hdr);
        server->in[i].msg_hdr.msg_name = &server->in_addr[i];
        server->in[i].msg_hdr.msg_namelen = sizeof server->in_addr[i];
        server->in[i].msg_hdr.msg_iov = &server->in_iov[i];
        server->in[i].msg_hdr.msg_iovlen = 1;
    }
    int received;
    do {
        received = recvmmsg(fd, server->in, APPL_DNS_BATCH, MSG_DONTWAIT, NULL);
    } while (received < 0 && errno == EINTR);
    if (received < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            batch->receive_error = errno;
        }
        return 0;
    }
    batch->received += (uint32_t)received;
    unsigned replies = 0;
    for (int i = 0; i < received; i++) {
        const uint8_t *data = server->in_iov[i].iov_base;
        size_t length = server->in[i].msg_len;
        const struct sockaddr_in *peer = &server->in_addr[i];
        uint32_t address = ntohl(peer->sin_addr.s_addr);
        if (server->in[i].msg_hdr.msg_namelen < sizeof *peer || peer->sin_family != AF_INET) {
            continue; /* no IPv4 source to answer: never happens on an AF_INET socket */
        }
        if (!allowed(server, address)) {
            batch->refused++;
            continue;
        }
        uint8_t *out = server->reply + (size_t)replies * server->reply_size;
        int kind = APPL_DNS_ZONE;
        size_t reply = appl_dns_answer(cache, data, length, now, server->our_payload, out,
                                       server->reply_size, &kind);
        if (reply == 0) {
            unsigned m = batch->misses++;
            batch->miss_data[m] = data;
            batch->miss_length[m] = (uint32_t)length;
            batch->miss_address[m] = address;
            batch->miss_port[m] = ntohs(peer->sin_port);
            continue;
        }
        if (kind == APPL_DNS_ZONE) {
            batch->answered_zone++;
        } else {
            batch->answered_forwarded++;
        }
        server->out_iov[replies].iov_base = out;
        server->out_iov[replies].iov_len = reply;
        memset(&server->out[replies].msg_hdr, 0, sizeof server->out[replies].msg_hdr);
        server->out[replies].msg_hdr.msg_name = (void *)peer;
        server->out[replies].msg_hdr.msg_namelen = sizeof *peer;
        server->out[replies].msg_hdr.msg_iov = &server->out_iov[replies];
        server->out[replies].msg_hdr.msg_iovlen = 1;
        replies++;
    }
    batch->send_errors += send_all(fd, server->out, replies);
    return received;
}

int appl_dns_serve(appl_dns_server *server, const appl_dns_cache *cache, int fd, double now,
                   appl_dns_batch *batch) {
    batch->received = batch->answered_zone = batch->answered_forwarded = 0;
    batch->refused = batch->send_errors = batch->misses = 0;
    batch->receive_error = 0;
    batch->drained = 0;
    for (unsigned round = 0; round < APPL_DNS_ROUNDS; round++) {
        int received = serve_round(server, cache, fd, now, batch);
        if (received < APPL_DNS_BATCH) {
            batch->drained = batch->receive_error == 0;
            break;
        }
        if (batch->misses > 0) {
            break; /* Python answers these before the buffers are reused */
        }
    }
    return (int)batch->received;
}
