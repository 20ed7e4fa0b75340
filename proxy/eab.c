/* proxy/eab.c: EAB keys and the externalAccountBinding check. The
 * binding is parsed by proxy/jws.c's jws_parse (the shape every flattened
 * JWS shares, alg HS256/384/512); what is EAB's own is the verifier
 * below: kid, url, no nonce, the account key as payload, the MAC. */
#include "proxy/eab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/jwk.h"
#include "common/id.h"
#include "common/json.h"
#include "common/netpolicy.h"
#include "common/timeutil.h"
#include "proxy/audit.h"
#include "proxy/ident.h"
#include "proxy/jws.h"
#include "proxy/problem.h"

#define EAB_HMAC_RAW 32
#define EAB_MAX_MEMBER 4096

/* Removes the MAC key from a record, wiping its bytes first. */
static void
wipe_hmac(cJSON *rec)
{
    const char *h = json_str(rec, "hmac", NULL);

    if (h != NULL) {
        crypto_zeroize((void *)(uintptr_t)h, strlen(h));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "hmac");
}

void
eab_record_free(cJSON *rec)
{
    if (rec != NULL) {
        wipe_hmac(rec);
        cJSON_Delete(rec);
    }
}

/* Copies a policy list member after checking each entry with ok(). */
static ap_err
copy_list(const cJSON *policy, const char *key, cJSON *rec,
          bool (*ok)(const struct config *, const char *, const char **),
          const struct config *cfg, char *errbuf, size_t errlen)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(policy, key);
    const cJSON *it;
    cJSON *copy;

    if (list == NULL) {
        return AP_OK;
    }
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0 ||
        cJSON_GetArraySize(list) > 64) {
        snprintf(errbuf, errlen, "%s must be a list of 1 to 64 entries", key);
        return AP_EINVAL;
    }
    cJSON_ArrayForEach(it, list) {
        const char *why = "not a string";

        if (!cJSON_IsString(it) || !ok(cfg, it->valuestring, &why)) {
            snprintf(errbuf, errlen, "%s: %.100s: %s", key,
                     cJSON_IsString(it) ? it->valuestring : "?", why);
            return AP_EINVAL;
        }
    }
    copy = cJSON_Duplicate(list, 1);
    if (copy == NULL || !cJSON_AddItemToObject(rec, key, copy)) {
        cJSON_Delete(copy);
        return AP_ENOMEM;
    }
    return AP_OK;
}

static bool
name_ok(const struct config *cfg, const char *s, const char **why)
{
    char norm[IDENT_MAX_DNS + 1];

    (void)cfg;
    /* ".example.com" allows names below it; "host.example.com" itself. */
    if (s[0] == '.') {
        s++;
    }
    return ident_dns_normalize_ex(s, norm, sizeof(norm), true, why) ==
               AP_OK &&
           strcmp(norm, s) == 0;
}

/* A pre-authorised name: as allow_names, but a ".suffix" needs two labels
 * at least (".corp" or ".com" would hand out whole namespaces). */
static bool
preauth_ok(const struct config *cfg, const char *s, const char **why)
{
    if (!name_ok(cfg, s, why)) {
        return false;
    }
    if (s[0] == '.' && strchr(s + 1, '.') == NULL) {
        *why = "a suffix needs two labels at least";
        return false;
    }
    return true;
}

static bool
cidr_ok(const struct config *cfg, const char *s, const char **why)
{
    struct netpolicy_cidr c;

    (void)cfg;
    return netpolicy_parse_cidr(s, &c, why) == AP_OK;
}

static bool
profile_ok(const struct config *cfg, const char *s, const char **why)
{
    *why = "no such profile in the configuration";
    return config_profile_find(cfg, s) != NULL;
}

/* policy's "default_profile" (the profile of orders that name none, for
 * the key's accounts) into rec: a configured profile, and one of the
 * key's "profiles" when it lists some (rec holds them already). */
