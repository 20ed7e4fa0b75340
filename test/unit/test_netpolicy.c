/* test/unit/test_netpolicy.c: common/netpolicy.c, CIDR allow/deny lists.
 *
 * Tables: CIDR blocks that parse (with their prefix) and that do not
 * (with a word of the reason); addresses judged against allow/deny lists
 * (deny wins, an empty allow list allows all, IPv4-mapped IPv6 judged as
 * IPv4); lists that do not parse. Every row is its own cmocka test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/netpolicy.h"

struct cidr_row {
    const char *name;
    const char *in;
    int family;       /* expected family when good */
    unsigned prefix;  /* expected prefix when good */
    const char *why;  /* a word of the reason when bad, else NULL */
};

static const struct cidr_row cidr_good[] = {
    { "v4 /8", "10.0.0.0/8", AF_INET, 8, NULL },
    { "v4 host without prefix", "192.168.1.5", AF_INET, 32, NULL },
    { "v4 /0", "0.0.0.0/0", AF_INET, 0, NULL },
    { "v4 /32", "127.0.0.2/32", AF_INET, 32, NULL },
    { "v4 /12 odd boundary", "172.16.0.0/12", AF_INET, 12, NULL },
    { "v6 /8", "fd00::/8", AF_INET6, 8, NULL },
    { "v6 loopback", "::1", AF_INET6, 128, NULL },
    { "v6 /10", "fe80::/10", AF_INET6, 10, NULL },
    { "v6 mapped range stays v6", "::ffff:0:0/96", AF_INET6, 96, NULL },
};

static const struct cidr_row cidr_bad[] = {
    { "empty", "", 0, 0, "address" },
    { "slash only", "/8", 0, 0, "address" },
    { "host bits set v4", "10.0.0.1/8", 0, 0, "bits set" },
    { "host bits set v6", "fd00::1/8", 0, 0, "bits set" },
    { "prefix too long v4", "10.0.0.0/33", 0, 0, "longer" },
    { "prefix too long v6", "::/129", 0, 0, "longer" },
    { "prefix not a number", "10.0.0.0/x", 0, 0, "number" },
    { "prefix empty", "10.0.0.0/", 0, 0, "number" },
    { "prefix negative", "10.0.0.0/-1", 0, 0, "number" },
    { "prefix with junk", "10.0.0.0/8x", 0, 0, "number" },
    { "prefix with plus", "10.0.0.0/+8", 0, 0, "number" },
    { "prefix huge", "10.0.0.0/99999999999999999999", 0, 0, "number" },
    { "three octets", "10.0.0/24", 0, 0, "address" },
    { "leading zero octet", "010.0.0.0/8", 0, 0, "address" },
    { "hostname", "example.com/8", 0, 0, "address" },
    { "zone id", "fe80::1%eth0", 0, 0, "address" },
    { "brackets", "[::1]", 0, 0, "address" },
    { "octet over 255", "256.0.0.0/8", 0, 0, "address" },
};

static void
test_cidr(void **state)
{
    const struct cidr_row *r = *state;
    struct netpolicy_cidr c;
    const char *why = NULL;
    ap_err rc = netpolicy_parse_cidr(r->in, &c, &why);

    if (r->why == NULL) {
        assert_int_equal(rc, AP_OK);
        assert_int_equal(c.family, r->family);
        assert_int_equal(c.prefix, r->prefix);
        return;
    }
    assert_int_equal(rc, AP_EINVAL);
    assert_non_null(why);
    if (strstr(why, r->why) == NULL) {
        print_error("reason \"%s\" lacks \"%s\"\n", why, r->why);
    }
    assert_non_null(strstr(why, r->why));
}

struct permit_row {
    const char *name;
    const char *allow;
    const char *deny;
    const char *addr;
    int permitted;
    const char *why; /* a word of the reason when refused */
};

