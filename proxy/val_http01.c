/* proxy/val_http01.c: the http-01 validator (RFC 8555 §8.3, RFC 8738 §7).
 *
 * GET http://<identifier>:<http_port>/.well-known/acme-challenge/<token>;
 * redirects are followed by hand (at most VAL_MAX_REDIRECTS, http and
 * https only, to the standard or configured ports), and every hop's host
 * is resolved again, checked against the allow/deny policy and connected
 * to at exactly the checked address (pinned), so neither a redirect nor a
 * DNS answer that changes between lookup and connect (rebinding) reaches
 * an address the policy refuses. Bodies are capped at max_body, the
 * whole chain (every lookup, connection and body) shares the attempt's
 * deadline: each GET gets the time left. A failure's detail and the
 * evidence name URLs, addresses and statuses, never a byte of a body:
 * a redirect can lead to any service the validators reach, whose
 * answers the account holder must not read through us. */
#include "proxy/val_http01.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/resolve.h"
#include "proxy/ident.h"

#define HTTP01_MAX_URL 600

bool
val_http01_redirect_ok(const struct httpc_url *u, unsigned http_port,
                       unsigned tls_port, char *why, size_t whylen)
{
    char norm[IDENT_MAX_DNS + 1];
    const char *bad = NULL;
    bool https;

    if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) {
        snprintf(why, whylen, "scheme %.16s is not http or https",
                 u->scheme);
        return false;
    }
    https = u->scheme[4] == 's';
    if (u->has_userinfo) {
        snprintf(why, whylen, "URL carries user information");
        return false;
    }
    if (https ? (u->port != 443 && u->port != tls_port)
              : (u->port != 80 && u->port != http_port)) {
        snprintf(why, whylen, "port %u is not %s (%u or %u)", u->port,
                 https ? "an https port" : "an http port",
                 https ? 443u : 80u, https ? tls_port : http_port);
        return false;
    }
    if (!u->host_is_ip &&
        ident_dns_normalize_ex(u->host, norm, sizeof(norm), true, &bad) !=
            AP_OK) {
        snprintf(why, whylen, "host %.64s refused: %s", u->host, bad);
        return false;
    }
    return true;
}

bool
val_http01_body_ok(const char *body, size_t len, const char *keyauth,
                   char *why, size_t whylen)
{
    size_t n = len;
    size_t want = strlen(keyauth);

    /* RFC 8555 §8.3: the body is the key authorization; trailing white
     * space is ignored. */
    while (n > 0 && isspace((unsigned char)body[n - 1])) {
        n--;
    }
    if (n == want && memcmp(body, keyauth, n) == 0) {
        return true;
    }
    /* Its length only: never a byte of it (see validate.h). */
    snprintf(why, whylen, "the body (%zu bytes) is not the key "
             "authorization (%zu bytes)", len, want);
    return false;
}

/* The hop's outcome from a response to url at addr. Returns true when
 * it is a redirect to follow (next set). */
static bool
judge(const struct val_input *in, const char *url, const char *addr,
      const struct httpc_resp *hr, int hop, char *next, size_t nextlen,
      struct val_outcome *out)
{
    size_t n = hr->body.len;
    char why[160];

    if (hr->status >= 300 && hr->status < 400 && hr->status != 304) {
        if (hr->location[0] == '\0') {
            val_fail(out, PROB_CONNECTION, "%s (%s): HTTP status %ld without "
                     "a usable Location", url, addr, hr->status);
            return false;
        }
        if (hop >= VAL_MAX_REDIRECTS) {
            val_fail(out, PROB_CONNECTION, "%s (%s): more than %d redirects",
                     url, addr, VAL_MAX_REDIRECTS);
            return false;
        }
        snprintf(next, nextlen, "%s", hr->location);
        return true;
    }
    if (hr->status != 200) {
        val_fail(out, PROB_UNAUTHORIZED, "%s (%s): HTTP status %ld, want 200",
                 url, addr, hr->status);
        return false;
    }
    if (val_http01_body_ok(hr->body.data, n, in->keyauth, why,
                           sizeof(why))) {
        out->valid = true;
        return false;
    }
    val_fail(out, PROB_INCORRECT_RESPONSE, "%s (%s): %s", url, addr, why);
    return false;
}

/* One hop: resolve, check, GET at each permitted address until one
 * answers. Returns true with next set when a redirect is to be followed;
 * otherwise out holds the result. */
