/* proxy/rec_cert.c: the certificate record's codec (rec_cert.h). */
#include "proxy/rec_cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/pem.h"
#include "common/x509.h"

/* Records with a chain reference or a leaf member are version 2: an
 * earlier version refuses them (AP_ESTORE) instead of serving the leaf
 * without its chain, or nothing. Version 1 (and no "v") is a record with
 * the whole PEM inline. Version 3 is version 2 with the short chain
 * reference (REC_CERT_CHAIN_REF hex digits); version 2's is the whole
 * SHA-256 (REC_CERT_CHAIN_HEX). */
#define CERT_VERSION_CHAIN 2
#define CERT_VERSION_SHORT 3
/* The stored layout of a record whose leaf is DER (rec_cert.h): its JSON
 * says "v" 4, so an earlier version refuses it rather than reading the
 * JSON before the NUL as a certificate without its leaf. */
#define CERT_VERSION_DER 4
#define CHAIN_KEY_MAX (sizeof(REC_CERT_CHAIN_PREFIX) + REC_CERT_CHAIN_HEX)

static const char *const status_names[] = { "valid", "revoked", "refused" };
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == CERT__MAX,
               "status_names must cover every certificate status");

static const char *const known[] = {
    "v", "id", "account", "order", "serial", "status", "notAfter", "issued",
    "adapter", "adapterName", "pkiRef", "refused", "revokedAtPki", "pem", "reason",
    "revokedAt", "replacedBy", "chain", "leaf", NULL
};

const char *
cert_status_name(enum cert_status s)
{
    return (unsigned)s < CERT__MAX ? status_names[s] : "refused";
}

void
rec_cert_fini(struct cert *c)
{
    free(c->pki_ref);
    free(c->refused);
    free(c->pem);
    cJSON_Delete(c->extra);
    memset(c, 0, sizeof(*c));
    c->reason = -1;
}

/* A leaf stored as "leaf": the base64url of its DER, when pem is exactly
 * one certificate in the PEM that pem_encode writes (64-column lines, one
 * "\n" each), so that decoding makes the same text again; NULL (keep
 * "pem") otherwise, and when out of memory. */
static char *
leaf_b64(const char *pem)
{
    unsigned char *der = NULL;
    size_t len = 0;
    char *again = NULL;
    char *b64 = NULL;

    if (strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) != 0 ||
        x509_pem_cert_to_der(pem, &der, &len) != AP_OK) {
        return NULL;
    }
    again = pem_encode(der, len, "CERTIFICATE");
    if (again != NULL && strcmp(again, pem) == 0) {
        b64 = b64url_encode_alloc(der, len);
    }
    free(again);
    free(der);
    return b64;
}

/* The PEM of a stored "leaf" (base64url DER) into *out. */
static void
leaf_pem(struct rec_reader *r, const char *leaf, char **out)
{
    unsigned char *der = NULL;
    size_t len = 0;

    if (b64url_decode_alloc(leaf, strlen(leaf), &der, &len) != AP_OK ||
        len == 0) {
        free(der);
        rec_read_fail(r, "member \"leaf\" is not base64url");
        return;
    }
    *out = pem_encode(der, len, "CERTIFICATE");
    free(der);
    if (*out == NULL && r->rc == AP_OK) {
        r->rc = AP_ENOMEM;
        (void)snprintf(r->why, sizeof(r->why), "out of memory");
    }
}

/* A chain reference: REC_CERT_CHAIN_HEX or REC_CERT_CHAIN_REF lower-case
 * hex digits. */
static bool
chain_hex_ok(const char *hex)
{
    size_t i;

    for (i = 0; hex[i] != '\0'; i++) {
        if (!((hex[i] >= '0' && hex[i] <= '9') ||
              (hex[i] >= 'a' && hex[i] <= 'f'))) {
            return false;
        }
    }
    return i == REC_CERT_CHAIN_HEX || i == REC_CERT_CHAIN_REF;
}