static ap_err
copy_default_profile(const cJSON *policy, cJSON *rec,
                     const struct config *cfg, char *errbuf, size_t errlen)
{
    const cJSON *d = policy != NULL
                         ? cJSON_GetObjectItemCaseSensitive(policy,
                                                            "default_profile")
                         : NULL;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(rec, "profiles");
    const cJSON *it;
    bool listed = !cJSON_IsArray(list);

    if (d == NULL) {
        return AP_OK;
    }
    if (!cJSON_IsString(d) || config_profile_find(cfg, d->valuestring) ==
                                  NULL) {
        snprintf(errbuf, errlen, "default_profile: %.100s: no such profile "
                 "in the configuration",
                 cJSON_IsString(d) ? d->valuestring : "?");
        return AP_EINVAL;
    }
    cJSON_ArrayForEach(it, list) {
        listed |= cJSON_IsString(it) &&
                  strcmp(it->valuestring, d->valuestring) == 0;
    }
    if (!listed) {
        snprintf(errbuf, errlen, "default_profile: %.100s is not one of the "
                 "key's profiles", d->valuestring);
        return AP_EINVAL;
    }
    return cJSON_AddStringToObject(rec, "default_profile", d->valuestring) !=
                   NULL
               ? AP_OK
               : AP_ENOMEM;
}