static const struct permit_row permit_rows[] = {
    { "empty lists allow all", "", "", "10.1.2.3", 1, NULL },
    { "default deny keeps loopback", "", NETPOLICY_DEFAULT_DENY, "127.0.0.1",
      1, NULL },
    { "default deny keeps ::1", "", NETPOLICY_DEFAULT_DENY, "::1", 1, NULL },
    { "default deny: metadata", "", NETPOLICY_DEFAULT_DENY,
      "169.254.169.254", 0, "deny (169.254.0.0/16)" },
    { "default deny: v6 link-local", "", NETPOLICY_DEFAULT_DENY, "fe80::1",
      0, "deny" },
    { "default deny: multicast", "", NETPOLICY_DEFAULT_DENY, "239.1.1.1", 0,
      "deny" },
    { "default deny: broadcast", "", NETPOLICY_DEFAULT_DENY,
      "255.255.255.255", 0, "deny" },
    { "default deny: unspecified v6", "", NETPOLICY_DEFAULT_DENY, "::", 0,
      "deny" },
    { "default deny: this network", "", NETPOLICY_DEFAULT_DENY, "0.1.2.3",
      0, "deny" },
    { "in allow", "10.0.0.0/8", "", "10.200.0.1", 1, NULL },
    { "outside allow", "10.0.0.0/8", "", "11.0.0.1", 0, "not in" },
    { "deny wins over allow", "10.0.0.0/8", "10.5.0.0/16", "10.5.1.1", 0,
      "deny (10.5.0.0/16)" },
    { "allow next to deny", "10.0.0.0/8", "10.5.0.0/16", "10.6.1.1", 1,
      NULL },
    { "/12 edge inside", "172.16.0.0/12", "", "172.31.255.255", 1, NULL },
    { "/12 edge outside", "172.16.0.0/12", "", "172.32.0.0", 0, "not in" },
    { "v6 allow", "fd00::/8", "", "fd12:3456::1", 1, NULL },
    { "v6 outside allow", "fd00::/8", "", "fe00::1", 0, "not in" },
    { "v4 address vs v6-only allow", "fd00::/8", "", "10.0.0.1", 0,
      "not in" },
    { "mapped v6 caught by v4 deny", "", "10.0.0.0/8", "::ffff:10.1.1.1", 0,
      "deny" },
    { "v4 caught by mapped-range deny", "", "::ffff:0:0/96", "10.1.1.1", 0,
      "deny" },
    { "mapped v6 in v4 allow", "127.0.0.0/8", "", "::ffff:127.0.0.1", 1,
      NULL },
    { "host entry", "", "127.0.0.2", "127.0.0.2", 0, "deny (127.0.0.2/32)" },
    { "host entry neighbour", "", "127.0.0.2", "127.0.0.3", 1, NULL },
    { "not an address", "", "", "example.com", 0, "not an IP" },
    { "empty address", "", "", "", 0, "not an IP" },
    { "commas and tabs", "10.0.0.0/8,\t192.168.0.0/16", "", "192.168.3.4", 1,
      NULL },
};

static void
test_permit(void **state)
{
    const struct permit_row *r = *state;
    struct netpolicy p;
    char err[200];
    char why[200] = "";

    assert_int_equal(netpolicy_init(&p, r->allow, r->deny, err, sizeof(err)),
                     AP_OK);
    assert_int_equal(netpolicy_permits(&p, r->addr, why, sizeof(why)),
                     r->permitted != 0);
    if (!r->permitted) {
        if (strstr(why, r->why) == NULL) {
            print_error("reason \"%s\" lacks \"%s\"\n", why, r->why);
        }
        assert_non_null(strstr(why, r->why));
    }
}

struct list_row {
    const char *name;
    const char *allow;
    const char *deny;
    const char *err; /* a word of the message */
};

static const struct list_row list_bad[] = {
    { "bad allow entry", "10.0.0.0/8 nonsense", "", "allow: nonsense" },
    { "bad deny entry", "", "10.0.0.1/8", "deny: 10.0.0.1/8" },
    { "entry too long", "", "1111111111111111111111111111111111111111111111"
      "11111111111111111111111", "too long" },
};

static void
test_list_bad(void **state)
{
    const struct list_row *r = *state;
    struct netpolicy p;
    char err[200] = "";

    assert_int_equal(netpolicy_init(&p, r->allow, r->deny, err, sizeof(err)),
                     AP_EINVAL);
    if (strstr(err, r->err) == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", err, r->err);
    }
    assert_non_null(strstr(err, r->err));
}

/* More than NETPOLICY_MAX_CIDRS entries are refused, exactly that many
 * are fine; NULL lists are empty. */
static void
test_list_limits(void **state)
{
    struct netpolicy_cidr out[NETPOLICY_MAX_CIDRS];
    char text[NETPOLICY_MAX_CIDRS * 20 + 32];
    char err[200];
    size_t n = 99;
    size_t len = 0;

    (void)state;
    for (int i = 0; i < NETPOLICY_MAX_CIDRS; i++) {
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "10.%d.0.0/16 ", i);
    }
    assert_int_equal(netpolicy_parse_list(text, out, NETPOLICY_MAX_CIDRS, &n,
                                          err, sizeof(err)),
                     AP_OK);
    assert_int_equal(n, NETPOLICY_MAX_CIDRS);
    snprintf(text + len, sizeof(text) - len, "11.0.0.0/8");
    assert_int_equal(netpolicy_parse_list(text, out, NETPOLICY_MAX_CIDRS, &n,
                                          err, sizeof(err)),
                     AP_EINVAL);
    assert_int_equal(netpolicy_parse_list(NULL, out, NETPOLICY_MAX_CIDRS, &n,
                                          err, sizeof(err)),
                     AP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(netpolicy_parse_list(" ,, ", out, NETPOLICY_MAX_CIDRS,
                                          &n, err, sizeof(err)),
                     AP_OK);
    assert_int_equal(n, 0);
}

/* ---- runner -------------------------------------------------------- */


int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    _Static_assert(N_ROWS(cidr_bad) >= N_ROWS(cidr_good),
                   "bad table at least as long as the good one");
    ADD_ROWS(&l, cidr_good, test_cidr);
    ADD_ROWS(&l, cidr_bad, test_cidr);
    ADD_ROWS(&l, permit_rows, test_permit);
    ADD_ROWS(&l, list_bad, test_list_bad);
    add_test(&l, "list limits", test_list_limits, NULL);
    failed = _cmocka_run_group_tests("netpolicy", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
