/* adapters/support.c: what several back ends share: typed config values,
 * credentials from files or the environment, HTTP settings, failure
 * results.
 *
 * Secrets read here (files through common/fileio.h with FILEIO_SECRET,
 * at most SUPPORT_MAX_SECRET bytes: a longer file is refused, not cut)
 * are wiped before they are freed and never copied into an error buffer
 * or a log line: messages name the key and the file, not the value. */
#include "adapters/adapter.h"
#include "adapters/parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"

#define SUPPORT_MAX_SECRET 8192
#define SUPPORT_DETAIL_MAX 400
#define SUPPORT_DEFAULT_TIMEOUT_MS 30000
#define SUPPORT_DEFAULT_MAX_RESPONSE 1048576

/* The line of key in cfg, for messages. */
static int
key_line(const struct config_section *cfg, const char *key)
{
    for (size_t i = 0; cfg != NULL && i < cfg->n; i++) {
        if (strcmp(cfg->kv[i].key, key) == 0) {
            return cfg->kv[i].line;
        }
    }
    return 0;
}

static const char *
cfg_file(const struct config_section *cfg)
{
    return cfg != NULL && cfg->file != NULL ? cfg->file : "config";
}

const char *
adapter_conf_str(const struct config_section *cfg, const char *key,
                 const char *dflt)
{
    const char *v = cfg != NULL ? config_section_get(cfg, key) : NULL;

    return v != NULL ? v : dflt;
}

ap_err
adapter_conf_dup(const struct config_section *cfg, const char *key,
                 const char *dflt, bool required, const char *what,
                 char **out, char *errbuf, size_t errlen)
{
    const char *v = adapter_conf_str(cfg, key, dflt);

    if (v == NULL || v[0] == '\0') {
        if (required) {
            (void)snprintf(errbuf, errlen, "%s: [adapter] %s of %s is "
                           "required", cfg_file(cfg), key, what);
            return AP_ECONFIG;
        }
        *out = NULL;
        return AP_OK;
    }
    *out = strdup(v);
    return *out != NULL ? AP_OK : AP_ENOMEM;
}

ap_err
adapter_conf_uint(const struct config_section *cfg, const char *key,
                  unsigned min, unsigned max, unsigned dflt, unsigned *out,
                  char *errbuf, size_t errlen)
{
    const char *v = adapter_conf_str(cfg, key, NULL);
    unsigned long n;
    char *end = NULL;

    if (v == NULL) {
        *out = dflt;
        return AP_OK;
    }
    errno = 0;
    n = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || errno != 0 || end == v || *end != '\0' ||
        n < min || n > max) {
        (void)snprintf(errbuf, errlen,
                       "%s:%d: %s: expected a whole number from %u to %u",
                       cfg_file(cfg), key_line(cfg, key), key, min, max);
        return AP_ECONFIG;
    }
    *out = (unsigned)n;
    return AP_OK;
}

ap_err
adapter_conf_bool(const struct config_section *cfg, const char *key,
                  bool dflt, bool *out, char *errbuf, size_t errlen)
{
    const char *v = adapter_conf_str(cfg, key, NULL);

    if (v == NULL) {
        *out = dflt;
    } else if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0) {
        *out = true;
    } else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) {
        *out = false;
    } else {
        (void)snprintf(errbuf, errlen, "%s:%d: %s: expected yes or no",
                       cfg_file(cfg), key_line(cfg, key), key);
        return AP_ECONFIG;
    }
    return AP_OK;
}

