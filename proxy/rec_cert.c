/* proxy/rec_cert.c: the certificate record's codec (rec_cert.h). */
#include "proxy/rec_cert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = { "valid", "revoked", "refused" };
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == CERT__MAX,
               "status_names must cover every certificate status");

static const char *const known[] = {
    "v", "id", "account", "order", "serial", "status", "notAfter", "issued",
    "adapter", "adapterName", "pkiRef", "refused", "revokedAtPki", "pem", "reason",
    "revokedAt", "replacedBy", NULL
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

ap_err
rec_cert_decode(const cJSON *obj, struct cert *out, char *why, size_t whylen)
{
    struct rec_reader r;
    long long reason = 0;
    bool has_reason = false;
    int status = CERT_REFUSED;

    memset(out, 0, sizeof(*out));
    out->reason = -1;
    rec_read_begin(&r, obj);
    rec_read_version(&r, obj);
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
    rec_read_int(&r, obj, "reason", 0, 10, &reason, &has_reason);
    rec_read_int(&r, obj, "revokedAt", 0, REC_TIME_MAX, &out->revoked_at,
                 NULL);
    rec_read_buf(&r, obj, "replacedBy", out->replaced_by,
                 sizeof(out->replaced_by));
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
    rec_put_int(&w, obj, "v", REC_VERSION);
    rec_put_str(&w, obj, "id", c->id);
    rec_put_str(&w, obj, "account", c->account);
    rec_put_str(&w, obj, "order", c->order);
    rec_put_str(&w, obj, "serial", c->serial);
    rec_put_str(&w, obj, "status", cert_status_name(c->status));
    rec_put_int(&w, obj, "notAfter", c->not_after);
    rec_put_int(&w, obj, "issued", c->issued);
    rec_put_str(&w, obj, "adapter", c->adapter);
    if (c->adapter_name[0] != '\0') {
        rec_put_str(&w, obj, "adapterName", c->adapter_name);
    }
    rec_put_str(&w, obj, "pkiRef", c->pki_ref);
    if (c->refused != NULL) {
        rec_put_str(&w, obj, "refused", c->refused);
        rec_put_bool(&w, obj, "revokedAtPki", c->revoked_at_pki);
    }
    rec_put_str(&w, obj, "pem", c->pem != NULL ? c->pem : "");
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

ap_err
rec_cert_get(struct store_txn *txn, const char *id, struct cert *out)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    out->reason = -1;
    rc = store_get_json(txn, STORE_CERTS, id, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    rc = rec_cert_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        rc = rec_bad("certs", id, why);
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

ap_err
rec_cert_put(struct store_txn *txn, const char *key, const struct cert *c,
             bool exclusive)
{
    cJSON *obj = NULL;
    ap_err rc;

    rc = rec_cert_encode(c, &obj);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_CERTS, key, obj, exclusive);
    }
    cJSON_Delete(obj);
    return rc;
}
