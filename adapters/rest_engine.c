/* adapters/rest_engine.c: the generic REST adapter's template engine
 * (rest_engine.h): JSON pointers, template rendering, expect/extract
 * rules and the login answer. No I/O. */
#include "adapters/rest_engine.h"

#include <ctype.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/adapters_int.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "common/x509.h"

/* ------------------------------------------------------------ pointers */

const cJSON *
rest_pointer(const cJSON *root, const char *ptr)
{
    const cJSON *cur = root;
    char tok[256];

    if (root == NULL || ptr == NULL) {
        return NULL;
    }
    if (ptr[0] == '\0') {
        return root;
    }
    if (ptr[0] != '/') {
        return NULL;
    }
    while (*ptr == '/' && cur != NULL) {
        size_t k = 0;

        ptr++;
        while (*ptr != '\0' && *ptr != '/') {
            char c = *ptr++;

            /* RFC 6901: ~1 is '/', ~0 is '~', nothing else after '~'. */
            if (c == '~') {
                if (*ptr == '0') {
                    c = '~';
                } else if (*ptr == '1') {
                    c = '/';
                } else {
                    return NULL;
                }
                ptr++;
            }
            if (k + 1 >= sizeof(tok)) {
                return NULL;
            }
            tok[k++] = c;
        }
        tok[k] = '\0';
        if (cJSON_IsArray(cur)) {
            char *end = NULL;
            long idx;

            if (k == 0 || (k > 1 && tok[0] == '0') ||
                strspn(tok, "0123456789") != k) {
                return NULL;
            }
            idx = strtol(tok, &end, 10);
            cur = cJSON_GetArrayItem(cur, (int)idx);
        } else if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        } else {
            return NULL;
        }
    }
    return cur;
}

/* The text of v: a string as is, a number when it is an integer within
 * +-JSON_INT_EXACT_MAX (a PKI's ids and codes; anything else, such as
 * 1.5, 5E55 or 1e400, is a malformed answer and gives NULL), a bool as
 * true/false, an array's items joined with sep. NULL for other types, a
 * bad number anywhere in an array, or ENOMEM. */
static char *
value_text(const cJSON *v, const char *sep)
{
    struct buf b;
    const cJSON *it;
    char num[64];

    if (cJSON_IsString(v)) {
        return strdup(v->valuestring);
    }
    if (cJSON_IsNumber(v)) {
        long long n;

        if (json_int_value(v, JSON_INT_NUMBER, -JSON_INT_EXACT_MAX,
                           JSON_INT_EXACT_MAX, &n) != AP_OK) {
            return NULL;
        }
        (void)snprintf(num, sizeof(num), "%lld", n);
        return strdup(num);
    }
    if (cJSON_IsBool(v)) {
        return strdup(cJSON_IsTrue(v) ? "true" : "false");
    }
    if (cJSON_IsArray(v)) {
        bool first = true;

        buf_init(&b, REST_MAX_TEXT);
        cJSON_ArrayForEach(it, v) {
            char *t = value_text(it, sep);

            if (t == NULL ||
                (!first && buf_appends(&b, sep) != AP_OK) ||
                buf_appends(&b, t) != AP_OK) {
                free(t);
                buf_fini(&b);
                return NULL;
            }
            free(t);
            first = false;
        }
        return buf_take(&b);
    }
    return NULL;
}

char *
rest_pointer_text(const cJSON *root, const char *ptr, const char *sep)
{
    size_t n = ptr != NULL ? strlen(ptr) : 0;
    const cJSON *v;

    if (n >= 2 && strcmp(ptr + n - 2, "/*") == 0) {
        char *parent = strndup(ptr, n - 2);

        if (parent == NULL) {
            return NULL;
        }
        v = rest_pointer(root, parent);
        free(parent);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
            return NULL;
        }
        return value_text(v, sep);
    }
    v = rest_pointer(root, ptr);
    if (v == NULL || cJSON_IsNull(v) || cJSON_IsObject(v)) {
        return NULL;
    }
    return value_text(v, sep);
}

/* ------------------------------------------------------------ values */

static const char *
first_name(const struct adapter_request *r)
{
    if (r->n_dns_names > 0) {
        return r->dns_names[0];
    }
    return r->n_ip_addrs > 0 ? r->ip_addrs[0] : "";
}