ap_err
rec_cert_decode(const cJSON *obj, struct cert *out, char *why, size_t whylen)
{
    struct rec_reader r;
    long long reason = 0;
    bool has_reason = false;
    int status = CERT_REFUSED;

    long long version = 0;
    bool has_version = false;
    char *leaf = NULL;
    bool has_leaf = false;

    memset(out, 0, sizeof(*out));
    out->reason = -1;
    rec_read_begin(&r, obj);
    rec_read_int(&r, obj, "v", 1, CERT_VERSION_SHORT, &version,
                 &has_version);
    rec_read_buf(&r, obj, "id", out->id, sizeof(out->id));
    rec_read_buf(&r, obj, "account", out->account, sizeof(out->account));
    rec_read_buf(&r, obj, "order", out->order, sizeof(out->order));
    rec_read_buf(&r, obj, "serial", out->serial, sizeof(out->serial));
    rec_read_enum(&r, obj, "status", status_names, CERT__MAX, CERT_REFUSED,
                  &status);
    rec_read_int(&r, obj, "notAfter", 0, REC_TIME_MAX, &out->not_after,
                 NULL);
    rec_read_int(&r, obj, "issued", 0, REC_TIME_MAX, &out->issued, NULL);
    rec_read_buf(&r, obj, "adapter", out->adapter, sizeof(out->adapter));
    rec_read_buf(&r, obj, "adapterName", out->adapter_name,
                 sizeof(out->adapter_name));
    rec_read_str(&r, obj, "pkiRef", REC_MAX_TEXT, &out->pki_ref);
    rec_read_str(&r, obj, "refused", REC_MAX_TEXT, &out->refused);
    rec_read_bool(&r, obj, "revokedAtPki", &out->revoked_at_pki);
    rec_read_str(&r, obj, "pem", REC_MAX_BLOB, &out->pem);
    rec_read_str(&r, obj, "leaf", REC_MAX_BLOB, &leaf);
    if (r.rc == AP_OK && leaf != NULL) {
        if (out->pem != NULL) {
            rec_read_fail(&r, "both \"pem\" and \"leaf\"");
        } else {
            leaf_pem(&r, leaf, &out->pem);
        }
    }
    has_leaf = leaf != NULL;
    free(leaf);
    rec_read_int(&r, obj, "reason", 0, 10, &reason, &has_reason);
    rec_read_int(&r, obj, "revokedAt", 0, REC_TIME_MAX, &out->revoked_at,
                 NULL);
    rec_read_buf(&r, obj, "replacedBy", out->replaced_by,
                 sizeof(out->replaced_by));
    rec_read_buf(&r, obj, "chain", out->chain, sizeof(out->chain));
    if (r.rc == AP_OK && out->chain[0] != '\0' && !chain_hex_ok(out->chain)) {
        rec_read_fail(&r, "member \"chain\" is not a SHA-256 in hex");
    }
    if (r.rc == AP_OK && (out->chain[0] != '\0' || has_leaf) !=
                             (has_version && version >= CERT_VERSION_CHAIN)) {
        rec_read_fail(&r, "version %lld with%s a chain or a leaf", version,
                      out->chain[0] != '\0' || has_leaf ? "" : "out");
    }
    if (r.rc == AP_OK && version >= CERT_VERSION_CHAIN &&
        (strlen(out->chain) == REC_CERT_CHAIN_REF) !=
            (version == CERT_VERSION_SHORT)) {
        rec_read_fail(&r, "version %lld with a chain reference of %zu "
                          "digits", version, strlen(out->chain));
    }
    rec_read_extra(&r, obj, known, &out->extra);
    out->status = (enum cert_status)status;
    out->reason = has_reason ? (int)reason : -1;
    if (r.rc != AP_OK && why != NULL && whylen > 0) {
        (void)snprintf(why, whylen, "%s", r.why);
    }
    return r.rc;
}