ap_err
eab_create(struct store *st, const struct config *cfg, const char *label,
           const cJSON *policy, const struct audit_note *note, char *kid,
           size_t kidlen, char *hmac, size_t hmaclen, char *errbuf,
           size_t errlen)
{
    unsigned char raw[EAB_HMAC_RAW];
    struct store_txn *txn = NULL;
    cJSON *rec = NULL;
    long long days = 0;
    ap_err rc;

    if (label == NULL || label[0] == '\0' || strlen(label) > 64) {
        snprintf(errbuf, errlen, "label must be 1 to 64 characters");
        return AP_EINVAL;
    }
    if (policy != NULL &&
        json_get_int(policy, "max_validity_days", 1, 3650, &days) ==
            AP_EPARSE) {
        snprintf(errbuf, errlen, "max_validity_days must be 1 to 3650");
        return AP_EINVAL;
    }
    rec = cJSON_CreateObject();
    if (rec == NULL) {
        return AP_ENOMEM;
    }
    rc = copy_list(policy, "allow_names", rec, name_ok, cfg, errbuf, errlen);
    if (rc == AP_OK) {
        rc = copy_list(policy, "allow_ips", rec, cidr_ok, cfg, errbuf,
                       errlen);
    }
    if (rc == AP_OK) {
        rc = copy_list(policy, "profiles", rec, profile_ok, cfg, errbuf,
                       errlen);
    }
    if (rc == AP_OK) {
        /* Names the team owns that need no challenge (docs/admin.md). */
        rc = copy_list(policy, "preauthorized", rec, preauth_ok, cfg, errbuf,
                       errlen);
    }
    if (rc == AP_OK) {
        rc = copy_default_profile(policy, rec, cfg, errbuf, errlen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = id_random(kid, kidlen);
    if (rc == AP_OK) {
        rc = crypto_random(raw, sizeof(raw));
    }
    if (rc == AP_OK) {
        rc = b64url_encode(raw, sizeof(raw), hmac, hmaclen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    cJSON_AddNumberToObject(rec, "v", 1);
    cJSON_AddStringToObject(rec, "kid", kid);
    cJSON_AddStringToObject(rec, "label", label);
    cJSON_AddStringToObject(rec, "hmac", hmac);
    cJSON_AddNumberToObject(rec, "created", (double)time_now());
    cJSON_AddNumberToObject(rec, "revoked", 0);
    cJSON_AddArrayToObject(rec, "accounts");
    if (days > 0) {
        cJSON_AddNumberToObject(rec, "max_validity_days", (double)days);
    }
    rc = store_begin(st, true, &txn);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_EAB, kid, rec, true);
    }
    if (rc == AP_OK && note != NULL) {
        /* The record of the key, with its new id: never the HMAC key. */
        cJSON *f = note->fields != NULL ? cJSON_Duplicate(note->fields, 1)
                                        : cJSON_CreateObject();
        struct audit_note n = *note;

        rc = f != NULL && cJSON_AddStringToObject(f, "kid", kid) != NULL
                 ? AP_OK
                 : AP_ENOMEM;
        n.fields = f;
        if (rc == AP_OK) {
            rc = audit_note_put(txn, &n);
        }
        cJSON_Delete(f);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
out:
    store_abort(txn);
    crypto_zeroize(raw, sizeof(raw));
    eab_record_free(rec);
    if (rc != AP_OK) {
        crypto_zeroize(hmac, hmaclen);
    }
    return rc;
}

ap_err
eab_revoke(struct store *st, const char *kid, const struct audit_note *note)
{
    struct store_txn *txn = NULL;
    cJSON *rec = NULL;
    ap_err rc;

    rc = store_begin(st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_EAB, kid, &rec);
    }
    if (rc == AP_OK && json_num(rec, "revoked", 0) == 0) {
        rc = json_set_num(rec, "revoked", time_now());
        if (rc == AP_OK) {
            rc = store_put_json(txn, STORE_EAB, kid, rec, false);
        }
        if (rc == AP_OK) {
            rc = audit_note_put(txn, note);
        }
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    store_abort(txn);
    eab_record_free(rec);
    return rc;
}

static bool
list_one(void *arg, const char *key, const char *val, size_t len)
{
    cJSON *arr = arg;
    cJSON *rec = NULL;

    (void)key;
    if (json_parse(val, len, &rec) != AP_OK) {
        return true;
    }
    wipe_hmac(rec);
    cJSON_AddItemToArray(arr, rec);
    return true;
}

ap_err
eab_list(struct store *st, cJSON **out)
{
    struct store_txn *txn = NULL;
    cJSON *arr = cJSON_CreateArray();
    ap_err rc;

    if (arr == NULL) {
        return AP_ENOMEM;
    }
    rc = store_begin(st, false, &txn);
    if (rc == AP_OK) {
        rc = store_scan(txn, STORE_EAB, NULL, NULL, list_one, arr);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return AP_OK;
}

/* What the EAB verifier needs and finds. */
struct eab_ctx {
    const struct app *app;
    const char *url;          /* the newAccount URL */
    const char *thumbprint;   /* of the outer request's jwk */
    cJSON *rec;               /* out: the key's record */
};

/* jws_verifier_fn of an externalAccountBinding (RFC 8555 §7.3.4): the EAB
 * key id, the newAccount url, no nonce, the account's JWK as payload,
 * then the MAC under the key the kid names. */
static ap_err
verify_binding(void *arg, const struct jws_parts *jp, struct acme_resp *resp)
{
    struct eab_ctx *ctx = arg;
    struct store_txn *txn = NULL;
    struct crypto_key *key = NULL;
    cJSON *jwk = NULL;
    unsigned char *mac_key = NULL;
    size_t key_len = 0;
    unsigned char mac[CRYPTO_HMAC_MAX];
    size_t mac_len = 0;
    const char *kid = NULL;
    const char *hurl = NULL;
    char thumb[CRYPTO_THUMBPRINT_LEN + 1];
    char errbuf[128];
    struct buf signing;
    ap_err rc = AP_OK;

    buf_init(&signing, 3 * EAB_MAX_MEMBER);
    if (json_get_string(jp->hdr, "kid", 128, &kid) != AP_OK ||
        json_get_string(jp->hdr, "url", HTTP_MAX_URL, &hurl) != AP_OK ||
        strcmp(hurl, ctx->url) != 0 ||
        cJSON_GetObjectItemCaseSensitive(jp->hdr, "nonce") != NULL) {
        problem_set(resp, PROB_MALFORMED,
                    "externalAccountBinding needs kid and the newAccount "
                    "url, and no nonce");
        goto out;
    }
    if (json_parse((const char *)jp->payload, jp->payload_len, &jwk) !=
        AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "externalAccountBinding payload must be the account "
                    "key's JWK");
        goto out;
    }
    if (crypto_jwk_parse(jwk, &key, errbuf, sizeof(errbuf)) != AP_OK ||
        crypto_key_thumbprint(key, thumb, sizeof(thumb)) != AP_OK ||
        strcmp(thumb, ctx->thumbprint) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "externalAccountBinding does not bind the account key");
        goto out;
    }
    rc = store_begin(ctx->app->st, false, &txn);
    if (rc == AP_OK && id_is_valid(kid)) {
        rc = store_get_json(txn, STORE_EAB, kid, &ctx->rec);
    } else if (rc == AP_OK) {
        rc = AP_ENOTFOUND;
    }
    store_abort(txn);
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_UNAUTHORIZED, "unknown external account key");
        rc = AP_OK;
        goto out;
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (json_num(ctx->rec, "revoked", 0) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "this external account key was revoked");
        goto out;
    }
    rc = b64url_decode_alloc(json_str(ctx->rec, "hmac", ""),
                             strlen(json_str(ctx->rec, "hmac", "")), &mac_key,
                             &key_len);
    if (rc == AP_OK) {
        rc = jws_signing_input(jp, &signing);
    }
    if (rc == AP_OK) {
        rc = crypto_hmac(jp->alg_name, mac_key, key_len, signing.data,
                         signing.len, mac, &mac_len);
    }
    if (rc != AP_OK) {
        goto out;
    }
    /* Lengths are public; the MAC bytes are compared in constant time. */
    if (jp->sig_len != mac_len ||
        crypto_ct_memcmp(jp->sig, mac, mac_len) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "externalAccountBinding MAC does not verify");
        goto out;
    }