static cJSON *
names_array(const char *const *a, size_t n, const char *const *b, size_t m)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && i < n + m; i++) {
        cJSON *s = cJSON_CreateString(i < n ? a[i] : b[i - n]);

        if (s == NULL) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, s);
    }
    return arr;
}

static cJSON *
take_string(char *s)
{
    cJSON *v;

    if (s == NULL) {
        return NULL;
    }
    v = cJSON_CreateString(s);
    free(s);
    return v;
}

static cJSON *
uuid_value(void)
{
    unsigned char r[16];
    char s[40];

    if (crypto_random(r, sizeof(r)) != AP_OK) {
        return NULL;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    (void)snprintf(s, sizeof(s),
                   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                   "%02x%02x%02x%02x%02x%02x",
                   r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                   r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    return cJSON_CreateString(s);
}

/* The typed value of a placeholder (new cJSON, caller deletes). AP_EINVAL
 * when the name is unknown or has no value in this operation. */
static ap_err
var_value(const struct rest_vars *v, const cJSON *secrets, const char *name,
          cJSON **out)
{
    const struct adapter_request *r = v->req;
    cJSON *val = NULL;
    char buf[64];

    if (strcmp(name, "base_url") == 0 && v->base_url != NULL) {
        val = cJSON_CreateString(v->base_url);
    } else if (strcmp(name, "now") == 0) {
        val = cJSON_CreateNumber((double)v->now);
    } else if (strncmp(name, "now+", 4) == 0 || strncmp(name, "now-", 4) == 0) {
        char *end = NULL;
        long d = strtol(name + 4, &end, 10);

        if (end == name + 4 || *end != '\0' || d < 0 || d > 10000000) {
            return AP_EINVAL;
        }
        val = cJSON_CreateNumber((double)(v->now + (name[3] == '+' ? d : -d)));
    } else if (strcmp(name, "uuid") == 0) {
        val = uuid_value();
    } else if (strcmp(name, "token") == 0 && v->token != NULL) {
        val = cJSON_CreateString(v->token);
    } else if (strncmp(name, "secret:", 7) == 0) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(secrets, name + 7);

        if (!cJSON_IsString(s)) {
            return AP_EINVAL;
        }
        val = cJSON_CreateString(s->valuestring);
    } else if (strncmp(name, "jwt:", 4) == 0) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(v->jwts, name + 4);

        if (!cJSON_IsString(s)) {
            return AP_EINVAL;
        }
        val = cJSON_CreateString(s->valuestring);
    } else if (strcmp(name, "ref") == 0 && v->ref != NULL) {
        val = cJSON_CreateString(v->ref);
    } else if (strncmp(name, "ref.", 4) == 0 && v->ref != NULL) {
        cJSON *ref = NULL;
        char *t;

        if (json_parse(v->ref, strlen(v->ref), &ref) != AP_OK) {
            return AP_EINVAL;
        }
        t = value_text(cJSON_GetObjectItemCaseSensitive(ref, name + 4), ",");
        cJSON_Delete(ref);
        if (t == NULL) {
            return AP_EINVAL;
        }
        val = take_string(t);
    } else if (r != NULL && strcmp(name, "csr_pem") == 0) {
        val = cJSON_CreateString(r->csr_pem);
    } else if (r != NULL && strcmp(name, "csr_b64") == 0) {
        struct buf b;
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                 "qrstuvwxyz0123456789+/";

        buf_init(&b, REST_MAX_TEXT);
        for (size_t i = 0; i < r->csr_der_len; i += 3) {
            unsigned x = (unsigned)r->csr_der[i] << 16;
            char q[4];

            x |= i + 1 < r->csr_der_len ? (unsigned)r->csr_der[i + 1] << 8 : 0;
            x |= i + 2 < r->csr_der_len ? r->csr_der[i + 2] : 0;
            q[0] = al[(x >> 18) & 63];
            q[1] = al[(x >> 12) & 63];
            q[2] = i + 1 < r->csr_der_len ? al[(x >> 6) & 63] : '=';
            q[3] = i + 2 < r->csr_der_len ? al[x & 63] : '=';
            if (buf_append(&b, q, 4) != AP_OK) {
                buf_fini(&b);
                return AP_ENOMEM;
            }
        }
        val = take_string(buf_take(&b));
    } else if (r != NULL && (strcmp(name, "cn") == 0 ||
                             strcmp(name, "sub") == 0)) {
        val = cJSON_CreateString(first_name(r));
    } else if (r != NULL && strcmp(name, "ids") == 0) {
        val = names_array(r->dns_names, r->n_dns_names, r->ip_addrs,
                          r->n_ip_addrs);
    } else if (r != NULL && strcmp(name, "dns") == 0) {
        val = names_array(r->dns_names, r->n_dns_names, NULL, 0);
    } else if (r != NULL && strcmp(name, "ip") == 0) {
        val = names_array(r->ip_addrs, r->n_ip_addrs, NULL, 0);
    } else if (r != NULL && (strcmp(name, "dns_csv") == 0 ||
                             strcmp(name, "ip_csv") == 0)) {
        cJSON *arr = name[0] == 'd'
                         ? names_array(r->dns_names, r->n_dns_names, NULL, 0)
                         : names_array(r->ip_addrs, r->n_ip_addrs, NULL, 0);

        val = take_string(value_text(arr, ","));
        cJSON_Delete(arr);
    } else if (r != NULL && strcmp(name, "profile") == 0) {
        val = cJSON_CreateString(r->profile != NULL ? r->profile : "");
    } else if (r != NULL && strcmp(name, "order_id") == 0) {
        val = cJSON_CreateString(r->order_id ? r->order_id : "");
    } else if (r != NULL && strcmp(name, "account_id") == 0) {
        val = cJSON_CreateString(r->account_id ? r->account_id : "");
    } else if (r != NULL && strcmp(name, "not_after_rfc3339") == 0 &&
               r->not_after > 0) {
        time_rfc3339(r->not_after, buf, sizeof(buf));
        val = cJSON_CreateString(buf);
    } else if (r != NULL && (strcmp(name, "ttl_hours") == 0 ||
                             strcmp(name, "ttl_seconds") == 0) &&
               r->not_after > v->now) {
        long long s = r->not_after - v->now;

        val = cJSON_CreateNumber(
            (double)(name[4] == 'h' ? (s + 3599) / 3600 : s));
    } else if (v->serial_hex != NULL && strcmp(name, "serial_hex") == 0) {
        val = cJSON_CreateString(v->serial_hex);
    } else if (v->serial_hex != NULL && strcmp(name, "serial_HEX") == 0) {
        char *s = strdup(v->serial_hex);

        for (char *c = s; c != NULL && *c != '\0'; c++) {
            *c = (char)toupper((unsigned char)*c);
        }
        val = take_string(s);
    } else if (v->serial_hex != NULL && strcmp(name, "serial_0x") == 0) {
        (void)snprintf(buf, sizeof(buf), "0x%.60s", v->serial_hex);
        val = cJSON_CreateString(buf);
    } else if (v->serial_hex != NULL && strcmp(name, "serial_dec") == 0) {
        val = take_string(adapter_hex_to_dec(v->serial_hex));
    } else if (v->serial_hex != NULL &&
               strcmp(name, "serial_hex_colon") == 0) {
        struct buf b;

        buf_init(&b, 256);
        for (size_t i = 0; v->serial_hex[i] != '\0'; i += 2) {
            if ((i > 0 && buf_appends(&b, ":") != AP_OK) ||
                buf_append(&b, v->serial_hex + i,
                           v->serial_hex[i + 1] ? 2 : 1) != AP_OK) {
                buf_fini(&b);
                return AP_EINVAL;
            }
            if (v->serial_hex[i + 1] == '\0') {
                break;
            }
        }
        val = take_string(buf_take(&b));
    } else if (v->issuer_dn != NULL && strcmp(name, "issuer_dn") == 0) {
        val = cJSON_CreateString(v->issuer_dn);
    } else if (v->cert_pem != NULL && strcmp(name, "cert_pem") == 0) {
        val = cJSON_CreateString(v->cert_pem);
    } else if (v->serial_hex != NULL && strcmp(name, "reason") == 0) {
        val = cJSON_CreateNumber(v->reason);
    } else if (v->serial_hex != NULL && strcmp(name, "reason_name") == 0) {
        const char *rn = adapter_reason_name(v->reason);
        char key[16];
        const cJSON *m;

        (void)snprintf(key, sizeof(key), "%d", v->reason);
        m = cJSON_GetObjectItemCaseSensitive(v->reason_map, key);
        if (cJSON_IsString(m)) {
            rn = m->valuestring;
        }

        val = cJSON_CreateString(rn ? rn : "UNSPECIFIED");
    } else {
        return AP_EINVAL;
    }
    if (val == NULL) {
        return AP_ENOMEM;
    }
    *out = val;
    return AP_OK;
}

