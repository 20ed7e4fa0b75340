/* proxy/renewal.c: RFC 9773 certificate identifiers, renewal windows and
 * the renewalInfo resource. */
#include "proxy/renewal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/timeutil.h"
#include "proxy/problem.h"
#include "proxy/rec.h"

#define RENEWAL_MAX_PART 128

ap_err
renewal_find_cert(struct store_txn *txn, const char *certid,
                  struct cert *rec, struct x509_cert **leaf)
{
    const char *dot = strchr(certid, '.');
    unsigned char aki[RENEWAL_MAX_PART];
    unsigned char serial[RENEWAL_MAX_PART];
    size_t aki_len = 0;
    size_t serial_len = 0;
    char hex[2 * RENEWAL_MAX_PART + 1];
    const unsigned char *s;
    size_t n;
    struct x509_cert *parsed = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    ap_err rc;

    memset(rec, 0, sizeof(*rec));
    rec->reason = -1;
    *leaf = NULL;
    if (dot == NULL || dot == certid || dot[1] == '\0' ||
        b64url_decode(certid, (size_t)(dot - certid), aki, sizeof(aki),
                      &aki_len) != AP_OK ||
        b64url_decode(dot + 1, strlen(dot + 1), serial, sizeof(serial),
                      &serial_len) != AP_OK ||
        aki_len == 0 || serial_len == 0) {
        return AP_EPARSE;
    }
    /* The serial as stored: hex without leading zero octets. */
    s = serial;
    n = serial_len;
    while (n > 1 && s[0] == 0) {
        s++;
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", s[i]);
    }
    rc = rec_cert_by_serial(txn, hex, rec);
    if (rc == AP_OK) {
        rc = x509_pem_cert_to_der(rec->pem != NULL ? rec->pem : "", &der,
                                  &der_len);
    }
    if (rc == AP_OK) {
        rc = x509_cert_parse(der, der_len, &parsed);
    }
    /* Both halves must match: the AKI and the exact serial octets. */
    if (rc == AP_OK &&
        (parsed->aki == NULL || parsed->aki_len != aki_len ||
         memcmp(parsed->aki, aki, aki_len) != 0 ||
         parsed->serial_raw_len != serial_len ||
         memcmp(parsed->serial_raw, serial, serial_len) != 0)) {
        rc = AP_ENOTFOUND;
    }
    free(der);
    if (rc != AP_OK) {
        rec_cert_fini(rec);
        x509_cert_free(parsed);
        return rc == AP_EPARSE ? AP_ENOTFOUND : rc;
    }
    *leaf = parsed;
    return AP_OK;
}

void
renewal_window(const struct x509_cert *leaf, bool revoked, long long now,
               long long *start, long long *end)
{
    unsigned char h[CRYPTO_SHA256_LEN];
    long long life = leaf->not_after - leaf->not_before;
    long long width;
    unsigned long long spread;

    if (revoked) {
        /* RFC 9773 §4.2: renew now. */
        *start = now - 2 * 3600;
        *end = now - 3600;
        return;
    }
    if (life <= 0) {
        life = 1;
    }
    crypto_sha256(leaf->serial_raw, leaf->serial_raw_len, h);
    spread = ((unsigned long long)h[0] << 24) | ((unsigned long long)h[1] << 16) |
             ((unsigned long long)h[2] << 8) | h[3];
    *start = leaf->not_before + life * 60 / 100 +
             (long long)(spread % 1000000ULL) * (life * 15 / 100) / 1000000;
    width = life * 5 / 100;
    if (width < 3600) {
        width = 3600;
    }
    *end = *start + width;
    if (*end > leaf->not_after) {
        *end = leaf->not_after;
    }
    if (*start >= *end) {
        *start = *end - 1;
    }
}

ap_err
renewal_info_get(struct app *app, const struct acme_req *req, const char *id,
                 struct acme_resp *resp)
{
    struct store_txn *txn = NULL;
    struct rec_writer w = { AP_OK };
    struct x509_cert *leaf = NULL;
    struct cert cert;
    cJSON *out = NULL;
    cJSON *win;
    long long start = 0;
    long long end = 0;
    char ts[TIME_RFC3339_LEN];
    ap_err rc;

    (void)req;
    rc = store_begin(app->st, false, &txn);
    if (rc == AP_OK) {
        rc = renewal_find_cert(txn, id, &cert, &leaf);
    }
    store_abort(txn);
    if (rc == AP_EPARSE) {
        problem_set(resp, PROB_MALFORMED,
                    "certID must be base64url(AKI).base64url(serial)");
        return AP_OK;
    }
    if (rc == AP_ENOTFOUND) {
        problem_set(resp, PROB_NOT_FOUND, "no such certificate");
        return AP_OK;
    }
    if (rc != AP_OK) {
        return rc;
    }
    renewal_window(leaf, cert.status == CERT_REVOKED, time_now(), &start,
                   &end);
    out = rec_write_object(&w);
    win = rec_write_object(&w);
    time_rfc3339(start, ts, sizeof(ts));
    rec_put_str(&w, win, "start", ts);
    time_rfc3339(end, ts, sizeof(ts));
    rec_put_str(&w, win, "end", ts);
    rec_put_item(&w, out, "suggestedWindow", win);
    if (app->cfg->acme.ari_explanation_url[0] != '\0') {
        rec_put_str(&w, out, "explanationURL",
                    app->cfg->acme.ari_explanation_url);
    }
    rc = w.rc;
    if (rc == AP_OK) {
        rc = acme_resp_json(resp, 200, out);
        resp->retry_after = RENEWAL_RETRY_AFTER_SEC;
    }
    cJSON_Delete(out);
    rec_cert_fini(&cert);
    x509_cert_free(leaf);
    return rc;
}
