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
#include "adapters/parse.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/globals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "common/buf.h"
#include "common/json.h"
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

/* certsrv pages are HTML written by ASP: the disposition message of a
 * denial is page text, so it is read from libxml2's HTML parser (entities
 * decoded, tags and scripts apart) rather than cut out of the bytes. */

/* Marks the end of a block element in the page text. */
#define ADCS_BLOCK '\x1e'
#define ADCS_MAX_MSG 300

/* libxml2 is not linked: it is loaded with dlopen when an adcs adapter is
 * set up (adcs_xml_init), so a proxy without one maps neither it nor what
 * it pulls in (ICU, libstdc++, liblzma: about 2 MB of idle RSS). */
#define ADCS_LIBXML2 "libxml2.so.2"

/* Every libxml2 function this file calls, as xl.<name>. */
#define XML_FUNCS(X)                                                       \
    X(htmlReadMemory) X(xmlStrcasecmp) X(xmlDocGetRootElement)             \
    X(xmlGetProp) X(xmlFreeDoc) X(xmlInitParser)                           \
    X(xmlThrDefSetGenericErrorFunc) X(xmlSetGenericErrorFunc)              \
    X(xmlThrDefSetStructuredErrorFunc) X(xmlSetStructuredErrorFunc)

/* Written once under adcs_xml_once, read-only after. free is libxml2's
 * xmlFree, a variable holding its deallocator. */
static struct xml_api {
#define XML_FIELD(name) __typeof__(name) *name;
    XML_FUNCS(XML_FIELD)
#undef XML_FIELD
    xmlFreeFunc free;
} xl;
static bool adcs_xml_bound;
static char adcs_xml_why[200]; /* why not bound (set once) */
static pthread_once_t adcs_xml_once = PTHREAD_ONCE_INIT;

/* libxml2 reports errors of hostile pages to stderr unless told not to. */
static void
adcs_xml_quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* Once per process: the parser's globals, and silence for its generic
 * error channel (encoding errors of a hostile page) in this thread and,
 * through the thread defaults, in the issuer threads. */
