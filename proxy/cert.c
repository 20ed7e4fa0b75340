/* proxy/cert.c: certificate download (RFC 8555 §7.4.2), the issuer
 * resource its Link rel="up" names, and revocation (§7.6) (cert.h). */
#include "proxy/cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/jwk.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/audit.h"
#include "proxy/jws.h"
#include "proxy/problem.h"
#include "proxy/metrics.h"
#include "proxy/rec_authz.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "proxy/resource.h"
#include "proxy/status.h"

#define CERT_MAX_DER 16384
#define CT_PEM_CHAIN "application/pem-certificate-chain"
#define CT_PKIX_CERT "application/pkix-cert"

/* The PEM text after the first certificate block: the issuer chain. */
static const char *
chain_after_leaf(const char *pem)
{
    const char *end = strstr(pem, "-----END CERTIFICATE-----");
    const char *next;

    if (end == NULL) {
        return NULL;
    }
    next = strstr(end, "-----BEGIN CERTIFICATE-----");
    return next;
}

/* The format the client's Accept asks for (RFC 8555 §7.4.2: PEM chain by
 * default; DER of the leaf on request). NULL when nothing acceptable. */
static const char *
pick_format(const char *accept)
{
    if (accept == NULL || accept[0] == '\0' ||
        strcasestr(accept, CT_PEM_CHAIN) != NULL ||
        strstr(accept, "*/*") != NULL ||
        strcasestr(accept, "application/*") != NULL) {
        return CT_PEM_CHAIN;
    }
    if (strcasestr(accept, CT_PKIX_CERT) != NULL) {
        return CT_PKIX_CERT;
    }
    return NULL;
}

static ap_err
send_pem(const char *pem, const char *accept, struct acme_resp *resp)
{
    const char *fmt = pick_format(accept);
    unsigned char *der = NULL;
    size_t der_len = 0;
    ap_err rc;

    if (fmt == NULL) {
        problem_set(resp, PROB_NOT_ACCEPTABLE,
                    "certificates are served as %s or %s", CT_PEM_CHAIN,
                    CT_PKIX_CERT);
        return AP_OK;
    }
    buf_reset(&resp->body);
    if (strcmp(fmt, CT_PKIX_CERT) == 0) {
        rc = x509_pem_cert_to_der(pem, &der, &der_len);
        if (rc == AP_OK) {
            rc = buf_append(&resp->body, der, der_len);
        }
        free(der);
    } else {
        rc = buf_appends(&resp->body, pem);
    }
    if (rc != AP_OK) {
        return rc;
    }
    resp->status = 200;
    resp->content_type = fmt;
    return AP_OK;
}

/* Loads a certificate record by id: POST-as-GET must come from the owning
 * account; a plain GET, which needs no account, only with
 * [acme] certificate_get (certificates name internal hosts). */
static ap_err
load_cert(struct app *app, const struct acme_req *req, const char *id,
          struct acme_resp *resp, struct cert *cert)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    ap_err rc;

    memset(cert, 0, sizeof(*cert));
    cert->reason = -1;
    if (strcmp(req->method, "GET") == 0) {
        if (!app->cfg->acme.certificate_get) {
            problem_set(resp, PROB_METHOD_NOT_ALLOWED,
                        "a certificate is fetched with POST-as-GET "
                        "(RFC 8555 §7.4.2)");
            resp->allow = "POST";
            return AP_OK;
        }
        if (!id_is_valid(id)) {
            problem_set(resp, PROB_NOT_FOUND, "no such certificate");
            return AP_OK;
        }
        rc = store_begin(app->st, false, &txn);
        if (rc == AP_OK) {
            rc = rec_cert_get(txn, id, cert);
        }
        store_abort(txn);
        if (rc == AP_ENOTFOUND) {
            problem_set(resp, PROB_NOT_FOUND, "no such certificate");
            return AP_OK;
        }
        return rc;
    }
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (!msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED,
                    "a certificate is fetched with POST-as-GET");
    } else if (resource_id_ok(id, resp)) {
        rc = store_begin(app->st, false, &txn);
        if (rc == AP_OK) {
            rc = rec_cert_get(txn, id, cert);
        }
        store_abort(txn);
        rc = resource_owned(rc, cert->account, msg.account_id, resp);
    }
    jws_msg_fini(&msg);
    return rc;
}