ap_err
rest_render_text(const char *text, const struct rest_vars *v,
                 const cJSON *secrets, bool url_escape, char **out,
                 char *errbuf, size_t errlen)
{
    struct buf b;
    const char *p = text;
    ap_err rc = AP_OK;

    buf_init_secret(&b, REST_MAX_TEXT); /* may be a secret's text */
    while (rc == AP_OK && *p != '\0') {
        const char *open = strstr(p, "{{");
        const char *close;
        char name[200];
        size_t nlen;
        bool raw = false;
        cJSON *val = NULL;
        char *t;

        if (open == NULL) {
            rc = buf_appends(&b, p);
            break;
        }
        rc = buf_append(&b, p, (size_t)(open - p));
        close = strstr(open + 2, "}}");
        if (rc != AP_OK || close == NULL) {
            (void)snprintf(errbuf, errlen, "unclosed {{ in \"%.60s\"", text);
            rc = AP_EINVAL;
            break;
        }
        nlen = (size_t)(close - open - 2);
        if (nlen == 0 || nlen >= sizeof(name)) {
            (void)snprintf(errbuf, errlen, "bad placeholder in \"%.60s\"",
                           text);
            rc = AP_EINVAL;
            break;
        }
        memcpy(name, open + 2, nlen);
        name[nlen] = '\0';
        if (nlen > 4 && strcmp(name + nlen - 4, "|raw") == 0) {
            name[nlen - 4] = '\0';
            raw = true;
        }
        rc = var_value(v, secrets, name, &val);
        if (rc != AP_OK) {
            (void)snprintf(errbuf, errlen, "placeholder {{%s}} has no value "
                           "here", strncmp(name, "secret:", 7) == 0
                                       ? "secret:..." : name);
            break;
        }
        t = value_text(val, ",");
        json_delete_wiped(val);
        if (t == NULL) {
            rc = AP_ENOMEM;
            break;
        }
        if (url_escape && !raw && strcmp(name, "base_url") != 0) {
            char *e = httpc_escape(t);

            crypto_zeroize(t, strlen(t));
            free(t);
            t = e;
            if (t == NULL) {
                rc = AP_ENOMEM;
                break;
            }
        }
        rc = buf_appends(&b, t);
        crypto_zeroize(t, strlen(t));
        free(t);
        p = close + 2;
    }
    if (rc == AP_OK) {
        *out = buf_take(&b);
        if (*out == NULL) {
            rc = AP_ENOMEM;
        }
    }
    if (b.data != NULL) {
        crypto_zeroize(b.data, b.len);
    }
    buf_fini(&b);
    return rc;
}