ap_err
rec_cert_encode(const struct cert *c, cJSON **out)
{
    struct rec_writer w = { AP_OK };
    cJSON *obj = rec_write_object(&w);

    *out = NULL;
    char *leaf = c->pem != NULL ? leaf_b64(c->pem) : NULL;

    rec_put_int(&w, obj, "v",
                strlen(c->chain) == REC_CERT_CHAIN_REF ? CERT_VERSION_SHORT
                : c->chain[0] != '\0' || leaf != NULL ? CERT_VERSION_CHAIN
                                                      : REC_VERSION);
    rec_put_str(&w, obj, "id", c->id);
    rec_put_str(&w, obj, "account", c->account);
    rec_put_str(&w, obj, "order", c->order);
    rec_put_str(&w, obj, "serial", c->serial);
    rec_put_str(&w, obj, "status", cert_status_name(c->status));
    rec_put_int(&w, obj, "notAfter", c->not_after);
    rec_put_int(&w, obj, "issued", c->issued);
    rec_put_str(&w, obj, "adapter", c->adapter);
    /* absent reads as "": the default adapter, by that name as well */
    if (c->adapter_name[0] != '\0' &&
        strcmp(c->adapter_name, CONFIG_DEFAULT_ADAPTER) != 0) {
        rec_put_str(&w, obj, "adapterName", c->adapter_name);
    }
    rec_put_str(&w, obj, "pkiRef", c->pki_ref);
    if (c->refused != NULL) {
        rec_put_str(&w, obj, "refused", c->refused);
        rec_put_bool(&w, obj, "revokedAtPki", c->revoked_at_pki);
    }
    if (leaf != NULL) {
        rec_put_str(&w, obj, "leaf", leaf);
        free(leaf);
    } else {
        rec_put_str(&w, obj, "pem", c->pem != NULL ? c->pem : "");
    }
    if (c->chain[0] != '\0') {
        rec_put_str(&w, obj, "chain", c->chain);
    }
    if (c->reason >= 0) {
        rec_put_int(&w, obj, "reason", c->reason);
    }
    if (c->revoked_at != 0) {
        rec_put_int(&w, obj, "revokedAt", c->revoked_at);
    }
    if (c->replaced_by[0] != '\0') {
        rec_put_str(&w, obj, "replacedBy", c->replaced_by);
    }
    rec_put_extra(&w, obj, c->extra);
    if (w.rc != AP_OK) {
        cJSON_Delete(obj);
        return w.rc;
    }
    *out = obj;
    return AP_OK;
}

/* "chain/<hex>" into key. */
static void
chain_key(const char *hex, char key[CHAIN_KEY_MAX])
{
    (void)snprintf(key, CHAIN_KEY_MAX, "%s%s", REC_CERT_CHAIN_PREFIX, hex);
}

