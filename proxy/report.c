/* proxy/report.c: the renewal oversight report (proxy/report.h). */
#include "proxy/report.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/timeutil.h"
#include "common/x509.h"
#include "proxy/rec.h"
#include "proxy/rec_account.h"
#include "proxy/rec_cert.h"
#include "proxy/rec_order.h"
#include "proxy/renewal.h"

#define DAY_SEC 86400LL

struct row {
    char id[REC_MAX_ID + 1];
    char serial[REC_MAX_SHORT + 1];
    char account[REC_MAX_ID + 1];
    char order[REC_MAX_ID + 1];
    char *team;                 /* NULL: none */
    char *scope;                /* "t:<team>" or "a:<account>" */
    char *idkey;                /* sorted identifiers, "\n"-joined */
    long long issued;
    long long not_after;
    long long start;            /* renewal window */
    long long end;
    bool replaced;
};

struct scan {
    struct store_txn *txn;
    const struct report_opts *o;
    long long now;
    struct row *rows;           /* grows by doubling up to max */
    size_t n;
    size_t cap;
    size_t max;
    bool truncated;
    long long oldest;           /* smallest issued among rows */
    ap_err rc;
};

static void
row_fini(struct row *r)
{
    free(r->team);
    free(r->scope);
    free(r->idkey);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The identifiers of order id as one sorted "type:value\n..." string, and
 * its account's scope and team. AP_ENOTFOUND when the order or account is
 * gone (the certificate is then left out). */
static ap_err
cert_context(struct store_txn *txn, const struct cert *c, char **idkey,
             char **scope, char **team)
{
    struct order o;
    struct account a;
    const char **vals = NULL;
    size_t len = 1;
    char *key = NULL;
    char *sc = NULL;
    char *tm = NULL;
    ap_err rc;

    memset(&a, 0, sizeof(a));
    rc = rec_order_get(txn, c->order, &o);
    if (rc == AP_OK) {
        rc = rec_account_get(txn, c->account, &a);
    }
    if (rc == AP_OK && o.n_idents > 0) {
        vals = calloc(o.n_idents, sizeof(*vals));
        rc = vals != NULL ? AP_OK : AP_ENOMEM;
    }
    for (size_t i = 0; rc == AP_OK && i < o.n_idents; i++) {
        vals[i] = o.idents[i].value != NULL ? o.idents[i].value : "";
        len += strlen(vals[i]) + 1;
    }
    if (rc == AP_OK && vals != NULL) {
        qsort(vals, o.n_idents, sizeof(*vals), cmp_str);
    }
    if (rc == AP_OK) {
        key = malloc(len);
        rc = key != NULL ? AP_OK : AP_ENOMEM;
    }
    if (rc == AP_OK) {
        size_t used = 0;

        key[0] = '\0';
        for (size_t i = 0; i < o.n_idents; i++) {
            size_t k = strlen(vals[i]);

            memcpy(key + used, vals[i], k);
            used += k;
            key[used++] = '\n';
        }
        key[used] = '\0';
        if (a.team != NULL && a.team[0] != '\0') {
            tm = strdup(a.team);
            rc = tm != NULL && asprintf(&sc, "t:%s", a.team) >= 0
                     ? AP_OK
                     : AP_ENOMEM;
        } else {
            rc = asprintf(&sc, "a:%s", c->account) >= 0 ? AP_OK : AP_ENOMEM;
        }
        if (rc != AP_OK) {
            sc = NULL;
        }
    }
    free(vals);
    rec_order_fini(&o);
    rec_account_fini(&a);
    if (rc != AP_OK) {
        free(key);
        free(sc);
        free(tm);
        return rc;
    }
    *idkey = key;
    *scope = sc;
    *team = tm;
    return AP_OK;
}

/* RFC 9773 §5: an order that named c in "replaces" and got its
 * certificate replaced it. */
static bool
ari_replaced(struct store_txn *txn, const struct cert *c)
{
    struct order o;
    bool done;

    if (c->replaced_by[0] == '\0' ||
        rec_order_get(txn, c->replaced_by, &o) != AP_OK) {
        return false;
    }
    done = o.status == ORDER_VALID && o.cert[0] != '\0';
    rec_order_fini(&o);
    return done;
}

/* The renewal window of c's leaf; false when its PEM does not parse. */
static bool
cert_window(const struct cert *c, long long now, long long *start,
            long long *end)
{
    unsigned char *der = NULL;
    size_t len = 0;
    struct x509_cert *leaf = NULL;
    bool ok = false;

    if (c->pem != NULL &&
        x509_pem_cert_to_der(c->pem, &der, &len) == AP_OK &&
        x509_cert_parse(der, len, &leaf) == AP_OK) {
        renewal_window(leaf, false, now, start, end);
        ok = true;
    }
    x509_cert_free(leaf);
    free(der);
    return ok;
}

static bool
decode_cert(const char *key, const char *val, size_t len, struct cert *c)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(c, 0, sizeof(*c));
    /* the stored layout, either form (rec_cert.h) */
    if (rec_cert_parse(key, val, len, &obj) != AP_OK) {
        return false;
    }
    rc = rec_cert_decode(obj, c, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_ESTORE) {
        (void)rec_bad("certs", key, why);
    }
    return rc == AP_OK;
}