static ap_err
render_node(const cJSON *t, const struct rest_vars *v, const cJSON *secrets,
            int depth, cJSON **out, char *errbuf, size_t errlen)
{
    cJSON *n = NULL;
    const cJSON *it;
    ap_err rc = AP_OK;

    if (depth > REST_MAX_DEPTH) {
        (void)snprintf(errbuf, errlen, "template nested too deeply");
        return AP_EINVAL;
    }
    if (cJSON_IsString(t)) {
        const char *s = t->valuestring;
        size_t len = strlen(s);

        if (len > 4 && strncmp(s, "{{", 2) == 0 &&
            strcmp(s + len - 2, "}}") == 0 && strstr(s + 2, "{{") == NULL &&
            strstr(s + 2, "}}") == s + len - 2) {
            char name[200];

            (void)snprintf(name, sizeof(name), "%.*s", (int)(len - 4), s + 2);
            rc = var_value(v, secrets, name, &n);
            if (rc != AP_OK) {
                (void)snprintf(errbuf, errlen, "placeholder {{%s}} has no "
                               "value here",
                               strncmp(name, "secret:", 7) == 0
                                   ? "secret:..." : name);
            }
        } else {
            char *text = NULL;

            rc = rest_render_text(s, v, secrets, false, &text, errbuf,
                                  errlen);
            if (rc == AP_OK) {
                n = cJSON_CreateString(text);
                crypto_zeroize(text, strlen(text));
                free(text);
                rc = n != NULL ? AP_OK : AP_ENOMEM;
            }
        }
    } else if (cJSON_IsArray(t) || cJSON_IsObject(t)) {
        n = cJSON_IsArray(t) ? cJSON_CreateArray() : cJSON_CreateObject();
        if (n == NULL) {
            return AP_ENOMEM;
        }
        cJSON_ArrayForEach(it, t) {
            cJSON *c = NULL;

            rc = render_node(it, v, secrets, depth + 1, &c, errbuf, errlen);
            if (rc != AP_OK) {
                break;
            }
            if (cJSON_IsArray(t)) {
                cJSON_AddItemToArray(n, c);
            } else {
                cJSON_AddItemToObject(n, it->string, c);
            }
        }
    } else {
        n = cJSON_Duplicate(t, 1);
        rc = n != NULL ? AP_OK : AP_ENOMEM;
    }
    if (rc != AP_OK) {
        json_delete_wiped(n);
        return rc;
    }
    *out = n;
    return AP_OK;
}

