/* proxy/problem.c: the RFC 8555 §6.7 table and problem+json rendering. */
#include "proxy/problem.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"

struct problem_info {
    const char *urn;
    int status;
};

#define ACME_ERR "urn:ietf:params:acme:error:"

/* Statuses follow RFC 8555 where it names one (§7.3.x, §7.4: orderNotReady
 * 403, unauthorized 403, rateLimited 429, serverInternal 500) and 400
 * otherwise. */
static const struct problem_info problems[] = {
    [PROB_ACCOUNT_DOES_NOT_EXIST] = { ACME_ERR "accountDoesNotExist", 400 },
    [PROB_ALREADY_REVOKED] = { ACME_ERR "alreadyRevoked", 400 },
    [PROB_BAD_CSR] = { ACME_ERR "badCSR", 400 },
    [PROB_BAD_NONCE] = { ACME_ERR "badNonce", 400 },
    [PROB_BAD_PUBLIC_KEY] = { ACME_ERR "badPublicKey", 400 },
    [PROB_BAD_REVOCATION_REASON] = { ACME_ERR "badRevocationReason", 400 },
    [PROB_BAD_SIGNATURE_ALGORITHM] = { ACME_ERR "badSignatureAlgorithm",
                                       400 },
    [PROB_CAA] = { ACME_ERR "caa", 403 },
    [PROB_COMPOUND] = { ACME_ERR "compound", 400 },
    [PROB_CONNECTION] = { ACME_ERR "connection", 400 },
    [PROB_DNS] = { ACME_ERR "dns", 400 },
    [PROB_EXTERNAL_ACCOUNT_REQUIRED] = { ACME_ERR "externalAccountRequired",
                                         400 },
    [PROB_INCORRECT_RESPONSE] = { ACME_ERR "incorrectResponse", 400 },
    [PROB_INVALID_CONTACT] = { ACME_ERR "invalidContact", 400 },
    [PROB_MALFORMED] = { ACME_ERR "malformed", 400 },
    [PROB_ORDER_NOT_READY] = { ACME_ERR "orderNotReady", 403 },
    [PROB_RATE_LIMITED] = { ACME_ERR "rateLimited", 429 },
    [PROB_REJECTED_IDENTIFIER] = { ACME_ERR "rejectedIdentifier", 400 },
    [PROB_SERVER_INTERNAL] = { ACME_ERR "serverInternal", 500 },
    [PROB_TLS] = { ACME_ERR "tls", 400 },
    [PROB_UNAUTHORIZED] = { ACME_ERR "unauthorized", 403 },
    [PROB_UNSUPPORTED_CONTACT] = { ACME_ERR "unsupportedContact", 400 },
    [PROB_UNSUPPORTED_IDENTIFIER] = { ACME_ERR "unsupportedIdentifier", 400 },
    [PROB_USER_ACTION_REQUIRED] = { ACME_ERR "userActionRequired", 403 },
    [PROB_NOT_FOUND] = { ACME_ERR "malformed", 404 },
    [PROB_METHOD_NOT_ALLOWED] = { ACME_ERR "malformed", 405 },
    [PROB_UNSUPPORTED_MEDIA] = { ACME_ERR "malformed", 415 },
    [PROB_TOO_LARGE] = { ACME_ERR "malformed", 413 },
    [PROB_CONFLICT] = { ACME_ERR "malformed", 409 },
    [PROB_NOT_ACCEPTABLE] = { ACME_ERR "malformed", 406 },
    [PROB_ALREADY_REPLACED] = { ACME_ERR "alreadyReplaced", 409 },
    [PROB_INVALID_PROFILE] = { ACME_ERR "invalidProfile", 400 },
    [PROB_URI_TOO_LONG] = { ACME_ERR "malformed", 414 },
};
_Static_assert(sizeof(problems) / sizeof(problems[0]) == PROB__MAX,
               "problems must cover every problem_type");

const char *
problem_urn(enum problem_type t)
{
    return problems[t].urn;
}

int
problem_status(enum problem_type t)
{
    return problems[t].status;
}

cJSON *
problem_object(enum problem_type t, const char *detail)
{
    cJSON *obj = cJSON_CreateObject();

    if (obj == NULL) {
        return NULL;
    }
    if (cJSON_AddStringToObject(obj, "type", problems[t].urn) == NULL ||
        cJSON_AddStringToObject(obj, "detail", detail) == NULL ||
        cJSON_AddNumberToObject(obj, "status", problems[t].status) == NULL) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* Makes a detail valid UTF-8 for JSON: a character cut by the buffer's
 * end is dropped, and any other byte that is not part of well-formed UTF-8
 * (quoting what a client sent) becomes '?'. */
static void
utf8_clean(char *s, bool truncated)
{
    size_t n = strlen(s);
    size_t i = 0;

    if (truncated) {
        size_t lead = n;

        while (lead > 0 && n - lead < 4 &&
               ((unsigned char)s[lead - 1] & 0xc0) == 0x80) {
            lead--;
        }
        if (lead > 0 && (unsigned char)s[lead - 1] >= 0xc0 &&
            json_utf8_len((unsigned char *)s + lead - 1, n - lead + 1) == 0) {
            s[lead - 1] = '\0';
            n = lead - 1;
        }
    }
    while (i < n) {
        size_t l = json_utf8_len((unsigned char *)s + i, n - i);

        if (l == 0) {
            s[i] = '?';
            l = 1;
        }
        i += l;
    }
}

static void render(struct acme_resp *resp, enum problem_type t,
                   cJSON *extra, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
render(struct acme_resp *resp, enum problem_type t, cJSON *extra,
       const char *fmt, va_list ap)
{
    char detail[512];
    int n;
    cJSON *obj;
    char *text = NULL;

    n = vsnprintf(detail, sizeof(detail), fmt, ap);
    utf8_clean(detail, n >= (int)sizeof(detail));
    obj = problem_object(t, detail);
    if (obj != NULL && extra != NULL) {
        cJSON *c = extra->child;

        while (c != NULL) {
            cJSON *next = c->next;

            cJSON_AddItemToObject(obj, c->string,
                                  cJSON_DetachItemViaPointer(extra, c));
            c = next;
        }
    }
    cJSON_Delete(extra);
    if (obj != NULL) {
        text = json_print(obj);
    }
    cJSON_Delete(obj);
    buf_reset(&resp->body);
    if (text == NULL ||
        buf_appends(&resp->body, text) != AP_OK) {
        /* Out of memory: an empty body still carries the status. */
        buf_reset(&resp->body);
    }
    cJSON_free(text);
    resp->status = problems[t].status;
    resp->content_type = "application/problem+json";
    resp->is_problem = true;
    resp->problem = (int)t;
}

void
problem_set(struct acme_resp *resp, enum problem_type t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    render(resp, t, NULL, fmt, ap);
    va_end(ap);
}

void
problem_set_with(struct acme_resp *resp, enum problem_type t, cJSON *extra,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    render(resp, t, extra, fmt, ap);
    va_end(ap);
}
