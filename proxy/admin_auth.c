/* proxy/admin_auth.c: the admin API's bearer tokens (admin_auth.h). */
#include "proxy/admin_auth.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"

struct admin_token {
    char name[ADMIN_TOKEN_NAME_MAX + 1];
    unsigned char hash[CRYPTO_SHA256_LEN];
};

struct admin_tokens {
    size_t n;
    struct admin_token tok[ADMIN_TOKENS_MAX];
};

static bool
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
 * "+" / "/" ) *"=". */
static bool
b64token_ok(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        char c = s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~' || c == '+' || c == '/') {
            i++;
            continue;
        }
        break;
    }
    if (i == 0) {
        return false;
    }
    while (i < len && s[i] == '=') {
        i++;
    }
    return i == len;
}

ap_err
admin_tokens_parse(const char *text, size_t len, struct admin_tokens **out,
                   char *errbuf, size_t errlen)
{
    struct admin_tokens *t;
    size_t pos = 0;
    unsigned line = 0;
    ap_err rc = AP_ECONFIG;

    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return AP_ENOMEM;
    }
    while (pos < len) {
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t ll = nl != NULL ? (size_t)(nl - l) : len - pos;
        const char *colon;
        size_t nlen;
        size_t tlen;

        pos += ll + (nl != NULL ? 1 : 0);
        line++;
        if (ll > 0 && l[ll - 1] == '\r') {
            ll--;
        }
        if (ll == 0 || l[0] == '#') {
            continue;
        }
        colon = memchr(l, ':', ll);
        if (colon == NULL) {
            (void)snprintf(errbuf, errlen, "line %u: not NAME:TOKEN", line);
            goto out;
        }
        nlen = (size_t)(colon - l);
        tlen = ll - nlen - 1;
        if (nlen == 0 || nlen > ADMIN_TOKEN_NAME_MAX) {
            (void)snprintf(errbuf, errlen, "line %u: the name must be 1 to "
                           "%d characters", line, ADMIN_TOKEN_NAME_MAX);
            goto out;
        }
        for (size_t i = 0; i < nlen; i++) {
            if (!name_char(l[i])) {
                (void)snprintf(errbuf, errlen, "line %u: the name takes "
                               "[A-Za-z0-9._-] only", line);
                goto out;
            }
        }
        if (tlen < ADMIN_TOKEN_MIN || tlen > ADMIN_TOKEN_MAX ||
            !b64token_ok(colon + 1, tlen)) {
            (void)snprintf(errbuf, errlen, "line %u: the token must be %d "
                           "to %d characters of [A-Za-z0-9-._~+/] (then "
                           "'='s)", line, ADMIN_TOKEN_MIN, ADMIN_TOKEN_MAX);
            goto out;
        }
        for (size_t k = 0; k < t->n; k++) {
            if (strlen(t->tok[k].name) == nlen &&
                memcmp(t->tok[k].name, l, nlen) == 0) {
                (void)snprintf(errbuf, errlen, "line %u: name %.*s given "
                               "twice", line, (int)nlen, l);
                goto out;
            }
        }
        if (t->n >= ADMIN_TOKENS_MAX) {
            (void)snprintf(errbuf, errlen, "line %u: more than %d tokens",
                           line, ADMIN_TOKENS_MAX);
            goto out;
        }
        memcpy(t->tok[t->n].name, l, nlen);
        t->tok[t->n].name[nlen] = '\0';
        crypto_sha256(colon + 1, tlen, t->tok[t->n].hash);
        t->n++;
    }
    if (t->n == 0) {
        (void)snprintf(errbuf, errlen, "no token (lines NAME:TOKEN)");
        goto out;
    }
    rc = AP_OK;
out:
    if (rc != AP_OK) {
        admin_tokens_free(t);
        return rc;
    }
    *out = t;
    return AP_OK;
}

ap_err
admin_tokens_load(const char *path, struct admin_tokens **out, char *errbuf,
                  size_t errlen)
{
    struct stat st;
    char why[200];
    char *text = NULL;
    size_t len = 0;
    ap_err rc;

    *out = NULL;
    if (stat(path, &st) != 0) {
        (void)snprintf(errbuf, errlen, "[admin] token_file %s: cannot be "
                       "read", path);
        return AP_ECONFIG;
    }
    if ((st.st_mode & (S_IRWXO)) != 0) {
        (void)snprintf(errbuf, errlen, "[admin] token_file %s: others may "
                       "read or write it (mode %03o): make it 0600, owned "
                       "by the service user", path,
                       (unsigned)(st.st_mode & 0777));
        return AP_ECONFIG;
    }
    if ((st.st_mode & S_IRGRP) != 0) {
        log_warn("admin", "[admin] token_file %s is readable by its group "
                 "(mode %03o): make it 0600", path,
                 (unsigned)(st.st_mode & 0777));
    }
    rc = fileio_read(path, ADMIN_TOKEN_FILE_MAX, FILEIO_SECRET, &text, &len,
                     errbuf, errlen);
    if (rc != AP_OK) {
        return rc == AP_ENOMEM ? rc : AP_ECONFIG;
    }
    why[0] = '\0';
    rc = admin_tokens_parse(text, len, out, why, sizeof(why));
    fileio_free(text, len, FILEIO_SECRET);
    if (rc != AP_OK && rc != AP_ENOMEM) {
        (void)snprintf(errbuf, errlen, "[admin] token_file %s: %s", path,
                       why);
    }
    return rc;
}

void
admin_tokens_free(struct admin_tokens *t)
{
    if (t != NULL) {
        crypto_zeroize(t, sizeof(*t));
        free(t);
    }
}

const char *
admin_tokens_check(const struct admin_tokens *t, const char *authorization)
{
    unsigned char h[CRYPTO_SHA256_LEN];
    const char *tok;
    const char *name = NULL;
    size_t len;

    if (t == NULL || authorization == NULL ||
        strncasecmp(authorization, "Bearer ", 7) != 0) {
        return NULL;
    }
    tok = authorization + 7;
    len = strnlen(tok, ADMIN_TOKEN_MAX + 1);
    if (len < ADMIN_TOKEN_MIN || len > ADMIN_TOKEN_MAX ||
        !b64token_ok(tok, len)) {
        return NULL;
    }
    crypto_sha256(tok, len, h);
    /* Every stored hash is compared, whatever matched before. */
    for (size_t i = 0; i < t->n; i++) {
        if (crypto_ct_memcmp(h, t->tok[i].hash, sizeof(h)) == 0) {
            name = t->tok[i].name;
        }
    }
    crypto_zeroize(h, sizeof(h));
    return name;
}