/* Pass 1: the certificates past their window or near their end. */
static bool
collect(void *arg, const char *key, const char *val, size_t len)
{
    struct scan *s = arg;
    struct cert c;
    struct row r;
    long long horizon = s->now + (long long)s->o->days * DAY_SEC;
    bool go = true;

    memset(&r, 0, sizeof(r));
    if (!decode_cert(key, val, len, &c)) {
        goto out;
    }
    if (c.status != CERT_VALID ||
        c.not_after <= s->now - (long long)s->o->days * DAY_SEC ||
        !cert_window(&c, s->now, &r.start, &r.end) ||
        (r.end > s->now && c.not_after > horizon) ||
        ari_replaced(s->txn, &c)) {
        goto out;
    }
    s->rc = cert_context(s->txn, &c, &r.idkey, &r.scope, &r.team);
    if (s->rc == AP_ENOTFOUND) {
        s->rc = AP_OK;
        goto out;
    }
    if (s->rc != AP_OK) {
        go = false;
        goto out;
    }
    if (s->o->team != NULL &&
        strcmp(s->o->team, r.team != NULL ? r.team : "") != 0) {
        goto out;
    }
    if (s->n >= s->max) {
        s->truncated = true;
        go = false;
        goto out;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 64 : s->cap * 2;
        struct row *more;

        cap = cap < s->max ? cap : s->max;
        more = realloc(s->rows, cap * sizeof(*more));
        if (more == NULL) {
            s->rc = AP_ENOMEM;
            go = false;
            goto out;
        }
        s->rows = more;
        s->cap = cap;
    }
    snprintf(r.id, sizeof(r.id), "%s", c.id);
    snprintf(r.serial, sizeof(r.serial), "%s", c.serial);
    snprintf(r.account, sizeof(r.account), "%s", c.account);
    snprintf(r.order, sizeof(r.order), "%s", c.order);
    r.issued = c.issued;
    r.not_after = c.not_after;
    if (s->n == 0 || r.issued < s->oldest) {
        s->oldest = r.issued;
    }
    s->rows[s->n++] = r;
    memset(&r, 0, sizeof(r));
out:
    row_fini(&r);
    rec_cert_fini(&c);
    return go;
}

/* Rows in (scope, identifiers) order, for the lookups of pass 2. */
static int
cmp_match(const void *a, const void *b)
{
    const struct row *x = a;
    const struct row *y = b;
    int d = strcmp(x->scope, y->scope);

    return d != 0 ? d : strcmp(x->idkey, y->idkey);
}

/* Pass 2: a later valid certificate for the same identifiers in the same
 * scope replaces the rows issued before it. */