ap_err
rest_render(const cJSON *tmpl, const struct rest_vars *v,
            const cJSON *secrets, cJSON **out, char *errbuf, size_t errlen)
{
    return render_node(tmpl, v, secrets, 0, out, errbuf, errlen);
}

/* ------------------------------------------------------------ outcomes */

bool
rest_status_in(const cJSON *list, long status)
{
    const cJSON *it;
    long long n;

    if (list == NULL) {
        return true;
    }
    if (cJSON_IsNumber(list)) {
        return json_int_value(list, JSON_INT_NUMBER, 100, 999, &n) == AP_OK &&
               n == status;
    }
    cJSON_ArrayForEach(it, list) {
        if (json_int_value(it, JSON_INT_NUMBER, 100, 999, &n) == AP_OK &&
            n == status) {
            return true;
        }
    }
    return false;
}

static bool
when_holds(const cJSON *when, const cJSON *root)
{
    const cJSON *ptr = cJSON_GetObjectItemCaseSensitive(when, "pointer");
    const cJSON *v;
    const cJSON *cond;

    if (when == NULL) {
        return true;
    }
    if (!cJSON_IsString(ptr)) {
        return false;
    }
    v = rest_pointer(root, ptr->valuestring);
    cond = cJSON_GetObjectItemCaseSensitive(when, "exists");
    if (cond != NULL) {
        return cJSON_IsTrue(cond) == (v != NULL && !cJSON_IsNull(v));
    }
    cond = cJSON_GetObjectItemCaseSensitive(when, "equals");
    if (cond != NULL) {
        return v != NULL && cJSON_Compare(v, cond, 1);
    }
    cond = cJSON_GetObjectItemCaseSensitive(when, "regex");
    if (cJSON_IsString(cond)) {
        regex_t re;
        char *t = value_text(v, ",");
        bool ok = false;

        if (t != NULL &&
            regcomp(&re, cond->valuestring, REG_EXTENDED | REG_NOSUB) == 0) {
            ok = regexec(&re, t, 0, NULL, 0) == 0;
            regfree(&re);
        }
        free(t);
        return ok;
    }
    return v != NULL;
}

static char *
error_message(const cJSON *extract, const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(extract,
                                                         "error_message");
    const cJSON *it;

    if (cJSON_IsString(list)) {
        return rest_pointer_text(root, list->valuestring, "; ");
    }
    cJSON_ArrayForEach(it, list) {
        char *t = cJSON_IsString(it)
                      ? rest_pointer_text(root, it->valuestring, "; ")
                      : NULL;

        if (t != NULL) {
            return t;
        }
    }
    return NULL;
}

/* One certificate's base64 DER to PEM; a DER that is base64-encoded twice
 * (EJBCA's search) is taken too. */
static ap_err
b64der_to_pem(const char *b64, char **pem)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    char *inner;
    ap_err rc;

    rc = x509_b64_decode(b64, &raw, &len);
    if (rc != AP_OK || (len > 0 && raw[0] == 0x30)) {
        free(raw);
        return rc != AP_OK ? rc : x509_b64der_to_pem(b64, pem);
    }
    inner = strndup((const char *)raw, len);
    free(raw);
    if (inner == NULL) {
        return AP_ENOMEM;
    }
    rc = x509_b64der_to_pem(inner, pem);
    free(inner);
    return rc;
}

/* The certificate (or chain) at spec {"pointer","encoding","skip_first"}
 * as PEM. */