ap_err
cert_get(struct app *app, const struct acme_req *req, const char *id,
         struct acme_resp *resp)
{
    struct cert cert;
    char url[HTTP_MAX_URL];
    ap_err rc;

    rc = load_cert(app, req, id, resp, &cert);
    if (rc == AP_OK && resp->status == 0) {
        const char *pem = cert.pem != NULL ? cert.pem : "";

        rc = send_pem(pem, req->accept, resp);
        if (chain_after_leaf(pem) != NULL) {
            app_url(app, url, sizeof(url), PATH_ISSUER, id);
            acme_resp_link(resp, url, "up");
        }
    }
    rec_cert_fini(&cert);
    return rc;
}

ap_err
cert_issuer_get(struct app *app, const struct acme_req *req, const char *id,
                struct acme_resp *resp)
{
    struct cert cert;
    const char *chain;
    ap_err rc;

    rc = load_cert(app, req, id, resp, &cert);
    if (rc == AP_OK && resp->status == 0) {
        chain = chain_after_leaf(cert.pem != NULL ? cert.pem : "");
        if (chain == NULL) {
            problem_set(resp, PROB_NOT_FOUND, "no issuer chain stored");
        } else {
            rc = send_pem(chain, req->accept, resp);
        }
    }
    rec_cert_fini(&cert);
    return rc;
}

struct authz_cover {
    struct store_txn *txn;
    const struct rec_ident *names;  /* the certificate's identifiers */
    size_t n_names;
    bool *covered;
    long long now;
};

/* Marks the names a valid authorization of order covers. */
static bool
cover_from_order(void *arg, const char *key, const char *val, size_t len)
{
    struct authz_cover *c = arg;
    const char *slash = strrchr(key, '/');
    struct order o;

    (void)val;
    (void)len;
    if (slash == NULL || rec_order_get(c->txn, slash + 1, &o) != AP_OK) {
        return true;
    }
    for (size_t k = 0; k < o.n_authzs; k++) {
        struct authz a;

        if (rec_authz_get(c->txn, o.authzs[k], &a) != AP_OK) {
            continue;
        }
        if (authz_status_at(&a, c->now) == AUTHZ_VALID) {
            for (size_t i = 0; i < c->n_names; i++) {
                const char *v = c->names[i].value != NULL
                                    ? c->names[i].value
                                    : "";
                bool wild = strncmp(v, "*.", 2) == 0;

                if (strcmp(c->names[i].type, a.ident.type) == 0 &&
                    a.ident.value != NULL &&
                    strcmp(wild ? v + 2 : v, a.ident.value) == 0 &&
                    wild == a.wildcard) {
                    c->covered[i] = true;
                }
            }
        }
        rec_authz_fini(&a);
    }
    rec_order_fini(&o);
    return true;
}

/* RFC 8555 §7.6: an account other than the issuing one may revoke when it
 * holds valid authorizations for every identifier of the certificate. */
static ap_err
account_covers(struct store_txn *txn, const char *account_id,
               const struct order *issued, bool *ok)
{
    struct authz_cover c;
    char prefix[JWS_MAX_ID + 2];
    ap_err rc;

    *ok = false;
    if (issued->n_idents == 0) {
        return AP_OK;
    }
    c.txn = txn;
    c.names = issued->idents;
    c.n_names = issued->n_idents;
    c.now = time_now();
    c.covered = calloc(issued->n_idents, sizeof(bool));
    if (c.covered == NULL) {
        return AP_ENOMEM;
    }
    snprintf(prefix, sizeof(prefix), "%s/", account_id);
    rc = store_scan(txn, STORE_ACCOUNT_ORDERS, prefix, NULL, cover_from_order,
                    &c);
    *ok = true;
    for (size_t i = 0; i < issued->n_idents; i++) {
        *ok = *ok && c.covered[i];
    }
    free(c.covered);
    return rc;
}

/* May the signer revoke this certificate? Sets a problem when not. */
static ap_err
check_revoker(struct app *app, const struct jws_msg *msg,
              const struct cert *cert, const struct x509_cert *parsed,
              struct acme_resp *resp)
{
    struct store_txn *txn = NULL;
    struct order o;
    unsigned char *spki = NULL;
    size_t spki_len = 0;
    bool ok = false;
    ap_err rc;

