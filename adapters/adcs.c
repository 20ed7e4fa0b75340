/* adapters/adcs.c: Microsoft AD CS web enrollment (certsrv).
 *
 * submit: POST certfnsh.asp (Mode=newreq, the PEM CSR, CertAttrib
 * "CertificateTemplate:<template>") and read the HTML page: a
 * certnew.cer?ReqID=<n>& link means issued (fetch certnew.cer and
 * certnew.p7b for the chain), "Certificate Pending" with "Your Request Id
 * is <n>." means PENDING with ref <n> (a CA manager must approve), "The
 * disposition message is" means denied. poll(ref): GET
 * certnew.cer?ReqID=<ref>&Enc=b64: application/pkix-cert is the
 * certificate, an HTML page says "Taken Under Submission" (still pending)
 * or the manager denied it. Once the CA assigned a request id every later
 * call only fetches by that id, so a certificate is never requested twice
 * after the id is stored: submit notes the id (adapter_request.note_ref)
 * before it fetches, and lookup (after a crash lost the answer) fetches
 * by that id. Before certsrv named an id there is nothing to ask it by:
 * lookup answers UNKNOWN and the core records a possible duplicate.
 *
 * Auth: Basic, NTLM or Negotiate (Kerberos from the credential cache in
 * KRB5CCNAME) through libcurl; the password is a secret (file or env:).
 * Revocation is not possible through certsrv: revoke answers AP_EINVAL
 * with a message naming the serial to revoke on the CA. */
#include "adapters/adapters_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/x509.h"

#define ADCS_MAX_URL 2048
#define ADCS_MAX_REQID 20

struct adcs {
    struct adapter_http http;
    char *tmpl;           /* certificate template short name */
    enum httpc_auth auth;
    char *user;
    char *password;       /* secret */
};

static const char *const adcs_keys[] = {
    ADAPTER_CORE_KEYS, ADAPTER_HTTP_KEYS, "template", "auth", "user",
    "password", NULL,
};

/* Digits right after marker in text into out. */
static bool
digits_after(const char *text, const char *marker, char *out, size_t len)
{
    const char *p = strstr(text, marker);
    size_t k = 0;

    if (p == NULL) {
        return false;
    }
    for (p += strlen(marker); *p >= '0' && *p <= '9' && k + 1 < len; p++) {
        out[k++] = *p;
    }
    out[k] = '\0';
    return k > 0;
}

/* The rest of the line after marker (and its tabs), cleaned. */
static void
line_after(const char *text, const char *marker, char *out, size_t len)
{
    const char *p = strstr(text, marker);
    size_t k = 0;

    out[0] = '\0';
    if (p == NULL) {
        return;
    }
    p += strlen(marker);
    while (*p == '"' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' ||
           *p == '<') {
        if (*p == '<') { /* skip one tag such as </DT><DD> */
            const char *gt = strchr(p, '>');

            if (gt == NULL) {
                break;
            }
            p = gt + 1;
            continue;
        }
        p++;
    }
    while (*p != '\0' && *p != '\r' && *p != '\n' && *p != '"' &&
           *p != '<' && k + 1 < len) {
        out[k++] = *p++;
    }
    out[k] = '\0';
}

enum adapter_outcome
adcs_classify_submit(const char *html, struct adapter_result *res,
                     char *reqid, size_t reqid_len)
{
    char msg[300];

    if (html == NULL) {
        return adapter_fail(res, ADAPTER_RETRY, NULL,
                            "certsrv answered an empty page");
    }
    if (digits_after(html, "certnew.cer?ReqID=", reqid, reqid_len)) {
        return ADAPTER_ISSUED;
    }
    if (strstr(html, "Certificate Pending") != NULL &&
        digits_after(html, "Your Request Id is ", reqid, reqid_len)) {
        res->ref = strdup(reqid);
        return adapter_fail(res, ADAPTER_PENDING, NULL,
                            "AD CS request %s waits for a certificate "
                            "manager",
                            reqid);
    }
    if (strstr(html, "The disposition message is") != NULL) {
        line_after(html, "The disposition message is", msg, sizeof(msg));
        return adapter_fail(res, ADAPTER_REJECTED, ADAPTER_PROB_REJECTED,
                            "AD CS denied the request: %s", msg);
    }
    return adapter_fail(res, ADAPTER_RETRY, NULL,
                        "certsrv answered a page this adapter does not "
                        "know");
}