/* The SHA-256 of len bytes of text in lower-case hex. */
static void
chain_hash(const char *text, size_t len, char hex[REC_CERT_CHAIN_HEX + 1])
{
    unsigned char h[32];

    crypto_sha256(text, len, h);
    for (size_t i = 0; i < sizeof(h); i++) {
        (void)snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
}

/* leaf then the chain hex names (STORE_META), as a new string in *out.
 * Certificate id (for the log) refers to it; a chain that is not there or
 * whose SHA-256 does not begin with hex (the whole hash, or the short
 * reference) is AP_ESTORE. */
static ap_err
with_chain(struct store_txn *txn, const char *id, const char *hex,
           const char *leaf, char **out)
{
    char key[CHAIN_KEY_MAX];
    char got[REC_CERT_CHAIN_HEX + 1];
    char why[200];
    char *chain = NULL;
    size_t len = 0;
    size_t leaf_len = leaf != NULL ? strlen(leaf) : 0;
    ap_err rc;

    *out = NULL;
    chain_key(hex, key);
    rc = store_get(txn, STORE_META, key, &chain, &len);
    if (rc == AP_ENOTFOUND) {
        (void)snprintf(why, sizeof(why), "its chain %s is not in meta", hex);
        return rec_bad("certs", id, why);
    }
    if (rc != AP_OK) {
        return rc;
    }
    chain_hash(chain, len, got);
    if (strlen(chain) != len || strncmp(got, hex, strlen(hex)) != 0) {
        free(chain);
        (void)snprintf(why, sizeof(why), "its chain %s does not match", hex);
        return rec_bad("certs", id, why);
    }
    *out = malloc(leaf_len + len + 1);
    if (*out == NULL) {
        free(chain);
        return AP_ENOMEM;
    }
    memcpy(*out, leaf != NULL ? leaf : "", leaf_len);
    memcpy(*out + leaf_len, chain, len + 1);
    free(chain);
    return AP_OK;
}

/* Where the leaf of pem ends: just after its first END CERTIFICATE line
 * and that line's end ("\n" or "\r\n"); strlen(pem) when there is none. */
static size_t
leaf_end(const char *pem)
{
    static const char marker[] = "-----END CERTIFICATE-----";
    const char *e = strstr(pem, marker);
    size_t n;

    if (e == NULL) {
        return strlen(pem);
    }
    n = (size_t)(e - pem) + sizeof(marker) - 1;
    if (pem[n] == '\r' && pem[n + 1] == '\n') {
        n++;
    }
    if (pem[n] == '\n') {
        n++;
    }
    return n;
}

/* Stores chain (its hash hex, or the short reference) in STORE_META unless
 * it is there: one copy per chain. A stored one that differs is AP_ESTORE
 * (two chains whose hashes begin alike: the certificate is not stored,
 * never served with another chain). */
static ap_err
chain_store(struct store_txn *txn, const char *hex, const char *chain)
{
    char key[CHAIN_KEY_MAX];
    char *have = NULL;
    size_t len = 0;
    ap_err rc;

    chain_key(hex, key);
    rc = store_get(txn, STORE_META, key, &have, &len);
    if (rc == AP_OK) {
        rc = len == strlen(chain) && memcmp(have, chain, len) == 0
                 ? AP_OK
                 : rec_bad("meta", key, "a chain that does not match its hash");
        free(have);
        return rc;
    }
    if (rc != AP_ENOTFOUND) {
        return rc;
    }
    return store_put(txn, STORE_META, key, chain, strlen(chain), true);
}

ap_err
rec_cert_expand(struct store_txn *txn, const char *key, cJSON *obj)
{
    struct cert c;
    char why[200];
    char *full = NULL;
    cJSON *pem = NULL;
    cJSON *v = NULL;
    ap_err rc;

    if (!cJSON_HasObjectItem(obj, "chain") &&
        !cJSON_HasObjectItem(obj, "leaf")) {
        return AP_OK;
    }
    rc = rec_cert_decode(obj, &c, why, sizeof(why));
    if (rc == AP_ESTORE) {
        rc = rec_bad("certs", key, why);
    }
    if (rc == AP_OK && c.chain[0] != '\0') {
        rc = with_chain(txn, key, c.chain, c.pem, &full);
    }
    if (rc == AP_OK) {
        pem = cJSON_CreateString(full != NULL ? full
                                              : c.pem != NULL ? c.pem : "");
        v = cJSON_CreateNumber(REC_VERSION);
        rc = pem != NULL && v != NULL ? AP_OK : AP_ENOMEM;
    }
    if (rc == AP_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "chain");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "leaf");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "pem");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "v");
        /* constant names: nothing to allocate */
        if (cJSON_AddItemToObjectCS(obj, "v", v)) {
            v = NULL;
        }
        if (cJSON_AddItemToObjectCS(obj, "pem", pem)) {
            pem = NULL;
        }
        rc = v == NULL && pem == NULL ? AP_OK : AP_ENOMEM;
    }
    cJSON_Delete(pem);
    cJSON_Delete(v);
    free(full);
    rec_cert_fini(&c);
    return rc;
}

