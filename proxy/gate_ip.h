/* proxy/gate_ip.h: the connection gate's count of open connections per
 * source address (proxy/gate.c: max_conns_per_ip). An IPv4 address is one
 * source, an IPv6 /64 is one (a host has a /64 to pick addresses from).
 * A hash table of entries that live while their count is above 0, with a
 * per-process seed so that a client cannot choose colliding addresses.
 * One thread (the gate's). */
#ifndef AP_PROXY_GATE_IP_H
#define AP_PROXY_GATE_IP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct ipent {
    unsigned char key[16];
    unsigned count;          /* the caller's: open connections */
    struct ipent *next;
};

struct ip_table {
    struct ipent **b;
    size_t mask;
    uint64_t seed;
};

/* Makes t empty, with buckets for about max_conns sources. AP_ENOMEM. */
AP_MUST_CHECK ap_err ip_table_init(struct ip_table *t, unsigned max_conns,
                                   uint64_t seed);
/* Frees every entry and the buckets; accepts a zeroed t. */
void ip_table_fini(struct ip_table *t);
/* The key of a peer's struct sockaddr (len bytes): IPv4 as ::ffff:a.b.c.d,
 * IPv6 cut to its /64; zeros for anything else. */
void ip_key(const void *peer, size_t len, unsigned char key[16]);
/* The entry of key, made with count 0 when absent; NULL without memory. */
struct ipent *ip_get(struct ip_table *t, const unsigned char key[16]);
/* Drops one count of e (NULL: nothing) and frees it at 0. */
void ip_put(struct ip_table *t, struct ipent *e);

#endif /* AP_PROXY_GATE_IP_H */
