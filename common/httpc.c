/* common/httpc.c: capped, deadline-bound GETs with libcurl. */
#include "common/httpc.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

ap_err
httpc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? AP_OK
                                                             : AP_ENET;
}

void
httpc_global_fini(void)
{
    curl_global_cleanup();
}

void
httpc_resp_init(struct httpc_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
}

void
httpc_resp_fini(struct httpc_resp *resp)
{
    buf_fini(&resp->body);
}

struct sink {
    struct buf *body;
    int overflow;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;

    if (buf_append(s->body, ptr, n) != AP_OK) {
        s->overflow = 1;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

ap_err
httpc_get(const struct httpc_req *req, struct httpc_resp *resp)
{
    CURL *h;
    CURLcode cc = CURLE_OK;
    struct curl_slist *pin = NULL;
    struct sink sink;
    char pinline[600];
    char *loc = NULL;
    ap_err rc = AP_ENET;

    buf_init(&resp->body, req->max_body);
    sink.body = &resp->body;
    sink.overflow = 0;
    h = curl_easy_init();
    if (h == NULL) {
        snprintf(resp->error, sizeof(resp->error), "curl_easy_init failed");
        return AP_ENOMEM;
    }
    if (req->pin_addr != NULL) {
        if (strchr(req->pin_addr, ':') != NULL) {
            snprintf(pinline, sizeof(pinline), "%s:%u:[%s]", req->pin_host,
                     req->pin_port, req->pin_addr);
        } else {
            snprintf(pinline, sizeof(pinline), "%s:%u:%s", req->pin_host,
                     req->pin_port, req->pin_addr);
        }
        pin = curl_slist_append(NULL, pinline);
        if (pin == NULL) {
            rc = AP_ENOMEM;
            goto out;
        }
    }
    if (curl_easy_setopt(h, CURLOPT_URL, req->url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, req->protocols) !=
            CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)req->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms) !=
            CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_USERAGENT, "acmeproxy-validator") !=
            CURLE_OK ||
        (pin != NULL &&
         curl_easy_setopt(h, CURLOPT_RESOLVE, pin) != CURLE_OK)) {
        snprintf(resp->error, sizeof(resp->error), "libcurl setup failed");
        rc = AP_EINTERNAL;
        goto out;
    }
    /* http-01 may redirect to https (RFC 8555 §8.3), where the validator
     * does not check the certificate: the key authorization proves it. */
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    cc = curl_easy_perform(h);
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
        loc != NULL) {
        snprintf(resp->location, sizeof(resp->location), "%s", loc);
    }
    if (sink.overflow) {
        snprintf(resp->error, sizeof(resp->error),
                 "response body larger than %zu bytes", req->max_body);
        rc = AP_ETOOBIG;
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(resp->error, sizeof(resp->error), "timed out after %u ms",
                 req->timeout_ms);
        rc = AP_ETIMEOUT;
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s",
                 curl_easy_strerror(cc));
        rc = AP_ENET;
        goto out;
    }
    rc = AP_OK;
out:
    curl_slist_free_all(pin);
    curl_easy_cleanup(h);
    return rc;
}