out:
    if (mac_key != NULL) {
        crypto_zeroize(mac_key, key_len);
    }
    crypto_zeroize(mac, sizeof(mac));
    free(mac_key);
    buf_fini(&signing);
    crypto_key_free(key);
    cJSON_Delete(jwk);
    return rc;
}

ap_err
eab_verify(const struct app *app, const cJSON *binding, const char *url,
           const char *thumbprint, struct acme_resp *resp, cJSON **rec)
{
    struct eab_ctx ctx = { app, url, thumbprint, NULL };
    const struct jws_use use = {
        .name = "externalAccountBinding",
        .max_member = EAB_MAX_MEMBER,
        .max_sig = 0,
        .algs = JWS_ALG_MAC,
        .verify = verify_binding,
        .arg = &ctx,
    };
    ap_err rc;

    *rec = NULL;
    rc = jws_parse(binding, &use, resp, NULL, NULL);
    if (rc != AP_OK || resp->status != 0) {
        eab_record_free(ctx.rec);
        return rc;
    }
    wipe_hmac(ctx.rec);
    *rec = ctx.rec;
    return AP_OK;
}

ap_err
eab_bind(struct store_txn *txn, const char *kid, const char *account_id,
         bool single_use)
{
    cJSON *rec = NULL;
    cJSON *accounts;
    ap_err rc;

    rc = store_get_json(txn, STORE_EAB, kid, &rec);
    if (rc != AP_OK) {
        return rc;
    }
    accounts = cJSON_GetObjectItemCaseSensitive(rec, "accounts");
    if (!cJSON_IsArray(accounts)) {
        accounts = cJSON_AddArrayToObject(rec, "accounts");
    }
    if (single_use && cJSON_GetArraySize(accounts) > 0) {
        rc = AP_EEXIST;
    } else {
        cJSON_AddItemToArray(accounts, cJSON_CreateString(account_id));
        rc = store_put_json(txn, STORE_EAB, kid, rec, false);
    }
    eab_record_free(rec);
    return rc;
}