static ap_err
extract_certs(const cJSON *spec, const cJSON *root, size_t skip_extra,
              char **out)
{
    const cJSON *ptr = cJSON_GetObjectItemCaseSensitive(spec, "pointer");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(spec, "encoding");
    const cJSON *v;
    const cJSON *it;
    bool der = cJSON_IsString(enc) &&
               strcmp(enc->valuestring, "der_b64") == 0;
    size_t skip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                      spec, "skip_first"))
                      ? 1
                      : 0;
    struct buf b;
    ap_err rc = AP_OK;

    if (!cJSON_IsString(ptr)) {
        return AP_ENOTFOUND;
    }
    v = rest_pointer(root, ptr->valuestring);
    if (v == NULL || cJSON_IsNull(v)) {
        return AP_ENOTFOUND;
    }
    buf_init(&b, X509_MAX_BUNDLE);
    if (cJSON_IsString(v)) {
        rc = buf_appends(&b, v->valuestring);
        if (der && rc == AP_OK) {
            char *pem = NULL;

            rc = b64der_to_pem(b.data, &pem);
            buf_reset(&b);
            if (rc == AP_OK) {
                rc = buf_appends(&b, pem);
            }
            free(pem);
        }
    } else if (cJSON_IsArray(v)) {
        cJSON_ArrayForEach(it, v) {
            char *pem = NULL;

            if (!cJSON_IsString(it)) {
                rc = AP_EPARSE;
                break;
            }
            if (der) {
                rc = b64der_to_pem(it->valuestring, &pem);
            } else {
                pem = strdup(it->valuestring);
                rc = pem != NULL ? AP_OK : AP_ENOMEM;
            }
            if (rc == AP_OK) {
                rc = buf_appends(&b, pem);
            }
            if (rc == AP_OK) {
                rc = buf_appends(&b, "\n");
            }
            free(pem);
            if (rc != AP_OK) {
                break;
            }
        }
    } else {
        rc = AP_EPARSE;
    }
    if (rc == AP_OK) {
        rc = b.len > 0 ? x509_pem_normalize(b.data, skip + skip_extra, out,
                                            NULL)
                       : AP_ENOTFOUND;
    }
    buf_fini(&b);
    return rc;
}

/* The text at ptr (as rest_pointer_text): AP_ENOTFOUND when nothing or
 * null is there, AP_EPARSE when something is there that has no text (an
 * object, an empty array, a number that is not an exact integer). */
static ap_err
pointer_text(const cJSON *root, const char *ptr, const char *sep,
             char **out)
{
    char *t = rest_pointer_text(root, ptr, sep);
    size_t n = strlen(ptr);
    const cJSON *v;

    if (t != NULL) {
        *out = t;
        return AP_OK;
    }
    if (n >= 2 && strcmp(ptr + n - 2, "/*") == 0) {
        char *parent = strndup(ptr, n - 2);

        if (parent == NULL) {
            return AP_ENOMEM;
        }
        v = rest_pointer(root, parent);
        free(parent);
    } else {
        v = rest_pointer(root, ptr);
    }
    return v == NULL || cJSON_IsNull(v) ? AP_ENOTFOUND : AP_EPARSE;
}

/* The reference of a pending answer: rule "ref" as a pointer string or
 * an object of name -> pointer (stored as JSON). AP_ENOTFOUND when the
 * answer has none, AP_EPARSE when a pointer finds something that is not
 * a reference (see pointer_text). */
static ap_err
extract_ref(const cJSON *spec, const cJSON *root, char **out)
{
    const cJSON *it;
    cJSON *obj;
    char *text = NULL;
    ap_err rc = AP_OK;

    if (cJSON_IsString(spec)) {
        rc = pointer_text(root, spec->valuestring, ",", &text);
        if (rc == AP_OK && text[0] == '\0') {
            free(text);
            return AP_EPARSE;
        }
        if (rc == AP_OK) {
            *out = text;
        }
        return rc;
    }
    if (!cJSON_IsObject(spec)) {
        return AP_ENOTFOUND;
    }
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return AP_ENOMEM;
    }
    cJSON_ArrayForEach(it, spec) {
        char *t = NULL;
        ap_err r = cJSON_IsString(it)
                       ? pointer_text(root, it->valuestring, ",", &t)
                       : AP_ENOTFOUND;

        if (r == AP_OK) {
            /* An empty reference names nothing at the PKI. */
            r = t[0] == '\0' ? AP_EPARSE
                : cJSON_AddStringToObject(obj, it->string, t) == NULL
                    ? AP_ENOMEM
                    : AP_OK;
            free(t);
        }
        if (r != AP_OK && r != AP_ENOTFOUND) {
            rc = r;
            break;
        }
    }
    if (rc == AP_OK && cJSON_GetArraySize(obj) == 0) {
        rc = AP_ENOTFOUND;
    }
    if (rc == AP_OK) {
        text = cJSON_PrintUnformatted(obj);
        rc = text != NULL ? AP_OK : AP_ENOMEM;
    }
    cJSON_Delete(obj);
    if (rc == AP_OK) {
        *out = text;
    }
    return rc;
}

