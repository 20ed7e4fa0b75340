/* fuzz_dns: what common/resolve.c does with a DNS server's answer, over
 * fuzzed wire bytes: resolve_answer_step (libc's ns_initparse underneath,
 * then our question check, CNAME-chain walk, rcode and next-hop
 * decisions) for a TXT, A or AAAA lookup of x.test (the first byte picks
 * the type, the rest is the response), the TXT rdata joiner on each TXT
 * record handed over, and on the raw bytes too. A CNAME target handed on
 * as the next name to ask must be printable presentation text that fits;
 * every error text must be free of control bytes (it reaches problem
 * details and logs). Seeds (test/fuzz/corpus/dns) are responses to x.test
 * with TXT and address records, CNAME chains inside and leaving the
 * answer, NXDOMAIN and SERVFAIL, with and without name compression. */
#include "test/fuzz/fuzz.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>

#include "common/resolve.h"

struct seen {
    int type;
    size_t n;
};

static void
no_control_bytes(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            abort();
        }
    }
}

static void
on_rr(void *arg, const unsigned char *rdata, size_t rdlen)
{
    struct seen *s = arg;
    char txt[RESOLVE_MAX_TXT_LEN];
    char addr[INET6_ADDRSTRLEN];

    s->n++;
    if (s->type == ns_t_txt) {
        if (resolve_txt_rdata(rdata, rdlen, txt, sizeof(txt)) == AP_OK) {
            for (const char *p = txt; *p != '\0'; p++) {
                if (*p < 0x20 || *p > 0x7e) {
                    abort(); /* the joiner must mask these */
                }
            }
        }
    } else if (s->type == ns_t_a && rdlen == 4) {
        (void)inet_ntop(AF_INET, rdata, addr, sizeof(addr));
    } else if (s->type == ns_t_aaaa && rdlen == 16) {
        (void)inet_ntop(AF_INET6, rdata, addr, sizeof(addr));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = { ns_t_txt, ns_t_a, ns_t_aaaa };
    struct seen s = { 0, 0 };
    char next[RESOLVE_MAX_NAME];
    char err[320];
    char small[8];
    ap_err rc;

    if (size < 1) {
        return 0;
    }
    s.type = types[data[0] % 3];
    err[0] = '\0';
    rc = resolve_answer_step(data + 1, size - 1, "x.test", "x.test", s.type,
                             on_rr, &s, "fuzz", next, sizeof(next), err,
                             sizeof(err));
    if (rc == AP_OK) {
        if (strlen(next) >= RESOLVE_MAX_NAME) {
            abort();
        }
        for (const char *p = next; *p != '\0'; p++) {
            if (*p <= 0x20 || *p > 0x7e) {
                abort(); /* ns_name_uncompress escapes the rest */
            }
        }
    } else {
        no_control_bytes(err);
    }
    (void)resolve_txt_rdata(data + 1, size - 1, small, sizeof(small));
    if (strlen(small) >= sizeof(small)) {
        abort();
    }
    return 0;
}