static void
adcs_xml_init(void)
{
    void *h = dlopen(ADCS_LIBXML2, RTLD_NOW | RTLD_LOCAL);
    xmlFreeFunc *fr = NULL;
    const char *e;

    if (h == NULL) {
        e = dlerror();
        snprintf(adcs_xml_why, sizeof(adcs_xml_why), "the adcs adapter "
                 "needs libxml2 (%s, Debian package libxml2): %s",
                 ADCS_LIBXML2, e != NULL ? e : "not found");
        return;
    }
#define XML_SYM(name)                                                      \
    if (adcs_xml_why[0] == '\0') {                                         \
        *(void **)&xl.name = dlsym(h, #name);                              \
        if (xl.name == NULL) {                                             \
            snprintf(adcs_xml_why, sizeof(adcs_xml_why), "%s has no %s",   \
                     ADCS_LIBXML2, #name);                                 \
        }                                                                  \
    }
    XML_FUNCS(XML_SYM)
#undef XML_SYM
    if (adcs_xml_why[0] == '\0') {
        fr = dlsym(h, "xmlFree");
        if (fr == NULL || *fr == NULL) {
            snprintf(adcs_xml_why, sizeof(adcs_xml_why), "%s has no xmlFree",
                     ADCS_LIBXML2);
        }
    }
    if (adcs_xml_why[0] != '\0') {
        memset(&xl, 0, sizeof(xl));
        (void)dlclose(h);
        return;
    }
    xl.free = *fr; /* never closed: the pointers stay valid */
    adcs_xml_bound = true;
    xl.xmlInitParser();
    xl.xmlThrDefSetGenericErrorFunc(NULL, adcs_xml_quiet);
    xl.xmlSetGenericErrorFunc(NULL, adcs_xml_quiet);
    xl.xmlThrDefSetStructuredErrorFunc(NULL, NULL);
    xl.xmlSetStructuredErrorFunc(NULL, NULL);
}

/* The page as a tree; NULL when it is not HTML libxml2 can read. */
static htmlDocPtr
adcs_html(const char *body, size_t len)
{
    (void)pthread_once(&adcs_xml_once, adcs_xml_init);
    if (!adcs_xml_bound || body == NULL || len == 0 || len > INT_MAX) {
        return NULL;
    }
    return xl.htmlReadMemory(body, (int)len, NULL, NULL,
                             HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
                                 HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
}

static bool
adcs_is_block(const xmlNode *n)
{
    static const char *const blocks[] = {
        "html", "head", "title", "body", "p", "div", "dl", "dt", "dd",
        "table", "tr", "td", "th", "ul", "ol", "li", "h1", "h2", "h3",
        "h4", "h5", "h6", "pre", "form", "center", "blockquote", "hr",
    };

    if (n->type != XML_ELEMENT_NODE || n->name == NULL) {
        return false;
    }
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
        if (xl.xmlStrcasecmp(n->name, (const xmlChar *)blocks[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool
adcs_is_named(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->name != NULL &&
           xl.xmlStrcasecmp(n->name, (const xmlChar *)name) == 0;
}

/* Appends text (UTF-8 from libxml2) with every run of white space or
 * control characters (CR, LF, tab, no-break space among them) as one
 * space. */
static ap_err
adcs_put_text(struct buf *b, const char *t)
{
    ap_err rc = AP_OK;

    for (const unsigned char *p = (const unsigned char *)t;
         *p != '\0' && rc == AP_OK; p++) {
        bool space = *p <= 0x20 || *p == 0x7f;

        if (p[0] == 0xc2 && p[1] == 0xa0) { /* &nbsp; */
            space = true;
            p++;
        }
        if (!space) {
            rc = buf_append(b, p, 1);
        } else if (b->len > 0 && b->data[b->len - 1] != ' ' &&
                   b->data[b->len - 1] != ADCS_BLOCK) {
            rc = buf_append(b, " ", 1);
        }
    }
    return rc;
}

static ap_err
adcs_put_block(struct buf *b)
{
    if (b->len > 0 && b->data[b->len - 1] == ' ') {
        b->len--;
        b->data[b->len] = '\0';
    }
    if (b->len > 0 && b->data[b->len - 1] == ADCS_BLOCK) {
        return AP_OK;
    }
    return buf_append(b, (const char[]){ ADCS_BLOCK }, 1);
}

/* AD CS request ids are 32-bit numbers. */
#define ADCS_MAX_REQID_NUM 4294967295LL

/* The request id whose digits start at p, into out: 1 to 10 digits, a
 * number from 1 to 2^32-1, ending there. out is "" otherwise. */
static bool
adcs_take_id(const char *p, char *out, size_t len)
{
    char digits[16];
    size_t k = 0;
    long long n;

    out[0] = '\0';
    while (p[k] >= '0' && p[k] <= '9' && k < sizeof(digits) - 1) {
        digits[k] = p[k];
        k++;
    }
    digits[k] = '\0';
    if (k == 0 || (p[k] >= '0' && p[k] <= '9') ||
        json_int_text(digits, 1, ADCS_MAX_REQID_NUM, &n) != AP_OK ||
        snprintf(out, len, "%lld", n) >= (int)len) {
        out[0] = '\0';
        return false;
    }
    return true;
}

/* The visible text of the page: text nodes outside script and style,
 * each block element ending in ADCS_BLOCK. A request id found in a link
 * or a script ("certnew.cer?ReqID=<n>&") goes to reqid when it is not
 * NULL. Walks without recursion: a page may nest without limit. */
static ap_err
adcs_page_text(htmlDocPtr doc, struct buf *b, char *reqid, size_t reqid_len)
{
    static const char marker[] = "certnew.cer?ReqID=";
    xmlNode *n = xl.xmlDocGetRootElement(doc);
    ap_err rc = AP_OK;

    while (n != NULL && rc == AP_OK) {
        const char *found = NULL;
        bool descend = true;

        if (n->type == XML_ELEMENT_NODE) {
            xmlChar *href = NULL;

            if (adcs_is_named(n, "script") || adcs_is_named(n, "style")) {
                descend = adcs_is_named(n, "script");
            }
            if (adcs_is_named(n, "br")) {
                rc = adcs_put_text(b, " ");
            }
            if (reqid != NULL && reqid[0] == '\0' &&
                (href = xl.xmlGetProp(n, (const xmlChar *)"href")) != NULL) {
                found = strstr((const char *)href, marker);
                if (found != NULL) {
                    (void)adcs_take_id(found + strlen(marker), reqid,
                                       reqid_len);
                }
                xl.free(href);
            }
        } else if ((n->type == XML_TEXT_NODE ||
                    n->type == XML_CDATA_SECTION_NODE) &&
                   n->content != NULL) {
            if (adcs_is_named(n->parent, "script")) {
                /* location="certnew.cer?ReqID=12&"+getEncoding() */
                found = reqid != NULL && reqid[0] == '\0'
                            ? strstr((const char *)n->content, marker)
                            : NULL;
                if (found != NULL) {
                    (void)adcs_take_id(found + strlen(marker), reqid,
                                       reqid_len);
                }
            } else if (!adcs_is_named(n->parent, "style")) {
                rc = adcs_put_text(b, (const char *)n->content);
            }
        }
        if (rc != AP_OK) {
            break;
        }
        /* Next node in document order; a block's end is marked on the
         * way up. */
        if (descend && n->type == XML_ELEMENT_NODE && n->children != NULL) {
            if (adcs_is_block(n)) {
                rc = adcs_put_block(b);
            }
            n = n->children;
            continue;
        }
        if (adcs_is_block(n)) {
            rc = adcs_put_block(b);
        }
        while (n != NULL && n->next == NULL && rc == AP_OK) {
            n = n->parent;
            if (n == NULL || n->type == XML_DOCUMENT_NODE ||
                n->type == XML_HTML_DOCUMENT_NODE) {
                n = NULL;
                break;
            }
            if (adcs_is_block(n)) {
                rc = adcs_put_block(b);
            }
        }
        if (n != NULL) {
            n = n->next;
        }
    }
    return rc;
}

/* Copies at most outlen - 1 bytes of s[0, n) into out, never cutting a
 * UTF-8 sequence, without leading or trailing spaces. */
static void
adcs_copy_text(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    size_t i = 0;

    while (n > 0 && s[0] == ' ') {
        s++;
        n--;
    }
    while (n > 0 && s[n - 1] == ' ') {
        n--;
    }
    while (i < n) {
        size_t l = json_utf8_len((const unsigned char *)s + i, n - i);

        if (l == 0) {
            l = 1; /* not UTF-8: dropped */
        } else if (k + l >= outlen) {
            break;
        } else {
            memcpy(out + k, s + i, l);
            k += l;
        }
        i += l;
    }
    out[k] = '\0';
}

/* The text after label on the page (page text from adcs_page_text): the
 * rest of the label's block, or when that is empty the next non-empty
 * block (the <DD> after a <DT>). NULL when label is not there. */
static const char *
adcs_after(const char *text, const char *label, size_t *len)
{
    const char *p = strstr(text, label);
    const char *e;

    if (p == NULL) {
        return NULL;
    }
    p += strlen(label);
    for (int blocks = 0; blocks < 8; blocks++) {
        while (*p == ' ') {
            p++;
        }
        e = strchr(p, ADCS_BLOCK);
        if (e == NULL) {
            e = p + strlen(p);
        }
        if (e > p || *e == '\0') {
            *len = (size_t)(e - p);
            return p;
        }
        p = e + 1;
    }
    *len = 0;
    return p;
}

/* The message of 'The disposition message is "<msg>".': the text between
 * the first quote and the last quote of the block (the message itself
 * may hold quotes), or the whole rest when it is not quoted. */
static void
adcs_quoted(const char *p, size_t n, char *out, size_t outlen)
{
    while (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    if (n > 0 && *p == '"') {
        const char *last = NULL;

        for (size_t i = 1; i < n; i++) {
            if (p[i] == '"') {
                last = p + i;
            }
        }
        p++;
        n = last != NULL ? (size_t)(last - p) : n - 1;
    }
    adcs_copy_text(p, n, out, outlen);
}

/* The page text of body into b (and the request id of a link into
 * reqid). AP_EPARSE when it is not a page. */
static ap_err
adcs_read_page(const char *body, size_t len, struct buf *b, char *reqid,
               size_t reqid_len)
{
    htmlDocPtr doc = adcs_html(body, len);
    ap_err rc;

    if (reqid != NULL && reqid_len > 0) {
        reqid[0] = '\0';
    }
    if (doc == NULL) {
        return AP_EPARSE;
    }
    rc = adcs_page_text(doc, b, reqid, reqid_len);
    xl.xmlFreeDoc(doc);
    if (rc == AP_OK && b->data == NULL) {
        rc = buf_append(b, "", 0);
    }
    return rc;
}

static void
adcs_disposition_text(const char *text, bool last_status, char *out,
                      size_t outlen)
{
    const char *p;
    size_t n = 0;

    out[0] = '\0';
    if (!last_status &&
        (p = adcs_after(text, "The disposition message is", &n)) != NULL) {
        adcs_quoted(p, n, out, outlen);
        return;
    }
    p = adcs_after(text, last_status ? "LastStatus:" : "Disposition message:",
                   &n);
    if (p != NULL) {
        adcs_copy_text(p, n, out, outlen);
    }
}

void
adcs_disposition(const char *html, size_t len, bool last_status, char *out,
                 size_t outlen)
{
    struct buf b;

    buf_init(&b, len + 64);
    out[0] = '\0';
    if (adcs_read_page(html, len, &b, NULL, 0) == AP_OK) {
        adcs_disposition_text(b.data, last_status, out, outlen);
    }
    buf_fini(&b);
}

/* The request id after label in text into out. */
static bool
adcs_digits_after(const char *text, const char *label, char *out, size_t len)
{
    const char *p = strstr(text, label);

    out[0] = '\0';
    return p != NULL && adcs_take_id(p + strlen(label), out, len);
}

enum adapter_outcome
adcs_parse_submit(const struct adapter_answer *a, struct adapter_result *res,
                  char *reqid, size_t reqid_len)
{
    struct buf b;
    char msg[ADCS_MAX_MSG];
    enum adapter_outcome o;

    buf_init(&b, a->body_len + 64);
    if (a->body == NULL || a->body_len == 0 ||
        adcs_read_page(a->body, a->body_len, &b, reqid, reqid_len) !=
            AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL,
                         "certsrv answered an empty page");
        goto out;
    }
    if (reqid[0] != '\0') {
        o = ADAPTER_ISSUED;
        goto out;
    }
    if (strstr(b.data, "Certificate Pending") != NULL &&
        adcs_digits_after(b.data, "Your Request Id is ", reqid, reqid_len)) {
        res->ref = strdup(reqid);
        o = adapter_fail(res, ADAPTER_PENDING, NULL,
                         "AD CS request %s waits for a certificate manager",
                         reqid);
        goto out;
    }
    reqid[0] = '\0';
    if (strstr(b.data, "The disposition message is") != NULL) {
        adcs_disposition_text(b.data, false, msg, sizeof(msg));
        o = adapter_fail(res, ADAPTER_REJECTED, ADAPTER_PROB_REJECTED,
                         "AD CS denied the request: %s",
                         msg[0] != '\0' ? msg : "no disposition message");
        goto out;
    }
    o = adapter_fail(res, ADAPTER_RETRY, NULL,
                     "certsrv answered a page this adapter does not know");
out:
    buf_fini(&b);
    return o;
}

enum adapter_outcome
adcs_parse_fetch(const struct adapter_answer *a, struct adapter_result *res)
{
    char disp[ADCS_MAX_MSG];
    char last[ADCS_MAX_MSG];
    struct buf b;
    long status = a->status;
    enum adapter_outcome o;

    if (status != 200 || a->body == NULL || a->body_len == 0) {
        return adapter_fail(res, adapter_status_outcome(status) ==
                                         ADAPTER_RETRY ||
                                     status == 401 || status == 200
                                 ? ADAPTER_RETRY
                                 : ADAPTER_REJECTED,
                            ADAPTER_PROB_REJECTED, "certsrv answered %ld%s",
                            status, status == 200 ? " with nothing" : "");
    }
    buf_init(&b, a->body_len + 64);
    if (a->content_type != NULL &&
        strstr(a->content_type, "application/pkix-cert") != NULL) {
        /* PEM text (CRLF): a C string for the PEM reader. */
        if (buf_append(&b, a->body, a->body_len) != AP_OK ||
            strlen(b.data) != a->body_len ||
            x509_pem_normalize(b.data, 0, &res->cert_pem, NULL) != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "certnew.cer is not a PEM certificate");
            goto out;
        }
        o = ADAPTER_ISSUED;
        goto out;
    }
    if (adcs_read_page(a->body, a->body_len, &b, NULL, 0) != AP_OK) {
        o = adapter_fail(res, ADAPTER_RETRY, NULL,
                         "certsrv answered an empty page");
        goto out;
    }
    adcs_disposition_text(b.data, false, disp, sizeof(disp));
    adcs_disposition_text(b.data, true, last, sizeof(last));
    if (strstr(b.data, "Taken Under Submission") != NULL) {
        o = adapter_fail(res, ADAPTER_PENDING, NULL,
                         "AD CS: taken under submission");
    } else if (strstr(b.data, "CERTSRV_E_ADMIN_DENIED_REQUEST") != NULL ||
               strstr(b.data, "denied") != NULL ||
               strstr(b.data, "Denied") != NULL) {
        o = adapter_fail(res, ADAPTER_REJECTED, ADAPTER_PROB_REJECTED,
                         "AD CS: %s%s%s",
                         disp[0] != '\0' ? disp : "",
                         disp[0] != '\0' && last[0] != '\0' ? ": " : "",
                         last[0] != '\0' || disp[0] != '\0'
                             ? last
                             : "denied by a certificate manager");
    } else {
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "AD CS: %s",
                         last[0] != '\0' ? last : "unexpected page");
    }
out:
    buf_fini(&b);
    return o;
}

enum adapter_outcome
adcs_classify_submit(const char *html, struct adapter_result *res,
                     char *reqid, size_t reqid_len)
{
    struct adapter_answer a = { 200, html, html ? strlen(html) : 0,
                                "text/html", -1 };

    if (reqid_len > 0) {
        reqid[0] = '\0';
    }
    return adcs_parse_submit(&a, res, reqid, reqid_len);
}

enum adapter_outcome
adcs_classify_fetch(long status, const char *ctype, const char *body,
                    struct adapter_result *res)
{
    struct adapter_answer a = { status, body, body ? strlen(body) : 0, ctype,
                                -1 };

    return adcs_parse_fetch(&a, res);
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
    o = adcs_parse_fetch(&(struct adapter_answer){ resp.status,
                                                   resp.body.data,
                                                   resp.body.len,
                                                   meta.content_type, -1 },
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
    o = adcs_parse_submit(&(struct adapter_answer){ resp.status,
                                                    resp.body.data,
                                                    resp.body.len,
                                                    NULL, -1 },
                          res, reqid, sizeof(reqid));
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
    /* libxml2 wants its set-up in the main thread, before the workers. */
    (void)pthread_once(&adcs_xml_once, adcs_xml_init);
    if (!adcs_xml_bound) {
        snprintf(errbuf, errlen, "%s", adcs_xml_why);
        return AP_ECONFIG;
    }
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