ap_err
rec_cert_leaf_der(const cJSON *obj, unsigned char **der, size_t *len)
{
    const char *leaf = NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "leaf");

    *der = NULL;
    *len = 0;
    if (cJSON_IsString(m)) {
        leaf = m->valuestring;
        return b64url_decode_alloc(leaf, strlen(leaf), der, len) == AP_OK
                   ? AP_OK
                   : AP_EPARSE;
    }
    m = cJSON_GetObjectItemCaseSensitive(obj, "pem");
    return x509_pem_cert_to_der(cJSON_IsString(m) ? m->valuestring : "",
                                der, len);
}

ap_err
rec_cert_get(struct store_txn *txn, const char *id, struct cert *out)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    out->reason = -1;
    rc = rec_cert_get_json(txn, id, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    rc = rec_cert_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        rc = rec_bad("certs", id, why);
    }
    if (rc == AP_OK && out->chain[0] != '\0') {
        char *full = NULL;

        rc = with_chain(txn, id, out->chain, out->pem, &full);
        if (rc == AP_OK) {
            free(out->pem);
            out->pem = full;
        }
    }
    if (rc != AP_OK) {
        rec_cert_fini(out);
    }
    return rc;
}

ap_err
rec_cert_by_serial(struct store_txn *txn, const char *serial,
                   struct cert *out)
{
    char *id = NULL;
    ap_err rc;

    memset(out, 0, sizeof(*out));
    out->reason = -1;
    rc = store_get(txn, STORE_SERIALS, serial, &id, NULL);
    if (rc == AP_OK) {
        rc = rec_cert_get(txn, id, out);
    }
    free(id);
    return rc;
}

/* Writes obj (rec_cert_encode's, with a "leaf") in the DER layout: its
 * JSON without "leaf" and "id" and with "v" 4, a NUL, the leaf's DER. */
static ap_err
put_der(struct store_txn *txn, const char *key, cJSON *obj, bool exclusive)
{
    const cJSON *leaf = cJSON_GetObjectItemCaseSensitive(obj, "leaf");
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *text = NULL;
    char *val = NULL;
    size_t tlen;
    cJSON *v;
    ap_err rc;

    if (!cJSON_IsString(leaf) ||
        b64url_decode_alloc(leaf->valuestring, strlen(leaf->valuestring),
                            &der, &der_len) != AP_OK ||
        der_len == 0) {
        free(der);
        return AP_EINTERNAL;
    }
    v = cJSON_CreateNumber(CERT_VERSION_DER);
    if (v == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(obj, "v", v)) {
        cJSON_Delete(v);
        free(der);
        return AP_ENOMEM;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "leaf");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "id");
    text = json_print(obj);
    tlen = text != NULL ? strlen(text) : 0;
    val = text != NULL ? malloc(tlen + 1 + der_len) : NULL;
    rc = val != NULL ? AP_OK : AP_ENOMEM;
    if (rc == AP_OK) {
        memcpy(val, text, tlen);
        val[tlen] = '\0';
        memcpy(val + tlen + 1, der, der_len);
        rc = store_put(txn, STORE_CERTS, key, val, tlen + 1 + der_len,
                       exclusive);
    }
    free(val);
    free(text);
    free(der);
    return rc;
}