enum adapter_outcome
adcs_classify_fetch(long status, const char *ctype, const char *body,
                    struct adapter_result *res)
{
    char msg[300];

    if (status != 200 || body == NULL) {
        return adapter_fail(res, adapter_status_outcome(status) ==
                                         ADAPTER_RETRY ||
                                     status == 401
                                 ? ADAPTER_RETRY
                                 : ADAPTER_REJECTED,
                            ADAPTER_PROB_REJECTED,
                            "certsrv answered %ld", status);
    }
    if (ctype != NULL && strstr(ctype, "application/pkix-cert") != NULL) {
        if (x509_pem_normalize(body, 0, &res->cert_pem, NULL) != AP_OK) {
            return adapter_fail(res, ADAPTER_RETRY, NULL,
                                "certnew.cer is not a PEM certificate");
        }
        return ADAPTER_ISSUED;
    }
    if (strstr(body, "Taken Under Submission") != NULL) {
        return adapter_fail(res, ADAPTER_PENDING, NULL,
                            "AD CS: taken under submission");
    }
    if (strstr(body, "CERTSRV_E_ADMIN_DENIED_REQUEST") != NULL ||
        strstr(body, "denied") != NULL) {
        line_after(body, "LastStatus:", msg, sizeof(msg));
        return adapter_fail(res, ADAPTER_REJECTED, ADAPTER_PROB_REJECTED,
                            "AD CS: %s",
                            msg[0] ? msg : "denied by a certificate manager");
    }
    line_after(body, "LastStatus:", msg, sizeof(msg));
    return adapter_fail(res, ADAPTER_RETRY, NULL, "AD CS: %s",
                        msg[0] ? msg : "unexpected page");
}

static ap_err
adcs_send(struct adcs *a, const char *method, const char *url,
          const char *body, struct httpc_resp *resp, struct httpc_meta *meta)
{
    static const char *const form_hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded", NULL
    };
    struct httpc_call call;

    adapter_http_call(&a->http, &call, method, url);
    call.auth = a->auth;
    call.user = a->user;
    call.password = a->password;
    if (body != NULL) {
        call.headers = form_hdrs;
        call.body = body;
        call.body_len = strlen(body);
    }
    return httpc_call(&call, resp, meta);
}

/* Fetches certificate and chain of request reqid into res. */
static enum adapter_outcome
adcs_fetch(struct adcs *a, const char *reqid, struct adapter_result *res)
{
    struct httpc_resp resp;
    struct httpc_meta meta;
    char url[ADCS_MAX_URL];
    char *all = NULL;
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/certnew.cer?ReqID=%s&Enc=b64",
                   a->http.url, reqid);
    if (adcs_send(a, "GET", url, NULL, &resp, &meta) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "certsrv not reached: %s",
                         resp.error);
        goto out;
    }
    if (resp.status == 401) {
        log_err("adcs", "certsrv refused the credentials (401)");
    }
    o = adcs_classify_fetch(resp.status, meta.content_type, resp.body.data,
                            res);
    if (o != ADAPTER_ISSUED) {
        goto out;
    }
    /* The chain: certnew.p7b holds the leaf and its CA certificates. */
    httpc_resp_fini(&resp);
    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/certnew.p7b?ReqID=%s&Enc=b64",
                   a->http.url, reqid);
    if (adcs_send(a, "GET", url, NULL, &resp, &meta) == AP_OK &&
        resp.status == 200 && resp.body.data != NULL &&
        x509_pkcs7_to_pem(resp.body.data, &all) == AP_OK) {
        struct buf b;
        const char *p = all;

        buf_init(&b, X509_MAX_BUNDLE);
        /* Every block but the leaf itself. */
        while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL) {
            const char *e = strstr(p, "-----END CERTIFICATE-----");
            size_t n;

            if (e == NULL) {
                break;
            }
            n = (size_t)(e - p) + strlen("-----END CERTIFICATE-----\n");
            if (strncmp(p, res->cert_pem, n) != 0 &&
                buf_append(&b, p, n) != AP_OK) {
                break;
            }
            p += n;
        }
        if (b.len > 0) {
            res->chain_pem = buf_take(&b);
        }
        buf_fini(&b);
    } else {
        log_warn("adcs", "request %s: no chain from certnew.p7b", reqid);
    }
    free(res->ref);
    res->ref = strdup(reqid);
