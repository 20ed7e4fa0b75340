/* proxy/gate_ip.c: open connections per source address (gate_ip.h). */
#include "proxy/gate_ip.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

ap_err
ip_table_init(struct ip_table *t, unsigned max_conns, uint64_t seed)
{
    size_t buckets = 64;

    while (buckets < max_conns && buckets < (1u << 20)) {
        buckets *= 2;
    }
    t->b = calloc(buckets, sizeof(*t->b));
    if (t->b == NULL) {
        return AP_ENOMEM;
    }
    t->mask = buckets - 1;
    t->seed = seed * 0x9e3779b97f4a7c15ULL;
    return AP_OK;
}

void
ip_table_fini(struct ip_table *t)
{
    if (t->b == NULL) {
        return;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        while (t->b[i] != NULL) {
            struct ipent *e = t->b[i];

            t->b[i] = e->next;
            free(e);
        }
    }
    free(t->b);
    t->b = NULL;
}

void
ip_key(const void *peer, size_t len, unsigned char key[16])
{
    const struct sockaddr *sa = peer;

    memset(key, 0, 16);
    if (sa == NULL || len < sizeof(sa_family_t)) {
        return;
    }
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = peer;

        key[10] = key[11] = 0xff; /* as ::ffff:a.b.c.d */
        memcpy(key + 12, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 &&
               len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = peer;

        memcpy(key, &in6->sin6_addr, 16);
        if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            memset(key + 8, 0, 8); /* one /64 is one source */
        }
    }
}

static size_t
ip_hash(const struct ip_table *t, const unsigned char key[16])
{
    uint64_t h = 1469598103934665603ULL ^ t->seed;

    for (int i = 0; i < 16; i++) {
        h = (h ^ key[i]) * 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) & t->mask;
}

struct ipent *
ip_get(struct ip_table *t, const unsigned char key[16])
{
    size_t b = ip_hash(t, key);
    struct ipent *e;

    for (e = t->b[b]; e != NULL; e = e->next) {
        if (memcmp(e->key, key, 16) == 0) {
            return e;
        }
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    memcpy(e->key, key, 16);
    e->next = t->b[b];
    t->b[b] = e;
    return e;
}

void
ip_put(struct ip_table *t, struct ipent *e)
{
    struct ipent **pp;

    if (e == NULL || (e->count > 0 && --e->count > 0)) {
        return;
    }
    for (pp = &t->b[ip_hash(t, e->key)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            free(e);
            return;
        }
    }
}