    if (msg->account == NULL) {
        /* Signed by a jwk: it must be the certificate's own key. */
        rc = crypto_key_spki_der(msg->key, &spki, &spki_len);
        if (rc != AP_OK) {
            return rc;
        }
        if (spki_len != parsed->pubkey_der_len ||
            memcmp(spki, parsed->pubkey_der, spki_len) != 0) {
            problem_set(resp, PROB_UNAUTHORIZED,
                        "the jwk is not the certificate's key");
        }
        free(spki);
        return AP_OK;
    }
    if (strcmp(cert->account, msg->account_id) == 0) {
        return AP_OK;
    }
    memset(&o, 0, sizeof(o));
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = rec_order_get(txn, cert->order, &o);
    }
    if (rc == AP_OK) {
        rc = account_covers(txn, msg->account_id, &o, &ok);
    }
    store_abort(txn);
    rec_order_fini(&o);
    if (rc == AP_OK && !ok) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "the account neither issued this certificate nor holds "
                    "valid authorizations for all its identifiers");
    }
    return rc;
}

/* Finds the record of the certificate whose DER is der: the serial leads
 * to it, and the stored leaf must be byte for byte the same certificate,
 * so a forged certificate with a known serial revokes nothing. */
static ap_err
cert_by_der(struct app *app, const unsigned char *der, size_t der_len,
            const char *serial, struct cert *out)
{
    struct store_txn *txn = NULL;
    unsigned char *stored = NULL;
    size_t stored_len = 0;
    ap_err rc;

    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = rec_cert_by_serial(txn, serial, out);
    }
    store_abort(txn);
    if (rc != AP_OK) {
        return rc;
    }
    rc = x509_pem_cert_to_der(out->pem != NULL ? out->pem : "", &stored,
                              &stored_len);
    if (rc == AP_OK &&
        (stored_len != der_len || memcmp(stored, der, der_len) != 0)) {
        rc = AP_ENOTFOUND;
    }
    free(stored);
    if (rc != AP_OK) {
        rec_cert_fini(out);
    }
    return rc;
}

ap_err
cert_mark_revoked(struct app *app, const char *serial, long long reason,
                  const struct audit_note *note)
{
    struct store_txn *txn = NULL;
    char *cert_id = NULL;
    struct cert c;
    ap_err rc;

    memset(&c, 0, sizeof(c));
    rc = store_begin(app->st, true, &txn);
    if (rc == AP_OK) {
        rc = store_get(txn, STORE_SERIALS, serial, &cert_id, NULL);
    }
    if (rc == AP_OK) {
        rc = rec_cert_get(txn, cert_id, &c);
    }
    if (rc == AP_OK) {
        c.status = CERT_REVOKED;
        c.reason = (int)reason;
        c.revoked_at = time_now();
        rc = rec_cert_put(txn, cert_id, &c, false);
    }
    if (rc == AP_OK) {
        rc = audit_note_put(txn, note);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc == AP_OK) {
        metrics_cert_revoked();
    }
    store_abort(txn);
    rec_cert_fini(&c);
    free(cert_id);
    return rc;
}

/* The fields of cert.revoked and cert.revoke_failed. */
static cJSON *
revoke_fields(struct app *app, const struct acme_req *req,
              const struct jws_msg *msg, const char *serial,
              long long reason, const char *pki)
{
    struct rec_writer w = { AP_OK };
    cJSON *f = rec_write_object(&w);

    rec_put_str(&w, f, "serial", serial);
    rec_put_str(&w, f, "by", msg->account ? msg->account_id
                                          : "certificate-key");
    rec_put_int(&w, f, "reason", reason);
    rec_put_str(&w, f, "adapter", app->adapter->name);
    rec_put_str(&w, f, "adapterName", app_adapter_name(app));
    rec_put_str(&w, f, "pki", pki);
    if (req != NULL) {
        rec_put_str(&w, f, "ip", req->remote_addr);
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(f);
        return NULL;
    }
    return f;
}

ap_err
cert_revoke(struct app *app, const struct acme_req *req, const char *id,
            struct acme_resp *resp)
{
    struct jws_msg msg;
    struct x509_cert *parsed = NULL;
    struct cert cert;
    unsigned char *der = NULL;
    size_t der_len = 0;
    const char *b64 = NULL;
    long long reason = 0;
    struct app pki_view;
    char errbuf[200];
    ap_err rc;