ap_err
rec_cert_put(struct store_txn *txn, const char *key, const struct cert *c,
             bool exclusive)
{
    struct cert s = *c;       /* shallow: s.pem is the only change */
    const char *pem = c->pem != NULL ? c->pem : "";
    size_t n = leaf_end(pem);
    char *leaf = NULL;
    cJSON *obj = NULL;
    ap_err rc = AP_OK;

    s.chain[0] = '\0';
    if (pem[n] != '\0') {
        chain_hash(pem + n, strlen(pem + n), s.chain);
        s.chain[REC_CERT_CHAIN_REF] = '\0';
        rc = chain_store(txn, s.chain, pem + n);
        if (rc == AP_OK) {
            leaf = strndup(pem, n);
            rc = leaf != NULL ? AP_OK : AP_ENOMEM;
        }
        s.pem = leaf;
    }
    if (rc == AP_OK) {
        rc = rec_cert_encode(&s, &obj);
    }
    if (rc == AP_OK && cJSON_HasObjectItem(obj, "leaf")) {
        rc = put_der(txn, key, obj, exclusive);
    } else if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_CERTS, key, obj, exclusive);
    }
    cJSON_Delete(obj);
    free(leaf);
    return rc;
}

ap_err
rec_cert_parse(const char *key, const char *val, size_t len, cJSON **out)
{
    const char *nul = memchr(val, '\0', len);
    size_t jlen = nul != NULL ? (size_t)(nul - val) : len;
    const cJSON *v;
    const cJSON *chain;
    cJSON *obj;
    cJSON *item = NULL;
    char *b64 = NULL;
    const char *why = NULL;

    *out = NULL;
    obj = cJSON_ParseWithLength(val, jlen);
    if (obj == NULL || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return rec_bad("certs", key, "not a JSON object");
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "v");
    if (nul == NULL) {
        if (cJSON_IsNumber(v) && v->valuedouble == CERT_VERSION_DER) {
            why = "version 4 without its leaf";
        }
    } else if (!cJSON_IsNumber(v) || v->valuedouble != CERT_VERSION_DER) {
        why = "a leaf after the JSON of a record not of version 4";
    } else if (cJSON_HasObjectItem(obj, "leaf") ||
               cJSON_HasObjectItem(obj, "pem")) {
        why = "version 4 with a leaf or pem member";
    } else if (len - jlen - 1 == 0 || len - jlen - 1 > REC_MAX_BLOB) {
        why = "version 4 with an empty or oversized leaf";
    } else {
        b64 = b64url_encode_alloc((const unsigned char *)nul + 1,
                                  len - jlen - 1);
        chain = cJSON_GetObjectItemCaseSensitive(obj, "chain");
        /* the JSON form it stands for: "leaf", and "v" as rec_cert_encode
         * says it (3 with a chain reference, 2 without) */
        if (b64 == NULL || !cJSON_AddStringToObject(obj, "leaf", b64) ||
            (item = cJSON_CreateNumber(cJSON_IsString(chain)
                                           ? CERT_VERSION_SHORT
                                           : CERT_VERSION_CHAIN)) == NULL ||
            !cJSON_ReplaceItemInObjectCaseSensitive(obj, "v", item)) {
            cJSON_Delete(item);
            free(b64);
            cJSON_Delete(obj);
            return AP_ENOMEM;
        }
        free(b64);
    }
    if (why != NULL) {
        cJSON_Delete(obj);
        return rec_bad("certs", key, why);
    }
    /* a record of version 4 leaves its key out */
    if (!cJSON_HasObjectItem(obj, "id")) {
        if (strlen(key) > REC_MAX_ID) {
            cJSON_Delete(obj);
            return rec_bad("certs", key, "a key longer than an id");
        }
        if (!cJSON_AddStringToObject(obj, "id", key)) {
            cJSON_Delete(obj);
            return AP_ENOMEM;
        }
    }
    *out = obj;
    return AP_OK;
}

ap_err
rec_cert_get_json(struct store_txn *txn, const char *key, cJSON **out)
{
    char *val = NULL;
    size_t len = 0;
    ap_err rc;

    *out = NULL;
    rc = store_get(txn, STORE_CERTS, key, &val, &len);
    if (rc == AP_OK) {
        rc = rec_cert_parse(key, val, len, out);
    }
    free(val);
    return rc;
}