void
adapter_check_private_file(const char *path, const char *what)
{
    struct stat st;

    if (path != NULL && stat(path, &st) == 0 &&
        (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        log_warn("adapter", "%s: %s is readable by %s (mode %03o): make it "
                 "0600 and owned by the service user", what, path,
                 (st.st_mode & S_IROTH) ? "everyone" : "its group",
                 (unsigned)(st.st_mode & 0777));
    }
}

ap_err
adapter_secret(const struct config_section *cfg, const char *key,
               const char *what, bool required, char **out, char *errbuf,
               size_t errlen)
{
    const char *spec = adapter_conf_str(cfg, key, NULL);
    const char *path;
    char *data = NULL;
    char why[300];
    size_t n = 0;
    ap_err rc = AP_ECONFIG;

    if (spec == NULL || spec[0] == '\0') {
        if (required) {
            (void)snprintf(errbuf, errlen,
                           "%s: [adapter] %s of %s is required (a file "
                           "path or env:NAME)",
                           cfg_file(cfg), key, what);
            return AP_ECONFIG;
        }
        return AP_ENOTFOUND;
    }
    if (strncmp(spec, "env:", 4) == 0) {
        const char *v = getenv(spec + 4);

        if (v == NULL || v[0] == '\0') {
            (void)snprintf(errbuf, errlen, "%s:%d: %s: environment variable "
                           "%s is not set", cfg_file(cfg),
                           key_line(cfg, key), key, spec + 4);
            return AP_ECONFIG;
        }
        data = strdup(v);
        if (data == NULL) {
            return AP_ENOMEM;
        }
        *out = data;
        return AP_OK;
    }
    path = strncmp(spec, "file:", 5) == 0 ? spec + 5 : spec;
    rc = fileio_read(path, SUPPORT_MAX_SECRET, FILEIO_SECRET, &data, &n,
                     why, sizeof(why));
    if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s:%d: %s: cannot read %s",
                       cfg_file(cfg), key_line(cfg, key), key, why);
        rc = rc == AP_ENOMEM ? rc : AP_ECONFIG;
        goto out;
    }
    rc = AP_ECONFIG;
    {
        /* The first line is the secret; the rest of what was read (a
         * second line, a trailing newline) is wiped, not left behind the
         * NUL where adapter_secret_free would not see it. */
        size_t keep = strcspn(data, "\r\n");

        crypto_zeroize(data + keep, n - keep);
    }
    if (data[0] == '\0') {
        (void)snprintf(errbuf, errlen, "%s:%d: %s: %s is empty",
                       cfg_file(cfg), key_line(cfg, key), key, path);
        goto out;
    }
    adapter_check_private_file(path, what);
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        *out = data;
    } else {
        adapter_secret_free(data);
    }
    return rc;
}

void
adapter_secret_free(char *secret)
{
    if (secret != NULL) {
        crypto_zeroize(secret, strlen(secret));
        free(secret);
    }
}

ap_err
adapter_http_load(const struct config_section *cfg, const char *what,
                  struct adapter_http *out, char *errbuf, size_t errlen)
{
    struct adapter_http h;
    unsigned max_kb = 0;
    size_t n;
    ap_err rc;