    (void)id;
    memset(&cert, 0, sizeof(cert));
    rc = jws_verify(app, req, JWS_JWK_OR_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (msg.post_as_get ||
        json_get_string(msg.payload, "certificate", CERT_MAX_DER * 2, &b64) !=
            AP_OK) {
        problem_set(resp, PROB_MALFORMED, "revokeCert needs a certificate");
        goto out;
    }
    if (json_get_int(msg.payload, "reason", -1000000, 1000000, &reason) ==
        AP_EPARSE) {
        problem_set(resp, PROB_BAD_REVOCATION_REASON,
                    "reason must be an integer");
        goto out;
    }
    /* RFC 5280 §5.3.1: 0-10, 7 is unused. */
    if (reason < 0 || reason > 10 || reason == 7) {
        problem_set(resp, PROB_BAD_REVOCATION_REASON,
                    "reason must be an RFC 5280 CRLReason code 0-10 but 7");
        goto out;
    }
    if (b64url_decode_alloc(b64, strlen(b64), &der, &der_len) != AP_OK ||
        x509_cert_parse(der, der_len, &parsed) != AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "certificate is not base64url DER of a certificate");
        goto out;
    }
    rc = cert_by_der(app, der, der_len, parsed->serial_hex, &cert);
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_NOT_FOUND,
                    "this server did not issue that certificate");
        rc = AP_OK;
        goto out;
    }
    if (rc != AP_OK) {
        goto out;
    }
    rc = check_revoker(app, &msg, &cert, parsed, resp);
    if (rc != AP_OK || resp->status != 0) {
        goto out;
    }
    if (cert.status == CERT_REVOKED) {
        problem_set(resp, PROB_ALREADY_REVOKED, "already revoked");
        goto out;
    }
    /* At the adapter that issued it (records of earlier versions: the
     * default one). */
    if (!app_pki_view(app, cert.adapter_name, &pki_view)) {
        log_err("revoke", "serial=%s: its adapter %s is no longer "
                "configured", parsed->serial_hex, cert.adapter_name);
        problem_set(resp, PROB_SERVER_INTERNAL,
                    "the adapter that issued this certificate (%s) is no "
                    "longer configured here", cert.adapter_name);
        goto out;
    }
    app = &pki_view;
    /* The PKI first: the record says revoked only once it is. */
    rc = app->adapter->revoke(app->adapter_state,
                              cert.pem != NULL ? cert.pem : "", (int)reason,
                              errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        cJSON *f;
        bool cannot = rc == AP_EINVAL &&
                      (app->adapter->caps & ADAPTER_CAP_REVOKE) == 0;

        log_warn("revoke", "serial=%s adapter=%s failed: %s",
                 parsed->serial_hex, app->adapter->name, errbuf);
        /* The refusal is on record too (AD CS cannot revoke at all). */
        f = revoke_fields(app, NULL, &msg, parsed->serial_hex, reason,
                          errbuf);
        rc = f != NULL ? audit_record(app->audit, app->st,
                                      "cert.revoke_failed", req->request_id,
                                      f)
                       : AP_ENOMEM;
        if (rc != AP_OK) {
            goto out;
        }
        if (cannot) {
            /* The PKI cannot revoke through its API (AD CS web
             * enrollment): nothing is broken and retrying will not help,
             * so not a 5xx; the detail says who can (docs/adapters.md,
             * "Revocation the PKI cannot do"). */
            problem_set(resp, PROB_UNAUTHORIZED,
                        "this server cannot revoke certificates of its PKI "
                        "(%s): %s",
                        app->adapter->name, errbuf);
            rc = AP_OK;
            goto out;
        }
        problem_set(resp, PROB_SERVER_INTERNAL,
                    "the PKI (%s) did not revoke the certificate: %s",
                    app->adapter->name, errbuf);
        goto out;
    }
    {
        cJSON *f = revoke_fields(app, req, &msg, parsed->serial_hex, reason,
                                 "revoked");
        struct audit_note note = { app->audit, "cert.revoked",
                                   req->request_id, f };

        if (f == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
        rc = cert_mark_revoked(app, parsed->serial_hex, reason, &note);
        cJSON_Delete(f);
    }
    if (rc != AP_OK) {
        goto out;
    }
    log_info("revoke", "serial=%s by=%s reason=%lld adapter=%s",
             parsed->serial_hex,
             msg.account ? msg.account_id : "certificate-key", reason,
             app->adapter->name);
    resp->status = 200;
out:
    rec_cert_fini(&cert);
    x509_cert_free(parsed);
    free(der);
    jws_msg_fini(&msg);
    return rc;
}
