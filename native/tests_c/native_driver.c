/* Test driver for the DNS answer cache and the cgroup parsers and file sets, for other
 * architectures (qemu-user) and for sanitizer builds (-fsanitize=address,undefined).
 *
 * Reads a script of records from stdin and prints one line per record; the Python tests
 * (tests/native/c_driver.py) write the script and compare the lines with the twins. Every
 * input the code under test reads (query, packed reply, name, file text) is copied into a
 * heap block of exactly its size, so that AddressSanitizer catches a read one byte past it.
 * Integers are big-endian; doubles travel as the big-endian bits of their IEEE 754 form.
 *
 *   'P' put     kind u8, do u8, qtype u16, qclass u16, name (u16 len), packed (u32 len),
 *               ttl offsets (u16 count, u32 each), stored_at f64, expires_at f64  -> "P <rc>"
 *   'R' remove  kind u8, do u8, qtype u16, qclass u16, name (u16 len)              -> "R <rc>"
 *   'C' clear   kind u8                                               -> "C <zone> <forwarded>"
 *   'A' answer  now f64, our_payload u16, query (u32 len)      -> "A <kind> <hex>" or "A -"
 *   'T' parse   kind u8, key (u8 len, 255: none), text (u32 len)   -> "T <status> <a> <b>"
 *   'O' open    kind u8, key (u8 len, 255: none), path (u16 len)              -> "O <slot>"
 *   'X' close   slot i32                                                          -> "X"
 *   'S' scan                                    -> "S <status> <a> <b>,<status> <a> <b>,..."
 *   'L' loopback now f64, our_payload u16, count u8, queries (u32 len each): sent over 127.0.0.1
 *               to a socket served by appl_dns_serve ->
 *               "L <received> <zone> <forwarded> <refused> <send errors> <hex replies,> <hex misses,>"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "appliance_native.h"

static void fail(const char *what) {
    fprintf(stderr, "driver: %s\n", what);
    exit(2);
}

static void take(void *out, size_t n) {
    if (n > 0 && fread(out, 1, n, stdin) != n) {
        fail("input cut short");
    }
}

static uint64_t take_uint(size_t bytes) {
    uint8_t b[8];
    take(b, bytes);
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

static double take_double(void) {
    uint64_t bits = take_uint(8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* A heap block of exactly `n` bytes (NULL for none) holding the next n input bytes. */
static uint8_t *take_block(size_t n) {
    if (n == 0) {
        return NULL;
    }
    uint8_t *block = malloc(n);
    if (block == NULL) {
        fail("out of memory");
    }
    take(block, n);
    return block;
}

static char *take_key(void) {
    size_t n = (size_t)take_uint(1);
    if (n == 255) {
        return NULL;
    }
    char *key = malloc(n + 1);
    if (key == NULL) {
        fail("out of memory");
    }
    take(key, n);
    key[n] = '\0';
    return key;
}

static void print_hex(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("%02x", data[i]);
    }
}

static int udp_socket(struct sockaddr_in *bound) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    socklen_t length = sizeof *bound;
    memset(bound, 0, sizeof *bound);
    bound->sin_family = AF_INET;
    bound->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)bound, sizeof *bound) != 0 ||
        getsockname(fd, (struct sockaddr *)bound, &length) != 0) {
        fail("cannot bind a loopback UDP socket");
    }
    return fd;
}

/* Sends `count` queries to a served socket, serves once, prints the batch and the replies. */
static void loopback(appl_dns_cache *cache) {
    double now = take_double();
    uint16_t our_payload = (uint16_t)take_uint(2);
    size_t count = (size_t)take_uint(1);
    struct sockaddr_in server_address, client_address;
    int server = udp_socket(&server_address);
    int client = udp_socket(&client_address);
    for (size_t i = 0; i < count; i++) {
        size_t length = (size_t)take_uint(4);
        uint8_t *query = take_block(length);
        if (sendto(client, query, length, 0, (struct sockaddr *)&server_address,
                   sizeof server_address) != (ssize_t)length) {
            fail("sendto");
        }
        free(query);
    }
    struct pollfd ready = {.fd = server, .events = POLLIN};
    poll(&ready, 1, 5000);
    appl_dns_server *s = appl_dns_server_new(our_payload);
    static appl_dns_batch batch;
    if (s == NULL) {
        fail("out of memory");
    }
    appl_dns_serve(s, cache, server, now, &batch);
    printf("L %u %u %u %u %u ", batch.received, batch.answered_zone, batch.answered_forwarded,
           batch.refused, batch.send_errors);
    uint32_t replies = batch.answered_zone + batch.answered_forwarded;
    for (uint32_t i = 0; i < replies; i++) {
        static uint8_t reply[APPL_DNS_SLOT];
        struct pollfd incoming = {.fd = client, .events = POLLIN};
        poll(&incoming, 1, 5000);
        ssize_t got = recv(client, reply, sizeof reply, 0);
        if (got < 0) {
            fail("a reply is missing");
        }
        print_hex(reply, (size_t)got);
        printf(",");
    }
    printf(" ");
    for (uint32_t i = 0; i < batch.misses; i++) {
        if (batch.miss_address[i] != INADDR_LOOPBACK ||
            batch.miss_port[i] != ntohs(client_address.sin_port)) {
            fail("a miss names the wrong source");
        }
        print_hex(batch.miss_data[i], batch.miss_length[i]);
        printf(",");
    }
    printf("\n");
    appl_dns_server_free(s);
    close(server);
    close(client);
}