static bool
match_newer(void *arg, const char *key, const char *val, size_t len)
{
    struct scan *s = arg;
    struct cert c;
    struct row probe;
    size_t lo = 0;
    size_t hi = s->n;

    memset(&probe, 0, sizeof(probe));
    if (!decode_cert(key, val, len, &c)) {
        goto out;
    }
    if (c.status != CERT_VALID || c.issued <= s->oldest) {
        goto out;
    }
    s->rc = cert_context(s->txn, &c, &probe.idkey, &probe.scope,
                         &probe.team);
    if (s->rc == AP_ENOTFOUND) {
        s->rc = AP_OK;
        goto out;
    }
    if (s->rc != AP_OK) {
        rec_cert_fini(&c);
        return false;
    }
    /* The first row not below the probe, then every equal one. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (cmp_match(&s->rows[mid], &probe) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < s->n && cmp_match(&s->rows[i], &probe) == 0;
         i++) {
        if (s->rows[i].issued < c.issued) {
            s->rows[i].replaced = true;
        }
    }
out:
    row_fini(&probe);
    rec_cert_fini(&c);
    return true;
}

/* Output order: team (none last), notAfter, id. */
static int
cmp_out(const void *a, const void *b)
{
    const struct row *x = a;
    const struct row *y = b;
    int d;

    if ((x->team == NULL) != (y->team == NULL)) {
        return x->team == NULL ? 1 : -1;
    }
    d = x->team != NULL ? strcmp(x->team, y->team) : 0;
    if (d != 0) {
        return d;
    }
    if (x->not_after != y->not_after) {
        return x->not_after < y->not_after ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

static ap_err
add_time(cJSON *obj, const char *key, long long t)
{
    char buf[TIME_RFC3339_LEN];

    time_rfc3339(t, buf, sizeof(buf));
    return cJSON_AddStringToObject(obj, key, buf) != NULL ? AP_OK
                                                         : AP_ENOMEM;
}

/* The document view of one row. */
static cJSON *
row_view(const struct row *r, long long now)
{
    cJSON *v = cJSON_CreateObject();
    cJSON *ids;
    cJSON *w;
    const char *state;
    long long left = r->not_after - now;
    ap_err rc = AP_OK;

    if (v == NULL) {
        return NULL;
    }
    state = r->not_after <= now ? "expired"
            : r->end <= now     ? "overdue"
                                : "expiring";
    /* Whole days, rounded towards minus infinity. */
    left = left >= 0 ? left / DAY_SEC : -((-left + DAY_SEC - 1) / DAY_SEC);
    if ((r->team != NULL ? cJSON_AddStringToObject(v, "team", r->team)
                         : cJSON_AddNullToObject(v, "team")) == NULL ||
        cJSON_AddStringToObject(v, "state", state) == NULL ||
        cJSON_AddBoolToObject(v, "overdue", r->end <= now) == NULL ||
        cJSON_AddNumberToObject(v, "daysLeft", (double)left) == NULL ||
        cJSON_AddStringToObject(v, "id", r->id) == NULL ||
        cJSON_AddStringToObject(v, "serial", r->serial) == NULL ||
        cJSON_AddStringToObject(v, "account", r->account) == NULL ||
        cJSON_AddStringToObject(v, "order", r->order) == NULL) {
        rc = AP_ENOMEM;
    }
    ids = rc == AP_OK ? cJSON_AddArrayToObject(v, "identifiers") : NULL;
    if (ids == NULL) {
        rc = AP_ENOMEM;
    }
    for (const char *p = r->idkey; rc == AP_OK && *p != '\0';) {
        size_t n = strcspn(p, "\n");
        char *one = strndup(p, n);
        cJSON *s = one != NULL ? cJSON_CreateString(one) : NULL;

        free(one);
        if (s == NULL || !cJSON_AddItemToArray(ids, s)) {
            cJSON_Delete(s);
            rc = AP_ENOMEM;
        }
        p += n + (p[n] == '\n');
    }
    if (rc == AP_OK) {
        rc = add_time(v, "issued", r->issued);
    }
    if (rc == AP_OK) {
        rc = add_time(v, "notAfter", r->not_after);
    }
    w = rc == AP_OK ? cJSON_AddObjectToObject(v, "renewalWindow") : NULL;
    if (w == NULL) {
        rc = AP_ENOMEM;
    }
    if (rc == AP_OK) {
        rc = add_time(w, "start", r->start);
    }
    if (rc == AP_OK) {
        rc = add_time(w, "end", r->end);
    }
    if (rc != AP_OK) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

ap_err
report_build(struct store *st, const struct report_opts *opts, cJSON **out)
{
    struct scan s;
    cJSON *doc = NULL;
    cJSON *arr;
    ap_err rc;

    memset(&s, 0, sizeof(s));
    if (opts->days > REPORT_MAX_DAYS || opts->max_rows > REPORT_MAX_ROWS) {
        return AP_EINVAL;
    }
    s.o = opts;
    s.now = opts->now;
    s.max = opts->max_rows != 0 ? opts->max_rows : REPORT_MAX_ROWS;
    rc = store_begin(st, false, &s.txn);
    if (rc == AP_OK) {
        rc = store_scan(s.txn, STORE_CERTS, "", NULL, collect, &s);
    }
    if (rc == AP_OK) {
        rc = s.rc;
    }
    if (rc == AP_OK && s.n > 0) {
        qsort(s.rows, s.n, sizeof(*s.rows), cmp_match);
        rc = store_scan(s.txn, STORE_CERTS, "", NULL, match_newer, &s);
        if (rc == AP_OK) {
            rc = s.rc;
        }
    }
    store_abort(s.txn);
    if (rc == AP_OK && s.n > 0) {
        qsort(s.rows, s.n, sizeof(*s.rows), cmp_out);
    }
    if (rc == AP_OK) {
        doc = cJSON_CreateObject();
        rc = doc != NULL ? add_time(doc, "generatedAt", s.now) : AP_ENOMEM;
    }
    if (rc == AP_OK &&
        (cJSON_AddNumberToObject(doc, "days", opts->days) == NULL ||
         cJSON_AddBoolToObject(doc, "truncated", s.truncated) == NULL)) {
        rc = AP_ENOMEM;
    }
    arr = rc == AP_OK ? cJSON_AddArrayToObject(doc, "certificates") : NULL;
    if (rc == AP_OK && arr == NULL) {
        rc = AP_ENOMEM;
    }
    for (size_t i = 0; rc == AP_OK && i < s.n; i++) {
        cJSON *v;

        if (s.rows[i].replaced) {
            continue;
        }
        v = row_view(&s.rows[i], s.now);
        if (v == NULL || !cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            rc = AP_ENOMEM;
        }
    }
    for (size_t i = 0; i < s.n; i++) {
        row_fini(&s.rows[i]);
    }
    free(s.rows);
    if (rc != AP_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    *out = doc;
    return AP_OK;
}

ap_err
report_csv_field(const char *in, char *out, size_t outlen)
{
    bool formula = in[0] != '\0' && strchr("=+-@\t\r", in[0]) != NULL;
    bool quote = formula || strpbrk(in, ",\"\r\n") != NULL;
    size_t used = 0;

#define PUT(ch)                                                               \
    do {                                                                      \
        if (used + 1 >= outlen) {                                             \
            goto toobig;                                                      \
        }                                                                     \
        out[used++] = (ch);                                                   \
    } while (0)

    if (outlen == 0) {
        return AP_ETOOBIG;
    }
    if (quote) {
        PUT('"');
    }
    if (formula) {
        PUT('\'');
    }
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == '"') {
            PUT('"');
        }
        PUT(*p);
    }
    if (quote) {
        PUT('"');
    }
    out[used] = '\0';
    return AP_OK;
toobig:
    out[0] = '\0';
    return AP_ETOOBIG;
#undef PUT
}

/* Writes one field and its separator; false when it does not fit or f
 * fails. */
static bool
put_field(FILE *f, const char *s, bool last)
{
    size_t cap = strlen(s) * 2 + 4;
    char *buf = malloc(cap);
    bool ok = buf != NULL && report_csv_field(s, buf, cap) == AP_OK &&
              fputs(buf, f) >= 0 && fputs(last ? "\r\n" : ",", f) >= 0;

    free(buf);
    return ok;
}

ap_err
report_write_csv(const cJSON *doc, FILE *f)
{
    static const char *const head[] = { "team",       "state",  "days_left",
                                        "not_after",  "window_end",
                                        "serial",     "id",     "account",
                                        "identifiers" };
    const size_t ncol = sizeof(head) / sizeof(head[0]);
    const cJSON *v;
    bool ok = true;

    for (size_t i = 0; ok && i < ncol; i++) {
        ok = put_field(f, head[i], i + 1 == ncol);
    }
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc,
                                                           "certificates")) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "renewalWindow");
        const cJSON *id;
        char days[32];
        char *names = NULL;
        size_t nlen = 0;
        bool first;
        FILE *m;

        if (!ok) {
            break;
        }
        snprintf(days, sizeof(days), "%lld",
                 (long long)cJSON_GetNumberValue(
                     cJSON_GetObjectItemCaseSensitive(v, "daysLeft")));
        m = open_memstream(&names, &nlen);
        if (m == NULL) {
            ok = false;
            break;
        }
        first = true;
        cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(
                                   v, "identifiers")) {
            fprintf(m, "%s%s", first ? "" : " ",
                    cJSON_IsString(id) ? id->valuestring : "");
            first = false;
        }
        ok = fclose(m) == 0 && names != NULL;
        ok = ok && put_field(f, json_str(v, "team", ""), false) &&
             put_field(f, json_str(v, "state", ""), false) &&
             put_field(f, days, false) &&
             put_field(f, json_str(v, "notAfter", ""), false) &&
             put_field(f, json_str(w, "end", ""), false) &&
             put_field(f, json_str(v, "serial", ""), false) &&
             put_field(f, json_str(v, "id", ""), false) &&
             put_field(f, json_str(v, "account", ""), false) &&
             put_field(f, names, true);
        free(names);
    }
    return ok && fflush(f) == 0 ? AP_OK : AP_EINTERNAL;
}