enum adapter_outcome
rest_parse(const cJSON *op, const struct adapter_answer *a,
           struct adapter_result *res)
{
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(op, "expect");
    const cJSON *extract = cJSON_GetObjectItemCaseSensitive(op, "extract");
    const cJSON *rule = NULL;
    const cJSON *it;
    const char *outcome = NULL;
    cJSON *root = NULL;
    char *msg = NULL;
    long status = a->status;
    /* Retry-After as the PKI sent it, clamped to a day. */
    unsigned retry_after =
        a->retry_after <= 0                       ? 0
        : a->retry_after > ADAPTER_MAX_RETRY_AFTER ? ADAPTER_MAX_RETRY_AFTER
                                                  : (unsigned)a->retry_after;
    enum adapter_outcome o;

    if (a->body != NULL && a->body_len > 0 &&
        json_parse(a->body, a->body_len, &root) != AP_OK) {
        root = NULL;
    }
    cJSON_ArrayForEach(it, rules) {
        if (rest_status_in(cJSON_GetObjectItemCaseSensitive(it, "status"),
                      status) &&
            when_holds(cJSON_GetObjectItemCaseSensitive(it, "when"), root)) {
            rule = it;
            break;
        }
    }
    it = cJSON_GetObjectItemCaseSensitive(rule, "outcome");
    outcome = cJSON_IsString(it) ? it->valuestring : NULL;
    msg = error_message(extract, root);
    if (outcome == NULL) {
        outcome = status >= 200 && status < 300 ? "transient"
                  : adapter_status_outcome(status) == ADAPTER_RETRY
                      ? "transient"
                      : "rejected";
    }
    if (strcmp(outcome, "issued") == 0 || strcmp(outcome, "ok") == 0 ||
        strcmp(outcome, "already") == 0) {
        const cJSON *cspec = cJSON_GetObjectItemCaseSensitive(extract,
                                                              "cert");
        const cJSON *chspec = cJSON_GetObjectItemCaseSensitive(extract,
                                                               "chain");
        char *all = NULL;
        ap_err rc;

        if (cspec == NULL || strcmp(outcome, "issued") != 0) {
            o = ADAPTER_ISSUED; /* revoke / health: nothing to extract */
            goto out;
        }
        rc = extract_certs(cspec, root, 0, &all);
        if (rc != AP_OK) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "answer %ld has no readable certificate at the "
                             "configured pointer",
                             status);
            goto out;
        }
        /* The first certificate is the leaf; the rest of a bundle is the
         * chain unless a chain pointer is configured. */
        {
            const char *end = strstr(all, "-----END CERTIFICATE-----");
            size_t leaf_len = end != NULL
                                  ? (size_t)(end - all) +
                                        strlen("-----END CERTIFICATE-----\n")
                                  : strlen(all);

            res->cert_pem = strndup(all, leaf_len);
            if (chspec == NULL && strlen(all) > leaf_len) {
                res->chain_pem = strdup(all + leaf_len);
            }
        }
        free(all);
        if (chspec != NULL) {
            rc = extract_certs(chspec, root, 0, &res->chain_pem);
            if (rc != AP_OK && rc != AP_ENOTFOUND) {
                o = adapter_fail(res, ADAPTER_RETRY, NULL,
                                 "the chain at the configured pointer does "
                                 "not parse");
                goto out;
            }
        }
        if (res->cert_pem == NULL) {
            o = adapter_fail(res, ADAPTER_RETRY, NULL, "out of memory");
            goto out;
        }
        o = ADAPTER_ISSUED;
    } else if (strcmp(outcome, "pending") == 0) {
        ap_err rc = extract_ref(cJSON_GetObjectItemCaseSensitive(rule, "ref"),
                                root, &res->ref);

        if (rc == AP_ENOTFOUND) {
            rc = extract_ref(cJSON_GetObjectItemCaseSensitive(extract, "ref"),
                             root, &res->ref);
        }
        if (rc != AP_OK && rc != AP_ENOTFOUND) {
            res->retry_after = retry_after;
            o = adapter_fail(res, ADAPTER_RETRY, NULL,
                             "PKI %ld: pending answer with a malformed "
                             "reference (not a string or a whole number)",
                             status);
            goto out;
        }
        /* No reference: fine for a poll (the caller keeps the one it
         * has), not for a submission (rest_submit turns it into RETRY). */
        res->retry_after = retry_after;
        o = ADAPTER_PENDING;
        (void)adapter_fail(res, ADAPTER_PENDING, NULL, "%s",
                           res->ref == NULL
                               ? "pending answer without a reference"
                           : msg != NULL ? msg
                                         : "pending at the PKI");
    } else if (strcmp(outcome, "not_found") == 0) {
        o = adapter_fail(res, ADAPTER_NOT_FOUND, NULL, "PKI %ld: %s", status,
                         msg ? msg : "no record of the request");
    } else if (strcmp(outcome, "rejected") == 0 ||
               strcmp(outcome, "unsupported") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(rule,
                                                          "acme_problem");
        const char *ptype = ADAPTER_PROB_REJECTED;

        if (cJSON_IsString(p) && strcmp(p->valuestring, "badCSR") == 0) {
            ptype = ADAPTER_PROB_BAD_CSR;
        } else if (cJSON_IsString(p) &&
                   strcmp(p->valuestring, "unauthorized") == 0) {
            ptype = ADAPTER_PROB_UNAUTHORIZED;
        }
        o = adapter_fail(res, ADAPTER_REJECTED, ptype, "PKI %ld: %s", status,
                         msg ? msg : "refused");
    } else {
        /* transient, auth, config: the operator or time fixes it. */
        res->retry_after = retry_after;
        o = adapter_fail(res, ADAPTER_RETRY, NULL, "PKI %ld (%s): %s",
                         status, outcome, msg ? msg : "no error text");
    }
