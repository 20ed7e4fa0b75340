/* proxy/adminapi.c: the admin API's routes (adminapi.h). Requests are
 * checked and turned into the arguments of the admin operations
 * (proxy/admin_ops.h); their documents are the answers. */
#include "proxy/adminapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "common/crypto.h"
#include "common/json.h"
#include "common/timeutil.h"
#include "proxy/admin.h"
#include "proxy/app.h"
#include "proxy/eab.h"
#include "proxy/report.h"
#include "proxy/team.h"

#define SEG_MAX 64      /* bytes of a path segment (kid, serial) */

static const char *const status_title[][2] = {
    { "400", "Bad Request" },        { "401", "Unauthorized" },
    { "404", "Not Found" },          { "405", "Method Not Allowed" },
    { "409", "Conflict" },           { "413", "Content Too Large" },
    { "500", "Internal Server Error" }, { "502", "Bad Gateway" },
};

cJSON *
adminapi_problem(int status, const char *detail)
{
    cJSON *p = cJSON_CreateObject();
    char code[8];
    const char *title = "Error";

    (void)snprintf(code, sizeof(code), "%d", status);
    for (size_t i = 0; i < sizeof(status_title) / sizeof(status_title[0]);
         i++) {
        if (strcmp(status_title[i][0], code) == 0) {
            title = status_title[i][1];
        }
    }
    if (p == NULL || cJSON_AddStringToObject(p, "type", "about:blank") ==
                         NULL ||
        cJSON_AddStringToObject(p, "title", title) == NULL ||
        cJSON_AddNumberToObject(p, "status", status) == NULL ||
        cJSON_AddStringToObject(p, "detail", detail) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

void
adminapi_resp_fini(struct adminapi_resp *resp)
{
    if (resp->secret) {
        json_delete_wiped(resp->doc);
    } else {
        cJSON_Delete(resp->doc);
    }
    resp->doc = NULL;
    resp->secret = false;
}

static void
fail(struct adminapi_resp *resp, int status, const char *detail)
{
    adminapi_resp_fini(resp);
    resp->status = status;
    resp->doc = adminapi_problem(status, detail);
}

/* The answer of an operation: its document, or its problem. */
static void
answer(struct adminapi_resp *resp, enum admin_outcome o, cJSON *doc,
       const struct admin_result *res, int ok_status)
{
    if (o != ADMIN_R_OK) {
        cJSON_Delete(doc);
        fail(resp, admin_outcome_status(o), res->detail);
        return;
    }
    if (doc == NULL) {
        fail(resp, 500, "out of memory");
        return;
    }
    resp->status = ok_status;
    resp->doc = doc;
}

/* The body as one JSON object, or a 400 set in resp (NULL). An empty body
 * is {} when empty_ok. */
static cJSON *
body_object(const struct adminapi_req *req, bool empty_ok,
            struct adminapi_resp *resp)
{
    cJSON *obj = NULL;

    if (req->body == NULL || req->body_len == 0) {
        if (empty_ok) {
            obj = cJSON_CreateObject();
            if (obj == NULL) {
                fail(resp, 500, "out of memory");
            }
            return obj;
        }
        fail(resp, 400, "the request needs a JSON object as its body");
        return NULL;
    }
    if (req->body_len > ADMINAPI_MAX_BODY) {
        fail(resp, 413, "the body is too large");
        return NULL;
    }
    if (json_parse(req->body, req->body_len, &obj) != AP_OK ||
        !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        fail(resp, 400, "the body is not a JSON object");
        return NULL;
    }
    return obj;
}

/* false (and a 400 in resp) when obj has a member not in keys, or one
 * twice (RFC 8259 §4: which one counts would be the parser's guess). */
static bool
members_known(const cJSON *obj, const char *const *keys, size_t n,
              struct adminapi_resp *resp)
{
    const cJSON *m;
    char why[160];

    cJSON_ArrayForEach(m, obj) {
        bool known = false;

        for (const cJSON *e = obj->child; e != m; e = e->next) {
            if (strcmp(e->string, m->string) == 0) {
                (void)snprintf(why, sizeof(why), "member \"%.40s\" given "
                               "twice", m->string);
                fail(resp, 400, why);
                return false;
            }
        }

        for (size_t i = 0; i < n; i++) {
            known = known || strcmp(m->string, keys[i]) == 0;
        }
        if (!known) {
            (void)snprintf(why, sizeof(why), "unknown member \"%.40s\"",
                           m->string);
            fail(resp, 400, why);
            return false;
        }
    }
    return true;
}

static void
eab_add(struct app *app, const struct adminapi_req *req,
        const struct admin_actor *who, struct adminapi_resp *resp)
{
    static const char *const keys[] = { "label", "allow_names", "allow_ips",
                                        "profiles", "max_validity_days",
                                        "preauthorized", "default_profile" };
    const char *lists[4] = { "profiles", "allow_names", "allow_ips",
                             "preauthorized" };
    const cJSON *arr[4] = { NULL, NULL, NULL, NULL };
    struct admin_eab_spec spec;
    struct admin_result res;
    char kid[EAB_KID_LEN + 8];
    char hmac[EAB_HMAC_LEN + 8];
    char why[160];
    cJSON *body;
    cJSON *doc = NULL;
    long long days = 0;
    ap_err rc;

    memset(hmac, 0, sizeof(hmac));
    body = body_object(req, false, resp);
    if (body == NULL || !members_known(body, keys, 7, resp)) {
        goto out;
    }
    memset(&spec, 0, sizeof(spec));
    if (json_get_string(body, "label", ADMIN_MAX_LABEL, &spec.label) !=
        AP_OK) {
        fail(resp, 400, "label: a string of 1 to 64 printable ASCII "
             "characters is required");
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        rc = json_get_array(body, lists[i], &arr[i]);
        if (rc == AP_EPARSE) {
            (void)snprintf(why, sizeof(why), "%s: an array of strings",
                           lists[i]);
            fail(resp, 400, why);
            goto out;
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(body, "default_profile") != NULL &&
        json_get_string(body, "default_profile", ADMIN_MAX_LABEL,
                        &spec.default_profile) != AP_OK) {
        fail(resp, 400, "default_profile: the name of a configured profile");
        goto out;
    }
    rc = json_get_int(body, "max_validity_days", 1, 3650, &days);
    if (rc == AP_EPARSE) {
        fail(resp, 400, "max_validity_days: a whole number of days from 1 "
             "to 3650");
        goto out;
    }
    spec.profiles = arr[0];
    spec.allow_names = arr[1];
    spec.allow_ips = arr[2];
    spec.preauthorized = arr[3];
    spec.max_validity_days = rc == AP_OK ? days : 0;
    if (admin_op_eab_add(app, who, &spec, kid, sizeof(kid), hmac,
                         sizeof(hmac), &res) != ADMIN_R_OK) {
        fail(resp, admin_outcome_status(res.outcome), res.detail);
        goto out;
    }
    doc = cJSON_CreateObject();
    resp->secret = true;
    if (doc == NULL || cJSON_AddStringToObject(doc, "kid", kid) == NULL ||
        cJSON_AddStringToObject(doc, "hmac", hmac) == NULL ||
        cJSON_AddStringToObject(doc, "label", spec.label) == NULL) {
        json_delete_wiped(doc);
        resp->secret = false;
        fail(resp, 500, "the key was made but the answer could not be "
             "built: revoke it");
        goto out;
    }
    resp->status = 201;
    resp->doc = doc;
out:
    crypto_zeroize(hmac, sizeof(hmac));
    cJSON_Delete(body);
}

/* One query variable into buf: 0 absent, 1 present, -1 (400 in resp)
 * too long or given twice. */
static int
query_var(const struct adminapi_req *req, const char *name, char *buf,
          size_t len, struct adminapi_resp *resp)
{
    size_t qlen;
    char twice[8];
    char why[120];
    int n;

    buf[0] = '\0';
    if (req->query == NULL) {
        return 0;
    }
    qlen = strlen(req->query);
    n = mg_get_var2(req->query, qlen, name, buf, len, 0);
    if (n == -1) {
        return 0;
    }
    if (n < 0 || mg_get_var2(req->query, qlen, name, twice, sizeof(twice),
                             1) != -1) {
        (void)snprintf(why, sizeof(why), "query parameter %s: too long or "
                       "given twice", name);
        fail(resp, 400, why);
        return -1;
    }
    return 1;
}

/* The filters of a listing from the query. false: a 400 is in resp. */
static bool
filter_from_query(const struct adminapi_req *req, bool certs,
                  struct admin_filter *f, char *team, size_t teamlen,
                  struct adminapi_resp *resp)
{
    char v[64];
    int k;

    memset(f, 0, sizeof(*f));
    if (req->query != NULL && strlen(req->query) > ADMINAPI_MAX_QUERY) {
        fail(resp, 400, "the query string is too long");
        return false;
    }
    k = query_var(req, "team", team, teamlen, resp);
    if (k < 0) {
        return false;
    }
    if (k > 0) {
        if (team[0] == '\0' || !admin_printable(team)) {
            fail(resp, 400, "team: 1 to 64 printable ASCII characters");
            return false;
        }
        f->team = team;
    }
    if (!certs) {
        return true;
    }
    k = query_var(req, "expiring_before", v, sizeof(v), resp);
    if (k < 0) {
        return false;
    }
    if (k > 0 && (time_parse_rfc3339(v, &f->expiring_before) != AP_OK ||
                  f->expiring_before <= 0)) {
        fail(resp, 400, "expiring_before: an RFC 3339 time, e.g. "
             "2030-01-31T00:00:00Z");
        return false;
    }
    k = query_var(req, "overdue", v, sizeof(v), resp);
    if (k < 0) {
        return false;
    }
    if (k > 0) {
        if (strcmp(v, "true") == 0) {
            f->overdue = true;
        } else if (strcmp(v, "false") != 0) {
            fail(resp, 400, "overdue: true or false");
            return false;
        }
    }
    return true;
}

static void
list(struct app *app, const struct adminapi_req *req, bool certs,
     struct adminapi_resp *resp)
{
    struct admin_filter f;
    struct admin_result res;
    char team[ADMIN_MAX_LABEL + 1];
    cJSON *doc = NULL;
    enum admin_outcome o;

    if (!filter_from_query(req, certs, &f, team, sizeof(team), resp)) {
        return;
    }
    o = certs ? admin_op_certs_list(app, &f, &doc, &res)
              : admin_op_accounts_list(app, &f, &doc, &res);
    answer(resp, o, doc, &res, 200);
}

static void
cert_revoke(struct app *app, const struct adminapi_req *req,
            const struct admin_actor *who, const char *serial,
            struct adminapi_resp *resp)
{
    static const char *const keys[] = { "reason" };
    const cJSON *r;
    struct admin_result res;
    cJSON *body;
    cJSON *doc = NULL;
    enum admin_outcome o;
    long long n = 0;
    int reason = 0;

    body = body_object(req, true, resp);
    if (body == NULL || !members_known(body, keys, 1, resp)) {
        cJSON_Delete(body);
        return;
    }
    r = cJSON_GetObjectItemCaseSensitive(body, "reason");
    if (cJSON_IsString(r)) {
        reason = admin_reason_parse(r->valuestring);
    } else if (r != NULL && !cJSON_IsNull(r)) {
        reason = json_int_value(r, JSON_INT_NUMBER, 0, 10, &n) == AP_OK &&
                         n != 7
                     ? (int)n
                     : -1;
    }
    cJSON_Delete(body);
    if (reason < 0) {
        fail(resp, 400, "reason: an RFC 5280 CRLReason, 0-10 but 7, or its "
             "name");
        return;
    }
    o = admin_op_revoke(app, who, serial, reason, &doc, &res);
    answer(resp, o, doc, &res, 200);
}

/* GET /admin/certificates/report?days=N&team=T&at=RFC3339: the renewal
 * oversight report (proxy/report.h), as `certs report --json`. */
static void
report(struct app *app, const struct adminapi_req *req,
       struct adminapi_resp *resp)
{
    struct report_opts o;
    char team[ADMIN_MAX_LABEL + 1];
    char v[64];
    cJSON *doc = NULL;
    long long n = 0;
    int k;

    memset(&o, 0, sizeof(o));
    if (req->query != NULL && strlen(req->query) > ADMINAPI_MAX_QUERY) {
        fail(resp, 400, "the query string is too long");
        return;
    }
    o.now = time_now();
    o.days = app->cfg->oversight.expiry_days;
    k = query_var(req, "days", v, sizeof(v), resp);
    if (k < 0) {
        return;
    }
    if (k > 0) {
        char *end = NULL;
        unsigned long d = strtoul(v, &end, 10);

        if (v[0] < '0' || v[0] > '9' || *end != '\0' || d > REPORT_MAX_DAYS) {
            fail(resp, 400, "days: a number of days from 0 to 3650");
            return;
        }
        o.days = (unsigned)d;
    }
    k = query_var(req, "at", v, sizeof(v), resp);
    if (k < 0) {
        return;
    }
    if (k > 0) {
        if (time_parse_rfc3339(v, &n) != AP_OK || n <= 0) {
            fail(resp, 400, "at: an RFC 3339 time, e.g. 2030-01-31T00:00:00Z");
            return;
        }
        o.now = n;
    }
    k = query_var(req, "team", team, sizeof(team), resp);
    if (k < 0) {
        return;
    }
    if (k > 0) {
        if (!admin_printable(team)) {
            fail(resp, 400, "team: 0 to 64 printable ASCII characters");
            return;
        }
        o.team = team;
    }
    if (report_build(app->st, &o, &doc) != AP_OK) {
        fail(resp, 500, "the report could not be built (see the log)");
        return;
    }
    resp->status = 200;
    resp->doc = doc;
}

/* POST /admin/accounts/{id}/bind with {"kid": KID} or {"team": TEAM}:
 * binds an account made without EAB, for good, as `accounts bind`. */
static void
account_bind(struct app *app, const struct adminapi_req *req,
             const struct admin_actor *who, const char *id,
             struct adminapi_resp *resp)
{
    static const char *const keys[] = { "kid", "team" };
    const char *kid = NULL;
    const char *team = NULL;
    char label[ADMIN_MAX_LABEL + 8];
    char why[200];
    cJSON *body;
    cJSON *doc = NULL;
    ap_err rc;

    body = body_object(req, false, resp);
    if (body == NULL || !members_known(body, keys, 2, resp)) {
        goto out;
    }
    if ((cJSON_GetObjectItemCaseSensitive(body, "kid") != NULL &&
         json_get_string(body, "kid", ADMIN_MAX_LABEL, &kid) != AP_OK) ||
        (cJSON_GetObjectItemCaseSensitive(body, "team") != NULL &&
         json_get_string(body, "team", ADMIN_MAX_LABEL, &team) != AP_OK) ||
        (kid == NULL) == (team == NULL)) {
        fail(resp, 400, "give exactly one of kid (an EAB key id) and team "
             "(a [team.NAME])");
        goto out;
    }
    why[0] = '\0';
    rc = team_bind_account(app, id, kid, team, who->request,
                           admin_ops_fields(who, cJSON_CreateObject()), label,
                           sizeof(label), why, sizeof(why));
    if (rc == AP_ENOTFOUND || rc == AP_EINVAL) {
        fail(resp, rc == AP_ENOTFOUND ? 404 : 409,
             why[0] != '\0' ? why : ap_strerror(rc));
        goto out;
    }
    if (rc != AP_OK) {
        fail(resp, 500, ap_strerror(rc));
        goto out;
    }
    doc = cJSON_CreateObject();
    if (doc == NULL || cJSON_AddStringToObject(doc, "account", id) == NULL ||
        cJSON_AddStringToObject(doc, "team", label) == NULL ||
        (kid != NULL ? cJSON_AddStringToObject(doc, "eab", kid)
                     : cJSON_AddNullToObject(doc, "eab")) == NULL) {
        cJSON_Delete(doc);
        fail(resp, 500, "bound; the answer could not be built");
        goto out;
    }
    resp->status = 200;
    resp->doc = doc;
out:
    cJSON_Delete(body);
}

/* The segment of path after prefix up to suffix ("/admin/eab/" KID
 * "/revoke") into seg; false when path is not of that form. */
static bool
segment(const char *path, const char *prefix, const char *suffix, char *seg,
        size_t len)
{
    size_t pl = strlen(prefix);
    size_t sl = strlen(suffix);
    size_t n;

    if (strncmp(path, prefix, pl) != 0) {
        return false;
    }
    n = strlen(path + pl);
    if (n <= sl || strcmp(path + pl + n - sl, suffix) != 0 ||
        n - sl >= len) {
        return false;
    }
    memcpy(seg, path + pl, n - sl);
    seg[n - sl] = '\0';
    return strchr(seg, '/') == NULL;
}

void
adminapi_handle(struct app *app, const struct adminapi_req *req,
                struct adminapi_resp *resp)
{
    struct admin_actor who = { "api", req->caller, req->request_id };
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    struct admin_result res;
    char seg[SEG_MAX];
    cJSON *doc = NULL;
    enum admin_outcome o;

    memset(resp, 0, sizeof(*resp));
    resp->op = "-";
    if (strcmp(req->path, "/admin/eab") == 0) {
        resp->op = post ? "eab.add" : "eab.list";
        if (post) {
            eab_add(app, req, &who, resp);
        } else if (get) {
            o = admin_op_eab_list(app, &doc, &res);
            answer(resp, o, doc, &res, 200);
        } else {
            resp->allow = "GET, POST";
            fail(resp, 405, "GET or POST");
        }
    } else if (segment(req->path, "/admin/eab/", "/revoke", seg,
                       sizeof(seg))) {
        resp->op = "eab.revoke";
        if (post) {
            o = admin_op_eab_revoke(app, &who, seg, &doc, &res);
            answer(resp, o, doc, &res, 200);
        } else {
            resp->allow = "POST";
            fail(resp, 405, "POST");
        }
    } else if (strcmp(req->path, "/admin/accounts") == 0 ||
               strcmp(req->path, "/admin/certificates") == 0) {
        bool certs = req->path[7] == 'c';

        resp->op = certs ? "certs.list" : "accounts.list";
        if (get) {
            list(app, req, certs, resp);
        } else {
            resp->allow = "GET";
            fail(resp, 405, "GET");
        }
    } else if (strcmp(req->path, "/admin/certificates/report") == 0) {
        resp->op = "certs.report";
        if (get) {
            report(app, req, resp);
        } else {
            resp->allow = "GET";
            fail(resp, 405, "GET");
        }
    } else if (segment(req->path, "/admin/accounts/", "/bind", seg,
                       sizeof(seg))) {
        resp->op = "account.bind";
        if (post) {
            account_bind(app, req, &who, seg, resp);
        } else {
            resp->allow = "POST";
            fail(resp, 405, "POST");
        }
    } else if (segment(req->path, "/admin/certificates/", "/revoke", seg,
                       sizeof(seg))) {
        resp->op = "cert.revoke";
        if (post) {
            cert_revoke(app, req, &who, seg, resp);
        } else {
            resp->allow = "POST";
            fail(resp, 405, "POST");
        }
    } else {
        fail(resp, 404, "no such admin resource");
    }
    if (resp->status == 0) {
        resp->status = 500;
    }
}