static bool
hop_get(const struct val_input *in, const char *url, int hop, char *next,
        size_t nextlen, struct val_outcome *out)
{
    const struct config *cfg = in->cfg;
    struct httpc_url u;
    struct httpc_resp hr;
    struct httpc_req req;
    char allowed[RESOLVE_MAX_ADDRS][46];
    char why[200];
    size_t n = 0;
    cJSON *rec = val_evidence_add(out);
    bool follow = false;
    ap_err rc = AP_ENET;

    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "url", url);
    }
    if (httpc_url_split(url, &u) != AP_OK) {
        val_fail(out, PROB_CONNECTION, "redirect %d to %.200s: not an "
                 "absolute URL", hop, url);
        return false;
    }
    if (hop > 0 && !val_http01_redirect_ok(&u, cfg->validation.http_port,
                                           cfg->validation.tls_port, why,
                                           sizeof(why))) {
        val_fail(out, PROB_CONNECTION, "redirect %d to %.200s refused: %s",
                 hop, url, why);
        return false;
    }
    if (rec != NULL) {
        cJSON_AddStringToObject(rec, "hostname", u.host);
        cJSON_AddNumberToObject(rec, "port", u.port);
    }
    if (!val_addresses(in, u.host, u.host_is_ip, url, rec, allowed,
                       RESOLVE_MAX_ADDRS, &n, out)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned left = val_remaining_ms(in->deadline_ms);

        if (left == 0) {
            val_fail(out, PROB_CONNECTION, "%s (%s): the validation deadline "
                     "of %u ms passed", url, allowed[i],
                     cfg->validation.timeout_ms);
            return false;
        }
        memset(&req, 0, sizeof(req));
        req.url = url;
        /* An IP literal is connected to as written; a name is pinned to
         * the address just checked (CURLOPT_RESOLVE). */
        req.pin_host = u.host_is_ip ? NULL : u.host;
        req.pin_port = u.port;
        req.pin_addr = u.host_is_ip ? NULL : allowed[i];
        req.timeout_ms = left;
        req.max_body = cfg->validation.max_body;
        req.protocols = strcmp(u.scheme, "https") == 0 ? "https" : "http";
        httpc_resp_init(&hr);
        rc = httpc_get(&req, &hr);
        snprintf(out->address, sizeof(out->address), "%.45s", allowed[i]);
        if (rc == AP_ENET && hr.status == 0 && i + 1 < n) {
            /* Not reachable there: the next address (IPv6 came first). */
            httpc_resp_fini(&hr);
            continue;
        }
        if (rec != NULL) {
            cJSON_AddStringToObject(rec, "addressUsed", allowed[i]);
            if (hr.status != 0) {
                cJSON_AddNumberToObject(rec, "status", (double)hr.status);
            }
        }
        if (rc == AP_ETOOBIG) {
            val_fail(out, PROB_INCORRECT_RESPONSE, "%s (%s): %s", url,
                     allowed[i], hr.error);
        } else if (rc == AP_ETIMEOUT) {
            val_fail(out, PROB_CONNECTION, "%s (%s): no complete answer "
                     "within the validation deadline (%u ms): %s", url,
                     allowed[i], cfg->validation.timeout_ms, hr.error);
        } else if (rc != AP_OK) {
            val_fail(out, PROB_CONNECTION, "%s (%s): %s", url, allowed[i],
                     hr.error);
        } else {
            follow = judge(in, url, allowed[i], &hr, hop, next, nextlen, out);
        }
        httpc_resp_fini(&hr);
        return follow;
    }
    return false;
}

static void
run_http01(const struct val_input *in, struct val_outcome *out)
{
    char url[HTTP01_MAX_URL];
    char next[HTTP01_MAX_URL];
    bool v6 = strcmp(in->ident_type, "ip") == 0 &&
              strchr(in->name, ':') != NULL;

    /* RFC 8738 §7: an IPv6 identifier goes in brackets. */
    snprintf(url, sizeof(url),
             "http://%s%s%s:%u/.well-known/acme-challenge/%s",
             v6 ? "[" : "", in->name, v6 ? "]" : "",
             in->cfg->validation.http_port, in->token);
    for (int hop = 0; hop <= VAL_MAX_REDIRECTS; hop++) {
        if (!hop_get(in, url, hop, next, sizeof(next), out)) {
            return;
        }
        memcpy(url, next, sizeof(url));
    }
    val_fail(out, PROB_CONNECTION, "more than %d redirects",
             VAL_MAX_REDIRECTS);
}

const struct validator_ops validator_http01 = {
    .type = "http-01",
    .run = run_http01,
};