out:
    free(msg);
    cJSON_Delete(root);
    return o;
}

enum adapter_outcome
rest_classify(const cJSON *op, long status, const char *body,
              long retry_after, struct adapter_result *res)
{
    struct adapter_answer a = { status, body, body ? strlen(body) : 0, NULL,
                                retry_after };

    return rest_parse(op, &a, res);
}

/* ------------------------------------------------------------ login */

ap_err
rest_parse_login(const cJSON *login, const struct adapter_answer *a,
                 char **token, long long *ttl_sec, char *errbuf,
                 size_t errlen)
{
    cJSON *root = NULL;
    char *tok = NULL;
    const cJSON *p;
    long long ttl = 0;
    ap_err rc = AP_EINVAL;

    if (a->body != NULL && a->body_len > 0 &&
        json_parse(a->body, a->body_len, &root) != AP_OK) {
        root = NULL;
    }
    p = cJSON_GetObjectItemCaseSensitive(login, "token_pointer");
    tok = cJSON_IsString(p) ? rest_pointer_text(root, p->valuestring, "")
                            : NULL;
    if (a->status < 200 || a->status > 299 || tok == NULL ||
        tok[0] == '\0') {
        (void)snprintf(errbuf, errlen, "login answered %ld without a token",
                       a->status);
        goto out;
    }
    p = cJSON_GetObjectItemCaseSensitive(login, "ttl_pointer");
    if (cJSON_IsString(p)) {
        /* Seconds, as a number or digits: a fraction, a negative or a huge
         * value is a broken answer, not a lease to compute with. */
        rc = json_int_value(rest_pointer(root, p->valuestring),
                            JSON_INT_NUMBER | JSON_INT_STRING, 0,
                            REST_MAX_TTL, &ttl);
        if (rc == AP_EPARSE) {
            (void)snprintf(errbuf, errlen, "login answered a ttl at %.80s "
                           "that is not a whole number of seconds from 0 "
                           "to %lld", p->valuestring, REST_MAX_TTL);
            goto out;
        }
        if (rc != AP_OK) {
            ttl = 0;
        }
    }
    *token = tok;
    tok = NULL;
    *ttl_sec = ttl;
    rc = AP_OK;
out:
    adapter_secret_free(tok);
    json_delete_wiped(root); /* it holds the token */
    return rc;
}
