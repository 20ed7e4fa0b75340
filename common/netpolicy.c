/* common/netpolicy.c: CIDR allow/deny lists for validation traffic. */
#include "common/netpolicy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CIDR_MAX_TEXT 64

static const unsigned char v4_mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Parses an address into family and bytes; ::ffff:a.b.c.d becomes the
 * IPv4 address when unmap is set. */
static bool
parse_addr(const char *text, bool unmap, int *family, unsigned char *out)
{
    if (inet_pton(AF_INET, text, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, out) != 1) {
        return false;
    }
    *family = AF_INET6;
    if (unmap && memcmp(out, v4_mapped_prefix, 12) == 0) {
        memmove(out, out + 12, 4);
        *family = AF_INET;
    }
    return true;
}

ap_err
netpolicy_parse_cidr(const char *text, struct netpolicy_cidr *out,
                     const char **why)
{
    char addr[CIDR_MAX_TEXT];
    const char *slash = strchr(text, '/');
    size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    unsigned bits;
    unsigned long prefix;
    char *end = NULL;

    if (alen == 0 || alen >= sizeof(addr)) {
        *why = "not an address";
        return AP_EINVAL;
    }
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(out, 0, sizeof(*out));
    /* A mapped address in a list stays IPv6: ::ffff:0:0/96 must still
     * mean the whole mapped range. */
    if (!parse_addr(addr, false, &out->family, out->addr)) {
        *why = "not an IPv4 or IPv6 address";
        return AP_EINVAL;
    }
    bits = out->family == AF_INET ? 32 : 128;
    prefix = bits;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9') {
            *why = "prefix length is not a number";
            return AP_EINVAL;
        }
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (errno != 0 || *end != '\0' || end - (slash + 1) > 3) {
            *why = "prefix length is not a number";
            return AP_EINVAL;
        }
        if (prefix > bits) {
            *why = "prefix length longer than the address";
            return AP_EINVAL;
        }
    }
    out->prefix = (unsigned)prefix;
    for (unsigned i = out->prefix; i < bits; i++) {
        if (out->addr[i / 8] & (0x80u >> (i % 8))) {
            *why = "address has bits set below the prefix length";
            return AP_EINVAL;
        }
    }
    return AP_OK;
}

ap_err
netpolicy_parse_list(const char *text, struct netpolicy_cidr *out,
                     size_t max, size_t *n, char *errbuf, size_t errlen)
{
    const char *p = text != NULL ? text : "";
    size_t count = 0;

    for (;;) {
        char item[CIDR_MAX_TEXT];
        const char *why = NULL;
        size_t len;

        p += strspn(p, " \t,");
        if (*p == '\0') {
            break;
        }
        len = strcspn(p, " \t,");
        if (len >= sizeof(item)) {
            snprintf(errbuf, errlen, "%.40s...: entry too long", p);
            return AP_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        if (count >= max) {
            snprintf(errbuf, errlen, "more than %zu entries", max);
            return AP_EINVAL;
        }
        if (netpolicy_parse_cidr(item, &out[count], &why) != AP_OK) {
            snprintf(errbuf, errlen, "%s: %s", item, why);
            return AP_EINVAL;
        }
        count++;
    }
    *n = count;
    return AP_OK;
}

ap_err
netpolicy_init(struct netpolicy *p, const char *allow, const char *deny,
               char *errbuf, size_t errlen)
{
    char msg[160];

    memset(p, 0, sizeof(*p));
    if (netpolicy_parse_list(allow, p->allow, NETPOLICY_MAX_CIDRS,
                             &p->n_allow, msg, sizeof(msg)) != AP_OK) {
        snprintf(errbuf, errlen, "allow: %s", msg);
        return AP_EINVAL;
    }
    if (netpolicy_parse_list(deny, p->deny, NETPOLICY_MAX_CIDRS, &p->n_deny,
                             msg, sizeof(msg)) != AP_OK) {
        snprintf(errbuf, errlen, "deny: %s", msg);
        return AP_EINVAL;
    }
    return AP_OK;
}

static bool
contains(const struct netpolicy_cidr *c, int family,
         const unsigned char *addr)
{
    unsigned full = c->prefix / 8;
    unsigned rest = c->prefix % 8;

    if (c->family != family) {
        return false;
    }
    if (memcmp(c->addr, addr, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    return ((c->addr[full] ^ addr[full]) & (0xffu << (8 - rest)) & 0xffu) ==
           0;
}

/* An address matches a block in its own family, and an IPv4 address (or
 * a mapped one, judged as IPv4) also matches an IPv6 block written over
 * the mapped range. */
static bool
matches(const struct netpolicy_cidr *c, int family, const unsigned char *a)
{
    unsigned char mapped[16];

    if (contains(c, family, a)) {
        return true;
    }
    if (family == AF_INET && c->family == AF_INET6) {
        memcpy(mapped, v4_mapped_prefix, 12);
        memcpy(mapped + 12, a, 4);
        return contains(c, AF_INET6, mapped);
    }
    return false;
}

static void
cidr_text(const struct netpolicy_cidr *c, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN];

    if (inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL) {
        snprintf(a, sizeof(a), "?");
    }
    snprintf(out, outlen, "%s/%u", a, c->prefix);
}

bool
netpolicy_cidr_contains(const struct netpolicy_cidr *c, const char *addr)
{
    unsigned char a[16];
    int family;

    if (!parse_addr(addr, true, &family, a)) {
        return false;
    }
    return matches(c, family, a);
}

bool
netpolicy_permits(const struct netpolicy *p, const char *addr, char *why,
                  size_t whylen)
{
    unsigned char a[16];
    char block[CIDR_MAX_TEXT];
    int family;

    if (!parse_addr(addr, true, &family, a)) {
        if (why != NULL) {
            snprintf(why, whylen, "%.64s is not an IP address", addr);
        }
        return false;
    }
    for (size_t i = 0; i < p->n_deny; i++) {
        if (matches(&p->deny[i], family, a)) {
            if (why != NULL) {
                cidr_text(&p->deny[i], block, sizeof(block));
                snprintf(why, whylen, "%s is in [validation] deny (%s)",
                         addr, block);
            }
            return false;
        }
    }
    if (p->n_allow == 0) {
        return true;
    }
    for (size_t i = 0; i < p->n_allow; i++) {
        if (matches(&p->allow[i], family, a)) {
            return true;
        }
    }
    if (why != NULL) {
        snprintf(why, whylen, "%s is not in [validation] allow", addr);
    }
    return false;
}