out:
    if (o == ADAPTER_PENDING && res->ref == NULL) {
        res->ref = strdup(reqid);
    }
    free(all);
    httpc_resp_fini(&resp);
    return o;
}

static enum adapter_outcome
adcs_submit(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    struct adcs *a = state;
    struct httpc_resp resp;
    struct buf form;
    char *csr = NULL;
    char *attrib = NULL;
    char *tmpl = NULL;
    char attr[400];
    char url[ADCS_MAX_URL];
    char reqid[ADCS_MAX_REQID];
    const char *t = req->profile != NULL ? req->profile : a->tmpl;
    enum adapter_outcome o;

    httpc_resp_init(&resp);
    buf_init(&form, 65536);
    (void)snprintf(attr, sizeof(attr), "CertificateTemplate:%s\r\n", t);
    csr = httpc_escape(req->csr_pem);
    attrib = httpc_escape(attr);
    tmpl = httpc_escape(t);
    if (csr == NULL || attrib == NULL || tmpl == NULL ||
        buf_printf(&form,
                   "Mode=newreq&CertRequest=%s&CertAttrib=%s&"
                   "FriendlyType=Saved-Request%%20Certificate&"
                   "TargetStoreFlags=0&SaveCert=yes&CertificateTemplate=%s",
                   csr, attrib, tmpl) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
        goto out;
    }
    (void)snprintf(url, sizeof(url), "%s/certfnsh.asp", a->http.url);
    if (adcs_send(a, "POST", url, form.data, &resp, NULL) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "certsrv not reached: %s",
                         resp.error);
        res->in_doubt = resp.sent;
        goto out;
    }
    if (resp.status != 200) {
        if (resp.status == 401) {
            log_err("adcs", "order=%s: certsrv refused the credentials "
                    "(401): check auth, user and password", req->order_id);
        }
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "certsrv answered %ld",
                         resp.status);
        goto out;
    }
    o = adcs_classify_submit(resp.body.data, res, reqid, sizeof(reqid));
    if ((o == ADAPTER_ISSUED || (o == ADAPTER_PENDING && res->ref != NULL)) &&
        req->note_ref != NULL &&
        req->note_ref(req->note_ctx,
                      o == ADAPTER_ISSUED ? reqid : res->ref) != AP_OK) {
        /* Not durable: a crash during the fetch would lose the id. */
        log_warn("adcs", "order=%s: certsrv's request id could not be noted",
                 req->order_id);
    }
    if (o == ADAPTER_ISSUED) {
        o = adcs_fetch(a, reqid, res);
        if (o == ADAPTER_RETRY) {
            /* Issued but not fetched: poll by id, never submit again. */
            free(res->ref);
            res->ref = strdup(reqid);
            res->retry_after = 1;
            o = ADAPTER_PENDING;
        }
    }
out:
    free(csr);
    free(attrib);
    free(tmpl);
    buf_fini(&form);
    httpc_resp_fini(&resp);
    return o;
}

static enum adapter_outcome
adcs_poll(void *state, const char *ref, struct adapter_result *res)
{
    enum adapter_outcome o;

    if (ref[0] == '\0' || strlen(ref) >= ADCS_MAX_REQID ||
        strspn(ref, "0123456789") != strlen(ref)) {
        return adapter_fail(res, ADAPTER_REJECTED, ADAPTER_PROB_INTERNAL,
                            "stored AD CS request id is not a number");
    }
    o = adcs_fetch(state, ref, res);
    if (o == ADAPTER_PENDING && res->ref == NULL) {
        res->ref = strdup(ref);
    }
    return o;
}

static enum adapter_outcome
adcs_lookup(void *state, const struct adapter_request *req,
            struct adapter_result *res)
{
    if (req->ref == NULL) {
        return adapter_fail(res, ADAPTER_UNKNOWN, NULL,
                            "certsrv named no request id before the answer "
                            "was lost, and it cannot be asked otherwise");
    }
    return adcs_poll(state, req->ref, res);
}