    memset(&h, 0, sizeof(h));
    rc = adapter_conf_dup(cfg, "url", NULL, true, what, &h.url, errbuf,
                          errlen);
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "ca_file", NULL, false, what, &h.ca_file,
                              errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "client_cert", NULL, false, what,
                              &h.client_cert, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "client_key", NULL, false, what,
                              &h.client_key, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "timeout_ms", 100, 600000,
                               SUPPORT_DEFAULT_TIMEOUT_MS, &h.timeout_ms,
                               errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "connect_timeout_ms", 100, 600000,
                               h.timeout_ms < 10000 ? h.timeout_ms : 10000,
                               &h.connect_timeout_ms, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_uint(cfg, "max_response", 4, 65536,
                               SUPPORT_DEFAULT_MAX_RESPONSE / 1024, &max_kb,
                               errbuf, errlen);
        h.max_response = (size_t)max_kb * 1024;
    }
    if (rc == AP_OK) {
        rc = adapter_conf_bool(cfg, "allow_http", false, &h.allow_http,
                               errbuf, errlen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    n = strlen(h.url);
    while (n > 0 && h.url[n - 1] == '/') {
        h.url[--n] = '\0';
    }
    if (strncmp(h.url, "https://", 8) != 0 &&
        !(h.allow_http && strncmp(h.url, "http://", 7) == 0)) {
        (void)snprintf(errbuf, errlen, "%s:%d: url of %s must start with "
                       "https:// (allow_http = yes for plain http)",
                       cfg_file(cfg), key_line(cfg, "url"), what);
        rc = AP_ECONFIG;
        goto out;
    }
    if ((h.client_cert == NULL) != (h.client_key == NULL)) {
        (void)snprintf(errbuf, errlen, "%s: client_cert and client_key of "
                       "%s go together", cfg_file(cfg), what);
        rc = AP_ECONFIG;
        goto out;
    }
    if (h.client_key != NULL) {
        FILE *f = fopen(h.client_key, "re");

        if (f == NULL) {
            (void)snprintf(errbuf, errlen, "%s:%d: client_key: cannot read "
                           "%s: %s", cfg_file(cfg),
                           key_line(cfg, "client_key"), h.client_key,
                           strerror(errno));
            rc = AP_ECONFIG;
            goto out;
        }
        fclose(f);
        adapter_check_private_file(h.client_key, what);
    }
    rc = AP_OK;
out:
    if (rc == AP_OK) {
        *out = h;
    } else {
        adapter_http_fini(&h);
    }
    return rc;
}

void
adapter_http_fini(struct adapter_http *h)
{
    if (h == NULL) {
        return;
    }
    free(h->url);
    free(h->ca_file);
    free(h->client_cert);
    free(h->client_key);
    memset(h, 0, sizeof(*h));
}

void
adapter_http_call(const struct adapter_http *h, struct httpc_call *call,
                  const char *method, const char *url)
{
    memset(call, 0, sizeof(*call));
    call->method = method;
    call->url = url;
    call->ca_file = h->ca_file;
    call->client_cert = h->client_cert;
    call->client_key = h->client_key;
    call->timeout_ms = h->timeout_ms;
    call->connect_timeout_ms = h->connect_timeout_ms;
    call->max_body = h->max_response;
    call->allow_http = h->allow_http;
}

enum adapter_outcome
adapter_fail(struct adapter_result *res, enum adapter_outcome outcome,
             const char *problem_type, const char *fmt, ...)
{
    char text[SUPPORT_DETAIL_MAX];
    va_list ap;
    size_t n;
    size_t i = 0;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* A PKI's words end up in logs and problem documents: one line of
     * printable, well-formed UTF-8 (the cap above may cut a sequence, and
     * a PKI may send any bytes). */
    n = strlen(text);
    while (i < n) {
        unsigned char c = (unsigned char)text[i];
        size_t l;

        if (c < 0x20 || c == 0x7f) {
            text[i++] = ' ';
            continue;
        }
        l = json_utf8_len((const unsigned char *)text + i, n - i);
        if (l == 0) {
            text[i++] = '?';
            continue;
        }
        i += l;
    }
    free(res->detail);
    res->detail = strdup(text);
    if (outcome == ADAPTER_REJECTED) {
        res->problem_type =
            problem_type != NULL ? problem_type : ADAPTER_PROB_REJECTED;
    }
    return outcome;
}

enum adapter_outcome
adapter_status_outcome(long status)
{
    if (status == 0 || status == 408 || status == 429 || status >= 500) {
        return ADAPTER_RETRY;
    }
    return ADAPTER_REJECTED;
}

const char *
adapter_reason_name(int reason)
{
    static const char *const names[] = {
        "UNSPECIFIED",          "KEY_COMPROMISE",
        "CA_COMPROMISE",        "AFFILIATION_CHANGED",
        "SUPERSEDED",           "CESSATION_OF_OPERATION",
        "CERTIFICATE_HOLD",     NULL,
        "REMOVE_FROM_CRL",      "PRIVILEGES_WITHDRAWN",
        "AA_COMPROMISE",
    };

    if (reason < 0 || reason > 10) {
        return NULL;
    }
    return names[reason];
}

/* Decimal text of a hex string (serials of up to 160 bits and more). */
char *
adapter_hex_to_dec(const char *hex)
{
    unsigned char dig[128]; /* decimal digits, least significant first */
    size_t nd = 1;
    char *out;

    memset(dig, 0, sizeof(dig));
    for (const char *p = hex; *p != '\0'; p++) {
        int v = isdigit((unsigned char)*p) ? *p - '0'
                : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10
                                           : -1;
        int carry;

        if (v < 0) {
            return NULL;
        }
        carry = v;
        for (size_t i = 0; i < nd; i++) {
            int x = dig[i] * 16 + carry;

            dig[i] = (unsigned char)(x % 10);
            carry = x / 10;
        }
        while (carry > 0) {
            if (nd >= sizeof(dig)) {
                return NULL;
            }
            dig[nd++] = (unsigned char)(carry % 10);
            carry /= 10;
        }
    }
    while (nd > 1 && dig[nd - 1] == 0) {
        nd--;
    }
    out = malloc(nd + 1);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < nd; i++) {
        out[i] = (char)('0' + dig[nd - 1 - i]);
    }
    out[nd] = '\0';
    return out;
}


long long
adapter_renew_at(long long now, long long lease_sec)
{
    long long delay = 300;

    if (lease_sec > 0) {
        /* Divide first: no lease, however long, overflows here. */
        delay = lease_sec / 3 * 2 + (lease_sec % 3) * 2 / 3;
    }
    if (now > LLONG_MAX - delay) {
        return LLONG_MAX;
    }
    return now + delay;
}
