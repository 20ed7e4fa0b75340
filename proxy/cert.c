/* proxy/cert.c: certificate download (RFC 8555 §7.4.2) and revocation
 * (§7.6). */
#include "proxy/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proxy/jws.h"
#include "proxy/problem.h"

#define CERT_MAX_DER 16384

static ap_err
send_chain(const cJSON *cert, struct acme_resp *resp)
{
    ap_err rc;

    buf_reset(&resp->body);
    rc = buf_appends(&resp->body, json_str(cert, "pem", ""));
    if (rc != AP_OK) {
        return rc;
    }
    resp->status = 200;
    resp->content_type = "application/pem-certificate-chain";
    return AP_OK;
}

ap_err
cert_get(struct app *app, const struct acme_req *req, const char *id,
         struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    cJSON *cert = NULL;
    ap_err rc;

    /* A certificate is public: GET is allowed as well as POST-as-GET. */
    if (strcmp(req->method, "GET") == 0) {
        if (!id_is_valid(id)) {
            problem_set(resp, PROB_NOT_FOUND, "no such certificate");
            return AP_OK;
        }
        rc = store_begin(app->st, false, &txn);
        if (rc == AP_OK) {
            rc = store_get_json(txn, STORE_CERTS, id, &cert);
        }
        store_abort(txn);
        if (rc == AP_ENOTFOUND) {
            problem_set(resp, PROB_NOT_FOUND, "no such certificate");
            return AP_OK;
        }
        if (rc == AP_OK) {
            rc = send_chain(cert, resp);
        }
        cJSON_Delete(cert);
        return rc;
    }
    rc = jws_verify(app, req, JWS_NEED_KID, resp, &msg);
    if (rc != AP_OK || resp->status != 0) {
        return rc;
    }
    if (!msg.post_as_get) {
        problem_set(resp, PROB_MALFORMED,
                    "a certificate is fetched with POST-as-GET");
        goto out;
    }
    rc = resource_load_owned(app, STORE_CERTS, id, msg.account_id, resp,
                             &cert);
    if (rc == AP_OK && resp->status == 0) {
        rc = send_chain(cert, resp);
    }
out:
    cJSON_Delete(cert);
    jws_msg_fini(&msg);
    return rc;
}

/* Finds the record of a certificate by its serial. */
static ap_err
cert_by_serial(struct app *app, const char *serial, cJSON **out)
{
    struct store_txn *txn = NULL;
    char *cert_id = NULL;
    ap_err rc;

    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = store_get(txn, STORE_SERIALS, serial, &cert_id, NULL);
    }
    if (rc == AP_OK) {
        rc = store_get_json(txn, STORE_CERTS, cert_id, out);
    }
    store_abort(txn);
    free(cert_id);
    return rc;
}

ap_err
cert_revoke(struct app *app, const struct acme_req *req, const char *id,
            struct acme_resp *resp)
{
    struct jws_msg msg;
    struct store_txn *txn = NULL;
    struct crypto_cert *parsed = NULL;
    cJSON *cert = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    const char *b64 = NULL;
    long long reason = 0;
    char errbuf[200];
    ap_err rc;

    (void)id;
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
    rc = json_get_int(msg.payload, "reason", -1000000, 1000000, &reason);
    if (rc == AP_EPARSE) {
        problem_set(resp, PROB_BAD_REVOCATION_REASON,
                    "reason must be an integer");
        rc = AP_OK;
        goto out;
    }
    rc = AP_OK;
    /* RFC 5280 §5.3.1: 0-10, 7 is unused. */
    if (reason < 0 || reason > 10 || reason == 7) {
        problem_set(resp, PROB_BAD_REVOCATION_REASON,
                    "reason must be an RFC 5280 CRLReason code 0-10 but 7");
        goto out;
    }
    if (b64url_decode_alloc(b64, strlen(b64), &der, &der_len) != AP_OK ||
        crypto_cert_parse(der, der_len, &parsed) != AP_OK) {
        problem_set(resp, PROB_MALFORMED,
                    "certificate is not base64url DER of a certificate");
        goto out;
    }
    rc = cert_by_serial(app, parsed->serial_hex, &cert);
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_NOT_FOUND,
                    "this server did not issue that certificate");
        rc = AP_OK;
        goto out;
    }
    if (rc != AP_OK) {
        goto out;
    }
    if (msg.account == NULL) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "revocation with the certificate's key is not supported "
                    "yet: sign with the account key (kid)");
        goto out;
    }
    if (strcmp(json_str(cert, "account", ""), msg.account_id) != 0) {
        problem_set(resp, PROB_UNAUTHORIZED,
                    "the certificate belongs to another account");
        goto out;
    }
    if (strcmp(json_str(cert, "status", ""), "revoked") == 0) {
        problem_set(resp, PROB_ALREADY_REVOKED, "already revoked");
        goto out;
    }
    /* The PKI first: the record says revoked only once it is. */
    rc = app->adapter->revoke(app->adapter_state, json_str(cert, "pem", ""),
                              (int)reason, errbuf, sizeof(errbuf));
    if (rc != AP_OK) {
        log_warn("revoke", "serial=%s adapter=%s failed: %s",
                 parsed->serial_hex, app->adapter->name, errbuf);
        problem_set(resp, PROB_SERVER_INTERNAL, "the PKI did not revoke: %s",
                    errbuf);
        rc = AP_OK;
        goto out;
    }
    cJSON_Delete(cert);
    cert = NULL;
    rc = store_begin(app->st, true, &txn);
    if (rc != AP_OK) {
        goto out;
    }
    {
        char *cert_id = NULL;

        rc = store_get(txn, STORE_SERIALS, parsed->serial_hex, &cert_id,
                       NULL);
        if (rc == AP_OK) {
            rc = store_get_json(txn, STORE_CERTS, cert_id, &cert);
        }
        if (rc == AP_OK) {
            rc = json_set_str(cert, "status", "revoked");
        }
        if (rc == AP_OK) {
            rc = json_set_num(cert, "reason", reason);
        }
        if (rc == AP_OK) {
            rc = json_set_num(cert, "revokedAt", time_now());
        }
        if (rc == AP_OK) {
            rc = store_put_json(txn, STORE_CERTS, cert_id, cert, false);
        }
        free(cert_id);
    }
    if (rc == AP_OK) {
        rc = store_commit(txn);
        txn = NULL;
    }
    if (rc != AP_OK) {
        goto out;
    }
    log_info("revoke", "serial=%s account=%s reason=%lld adapter=%s",
             parsed->serial_hex, msg.account_id, reason, app->adapter->name);
    resp->status = 200;
out:
    store_abort(txn);
    cJSON_Delete(cert);
    crypto_cert_free(parsed);
    free(der);
    jws_msg_fini(&msg);
    return rc;
}