static ap_err
adcs_revoke(void *state, const char *cert_pem, int reason, char *errbuf,
            size_t errlen)
{
    struct x509_ids ids;

    (void)state;
    if (x509_cert_ids(cert_pem, &ids) != AP_OK) {
        (void)snprintf(errbuf, errlen, "AD CS web enrollment cannot revoke "
                       "certificates");
        return AP_EINVAL;
    }
    log_warn("adcs", "revocation of serial=%s (reason %d) must be done on "
             "the CA: certutil -revoke %s %d", ids.serial_hex, reason,
             ids.serial_hex, reason);
    (void)snprintf(errbuf, errlen,
                   "AD CS web enrollment cannot revoke certificates: ask the "
                   "CA administrator to revoke serial %s (certutil -revoke)",
                   ids.serial_hex);
    x509_ids_fini(&ids);
    return AP_EINVAL;
}

static ap_err
adcs_health(void *state, char *errbuf, size_t errlen)
{
    struct adcs *a = state;
    struct httpc_resp resp;
    char url[ADCS_MAX_URL];
    ap_err rc;

    httpc_resp_init(&resp);
    (void)snprintf(url, sizeof(url), "%s/", a->http.url);
    rc = adcs_send(a, "GET", url, NULL, &resp, NULL);
    if (rc == AP_OK && resp.status != 200) {
        (void)snprintf(errbuf, errlen, "certsrv answered %ld%s", resp.status,
                       resp.status == 401 ? " (credentials refused)" : "");
        rc = AP_ENET;
    } else if (rc != AP_OK) {
        (void)snprintf(errbuf, errlen, "%s", resp.error);
    }
    httpc_resp_fini(&resp);
    return rc;
}

static void
adcs_free(void *state)
{
    struct adcs *a = state;

    if (a == NULL) {
        return;
    }
    adapter_http_fini(&a->http);
    free(a->tmpl);
    free(a->user);
    adapter_secret_free(a->password);
    free(a);
}

static ap_err
adcs_init(const struct config_section *cfg, const struct adapter_ctx *ctx,
          void **state, char *errbuf, size_t errlen)
{
    struct adcs *a;
    const char *auth;
    ap_err rc;

    (void)ctx;
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return AP_ENOMEM;
    }
    rc = config_section_check(cfg, adcs_keys, "adapter adcs", errbuf, errlen);
    if (rc == AP_OK) {
        rc = adapter_http_load(cfg, "adcs", &a->http, errbuf, errlen);
    }
    if (rc == AP_OK) {
        rc = adapter_conf_dup(cfg, "template", NULL, true, "adcs", &a->tmpl,
                              errbuf, errlen);
    }
    if (rc != AP_OK) {
        goto out;
    }
    auth = adapter_conf_str(cfg, "auth", "ntlm");
    if (strcmp(auth, "basic") == 0) {
        a->auth = HTTPC_AUTH_BASIC;
    } else if (strcmp(auth, "ntlm") == 0) {
        a->auth = HTTPC_AUTH_NTLM;
    } else if (strcmp(auth, "negotiate") == 0 ||
               strcmp(auth, "kerberos") == 0) {
        a->auth = HTTPC_AUTH_NEGOTIATE;
    } else {
        (void)snprintf(errbuf, errlen, "adcs: auth must be basic, ntlm or "
                       "negotiate");
        rc = AP_ECONFIG;
        goto out;
    }
    if (a->auth != HTTPC_AUTH_NEGOTIATE) {
        rc = adapter_conf_dup(cfg, "user", NULL, true, "adcs", &a->user,
                              errbuf, errlen);
        if (rc == AP_OK) {
            rc = adapter_secret(cfg, "password", "adcs", true, &a->password,
                                errbuf, errlen);
        }
        if (rc == AP_OK && a->auth == HTTPC_AUTH_BASIC &&
            strncmp(a->http.url, "https://", 8) != 0) {
            log_warn("adcs", "Basic auth over plain http sends the password "
                     "in clear");
        }
    }
out:
    if (rc == AP_OK) {
        *state = a;
    } else {
        adcs_free(a);
    }
    return rc;
}

const struct adapter_ops adapter_adcs = {
    .abi = ADAPTER_ABI,
    .name = "adcs",
    /* revoke exists (it explains), but never reaches the PKI. */
    .caps = ADAPTER_CAP_POLL | ADAPTER_CAP_CONCURRENT | ADAPTER_CAP_LOOKUP,
    .config_keys = adcs_keys,
    .init = adcs_init,
    .submit = adcs_submit,
    .poll = adcs_poll,
    .lookup = adcs_lookup,
    .revoke = adcs_revoke,
    .health = adcs_health,
    .free = adcs_free,
};