int main(void) {
    appl_dns_cache *cache = appl_dns_cache_new(12345);
    appl_cg_set *set = appl_cg_set_new();
    static uint8_t out[APPL_DNS_SLOT];
    int tag;
    if (cache == NULL || set == NULL) {
        fail("out of memory");
    }
    while ((tag = getchar()) != EOF) {
        if (tag == 'P' || tag == 'R') {
            int kind = (int)take_uint(1);
            int dnssec_ok = (int)take_uint(1);
            uint16_t qtype = (uint16_t)take_uint(2);
            uint16_t qclass = (uint16_t)take_uint(2);
            size_t name_len = (size_t)take_uint(2);
            uint8_t *name = take_block(name_len);
            int rc;
            if (tag == 'P') {
                size_t packed_len = (size_t)take_uint(4);
                uint8_t *packed = take_block(packed_len);
                size_t count = (size_t)take_uint(2);
                uint32_t *offsets = count ? malloc(count * sizeof *offsets) : NULL;
                for (size_t i = 0; i < count; i++) {
                    offsets[i] = (uint32_t)take_uint(4);
                }
                double stored_at = take_double();
                double expires_at = take_double();
                rc = appl_dns_cache_put(cache, kind, name, name_len, qtype, qclass, dnssec_ok,
                                        packed, packed_len, offsets, count, stored_at, expires_at);
                free(packed);
                free(offsets);
            } else {
                rc = appl_dns_cache_remove(cache, kind, name, name_len, qtype, qclass, dnssec_ok);
            }
            free(name);
            printf("%c %d\n", tag, rc);
        } else if (tag == 'C') {
            appl_dns_cache_clear(cache, (int)take_uint(1));
            printf("C %zu %zu\n", appl_dns_cache_count(cache, APPL_DNS_ZONE),
                   appl_dns_cache_count(cache, APPL_DNS_FORWARDED));
        } else if (tag == 'A') {
            double now = take_double();
            uint16_t our_payload = (uint16_t)take_uint(2);
            size_t length = (size_t)take_uint(4);
            uint8_t *query = take_block(length);
            int kind = -1;
            size_t reply = appl_dns_answer(cache, query, length, now, our_payload, out, sizeof out,
                                           &kind);
            free(query);
            if (reply == 0) {
                printf("A -\n");
            } else {
                printf("A %d ", kind);
                print_hex(out, reply);
                printf("\n");
            }
        } else if (tag == 'T' || tag == 'O') {
            int kind = (int)take_uint(1);
            char *key = take_key();
            if (tag == 'T') {
                size_t length = (size_t)take_uint(4);
                uint8_t *text = take_block(length);
                int64_t a = 0;
                int64_t b = 0;
                int status = appl_cg_parse(kind, key, text, length, &a, &b);
                free(text);
                printf("T %d %" PRId64 " %" PRId64 "\n", status, a, b);
            } else {
                size_t length = (size_t)take_uint(2);
                char *path = malloc(length + 1);
                if (path == NULL) {
                    fail("out of memory");
                }
                take(path, length);
                path[length] = '\0';
                const char *paths[1] = {path};
                const int kinds[1] = {kind};
                const char *keys[1] = {key};
                int32_t slot = -1;
                int rc = appl_cg_set_open(set, paths, kinds, keys, 1, &slot);
                free(path);
                printf("O %d\n", rc == 0 ? (int)slot : -100 + rc);
            }
            free(key);
        } else if (tag == 'X') {
            int32_t slot = (int32_t)(uint32_t)take_uint(4);
            appl_cg_set_close(set, &slot, 1);
            printf("X\n");
        } else if (tag == 'S') {
            size_t size = appl_cg_set_size(set);
            int32_t *status = malloc((size ? size : 1) * sizeof *status);
            int64_t *values = malloc((size ? size : 1) * 2 * sizeof *values);
            size_t count = appl_cg_scan(set, status, values, size);
            printf("S");
            for (size_t i = 0; i < count; i++) {
                printf("%s%d %" PRId64 " %" PRId64, i ? "," : " ", (int)status[i],
                       values[2 * i], values[2 * i + 1]);
            }
            printf("\n");
            free(status);
            free(values);
        } else if (tag == 'L') {
            loopback(cache);
        } else {
            fail("unknown record");
        }
    }
    appl_cg_set_free(set);
    appl_dns_cache_free(cache);
    return 0;
}
