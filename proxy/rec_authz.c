/* proxy/rec_authz.c: the authorization record's codec (rec_authz.h). */
#include "proxy/rec_authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "common/crypto.h"
#include "common/id.h"
#include "common/json.h"

static const char *const status_names[] = { "pending", "valid", "invalid",
                                            "deactivated", "expired",
                                            "revoked" };
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == AUTHZ__MAX,
               "status_names must cover every authz status");

static const char *const chall_names[] = { "pending", "processing", "valid",
                                           "invalid" };
_Static_assert(sizeof(chall_names) / sizeof(chall_names[0]) == CHALL__MAX,
               "chall_names must cover every challenge status");

static const char *const known[] = { "v", "id", "account", "order",
                                     "status", "expires", "identifier",
                                     "wildcard", "challenges", NULL };
static const char *const chall_known[] = { "index", "type", "status",
                                           "token", "validated", "address",
                                           "validationRecord", "error",
                                           NULL };

#define AUTHZ_VERSION_LEAN 2   /* no "id"; "index" on a challenge */

const char *
authz_status_name(enum authz_status s)
{
    return (unsigned)s < AUTHZ__MAX ? status_names[s] : "invalid";
}

const char *
chall_status_name(enum chall_status s)
{
    return (unsigned)s < CHALL__MAX ? chall_names[s] : "invalid";
}

static void
chall_fini(struct challenge *c)
{
    free(c->address);
    cJSON_Delete(c->validation_record);
    rec_problem_free(c->error);
    cJSON_Delete(c->extra);
    memset(c, 0, sizeof(*c));
}

void
rec_authz_drop_challenges(struct authz *a)
{
    for (size_t i = 0; i < a->n_challs; i++) {
        chall_fini(&a->challs[i]);
    }
    free(a->challs);
    a->challs = NULL;
    a->n_challs = 0;
}

void
rec_authz_fini(struct authz *a)
{
    rec_ident_fini(&a->ident);
    for (size_t i = 0; i < a->n_challs; i++) {
        chall_fini(&a->challs[i]);
    }
    free(a->challs);
    cJSON_Delete(a->extra);
    memset(a, 0, sizeof(*a));
}


/* ---- the evidence, stored lean ------------------------------------------
 *
 * An http-01 validationRecord entry repeats what the record already says:
 * its url is "http://<hostname>:<port>/.well-known/acme-challenge/<token>"
 * (brackets around an IPv6 hostname), its hostname the identifier, its
 * addressUsed the challenge's address. Those members are left out when they
 * are exactly that and named in the entry's "derived" ('u', 'h', 'a');
 * so are its addressesResolved when it is the one address used ('r',
 * authorization version 2);
 * decoding puts them back, with the same values in the same member order,
 * so the decoded record is the one the validator wrote. */

#define DERIVED "derived"
#define HTTP01_PATH "/.well-known/acme-challenge/"

/* The url an http-01 entry for hostname, port and token has (NULL when
 * port is not one or the url does not fit). */
static const char *
http01_url(const char *hostname, const cJSON *port, const char *token,
           char *buf, size_t len)
{
    bool v6 = strchr(hostname, ':') != NULL;
    int n;

    if (!cJSON_IsNumber(port) || port->valuedouble < 1 ||
        port->valuedouble > 65535 ||
        port->valuedouble != (double)port->valueint) {
        return NULL;
    }
    n = snprintf(buf, len, "http://%s%s%s:%d" HTTP01_PATH "%s",
                 v6 ? "[" : "", hostname, v6 ? "]" : "", port->valueint,
                 token);
    return n > 0 && (size_t)n < len ? buf : NULL;
}

/* The string member name of e, or NULL. */
static const char *
str_member(const cJSON *e, const char *name)
{
    const cJSON *v = json_member(e, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The last member of object e (NULL: none). */
static const cJSON *
last_member(const cJSON *e)
{
    const cJSON *m = e->child;

    while (m != NULL && m->next != NULL) {
        m = m->next;
    }
    return m;
}

/* Whether e ends in "status": 200 (derived 's', compact records only). */
static bool
ends_in_200(const cJSON *e)
{
    const cJSON *m = last_member(e);

    return m != NULL && strcmp(m->string, "status") == 0 &&
           cJSON_IsNumber(m) && m->valuedouble == 200;
}

/* The entry e of challenge c of an authorization for ident as stored: a
 * new object (NULL: out of memory). compact: a version 3 record's, which
 * also leaves out a last "status": 200 ('s'). */
static cJSON *
lean_entry(const cJSON *e, const struct rec_ident *ident,
           const struct challenge *c, bool compact)
{
    char url[1024];
    char derived[6];
    size_t nd = 0;
    const char *host = str_member(e, "hostname");
    const char *have_url = str_member(e, "url");
    const char *used = str_member(e, "addressUsed");
    const cJSON *resolved = json_member(e, "addressesResolved");
    const char *want_url;
    cJSON *out;
    cJSON *m;

    if (!cJSON_IsObject(e) || cJSON_HasObjectItem(e, DERIVED)) {
        return cJSON_Duplicate(e, 1);
    }
    if (host != NULL && ident->value != NULL &&
        strcmp(host, ident->value) == 0) {
        derived[nd++] = 'h';
    }
    want_url = host != NULL ? http01_url(host, json_member(e, "port"),
                                         c->token, url, sizeof(url))
                            : NULL;
    if (have_url != NULL && want_url != NULL &&
        strcmp(have_url, want_url) == 0) {
        derived[nd++] = 'u';
    }
    if (used != NULL && c->address != NULL &&
        strcmp(used, c->address) == 0) {
        derived[nd++] = 'a';
    }
    if (c->address != NULL && cJSON_IsArray(resolved) &&
        cJSON_GetArraySize(resolved) == 1 &&
        cJSON_IsString(resolved->child) &&
        strcmp(resolved->child->valuestring, c->address) == 0) {
        derived[nd++] = 'r';
    }
    if (compact && ends_in_200(e)) {
        derived[nd++] = 's';
    }
    derived[nd] = '\0';
    out = cJSON_CreateObject();
    if (out == NULL) {
        return NULL;
    }
    cJSON_ArrayForEach(m, e) {
        cJSON *copy;

        if ((strchr(derived, 'h') && strcmp(m->string, "hostname") == 0) ||
            (strchr(derived, 'u') && strcmp(m->string, "url") == 0) ||
            (strchr(derived, 'a') && strcmp(m->string, "addressUsed") == 0) ||
            (strchr(derived, 'r') &&
             strcmp(m->string, "addressesResolved") == 0) ||
            (strchr(derived, 's') && m->next == NULL)) {
            continue;
        }
        copy = cJSON_Duplicate(m, 1);
        if (copy == NULL || !cJSON_AddItemToObject(out, m->string, copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(out);
            return NULL;
        }
    }
    if (nd > 0 && cJSON_AddStringToObject(out, DERIVED, derived) == NULL) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* The validationRecord of c as stored (NULL: none, or out of memory, which
 * sets w's error). */
static cJSON *
lean_record(struct rec_writer *w, const cJSON *vr,
            const struct rec_ident *ident, const struct challenge *c,
            bool compact)
{
    const cJSON *e;
    cJSON *arr;

    if (w->rc != AP_OK || vr == NULL) {
        return NULL;
    }
    arr = cJSON_CreateArray();
    if (arr == NULL) {
        w->rc = AP_ENOMEM;
        return NULL;
    }
    cJSON_ArrayForEach(e, vr) {
        cJSON *lean = lean_entry(e, ident, c, compact);

        if (lean == NULL || !cJSON_AddItemToArray(arr, lean)) {
            cJSON_Delete(lean);
            cJSON_Delete(arr);
            w->rc = AP_ENOMEM;
            return NULL;
        }
    }
    return arr;
}

/* Moves member name of from (if there) to the end of to. */
static void
move_member(cJSON *from, cJSON *to, const char *name)
{
    cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(from, name);

    if (m != NULL) {
        cJSON_AddItemToArray(to, m);    /* m keeps its name */
    }
}

/* Puts the derived members of the stored entry *e back (replacing *e with
 * the whole entry). The challenge c's token and address and ident are
 * read. compact: a version 3 record's ('s' too). */
static void
full_entry(struct rec_reader *r, cJSON **e, const struct rec_ident *ident,
           const struct challenge *c, bool compact)
{
    static const char *const order[] = { "url", "hostname", "port",
                                         "addressesResolved", "addressUsed",
                                         NULL };
    const char *derived = str_member(*e, DERIVED);
    const char *host;
    char url[1024];
    cJSON *full;
    cJSON *m;
    bool h, u, a, rs, st;

    if (!cJSON_IsObject(*e) || !cJSON_HasObjectItem(*e, DERIVED)) {
        return;
    }
    if (derived == NULL ||
        derived[strspn(derived, compact ? "huars" : "huar")] != '\0' ||
        strlen(derived) > 5) {
        rec_read_fail(r, "validationRecord: \"" DERIVED "\" is not of h, u, "
                         "a, r (s)");
        return;
    }
    st = strchr(derived, 's') != NULL;
    h = strchr(derived, 'h') != NULL;
    u = strchr(derived, 'u') != NULL;
    a = strchr(derived, 'a') != NULL;
    rs = strchr(derived, 'r') != NULL;
    host = h ? ident->value : str_member(*e, "hostname");
    if ((h && (ident->value == NULL ||
               cJSON_HasObjectItem(*e, "hostname"))) ||
        (u && (host == NULL || cJSON_HasObjectItem(*e, "url") ||
               http01_url(host, json_member(*e, "port"),
                          c->token, url, sizeof(url)) == NULL)) ||
        (a && (c->address == NULL ||
               cJSON_HasObjectItem(*e, "addressUsed"))) ||
        (rs && (c->address == NULL ||
                cJSON_HasObjectItem(*e, "addressesResolved"))) ||
        (st && cJSON_HasObjectItem(*e, "status"))) {
        rec_read_fail(r, "validationRecord: a derived member cannot be "
                         "made again");
        return;
    }
    full = cJSON_CreateObject();
    if (full == NULL) {
        goto oom;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(*e, DERIVED);
    for (int i = 0; order[i] != NULL; i++) {
        const char *v = NULL;

        if (u && strcmp(order[i], "url") == 0) {
            v = url;
        } else if (h && strcmp(order[i], "hostname") == 0) {
            v = host;
        } else if (a && strcmp(order[i], "addressUsed") == 0) {
            v = c->address;
        }
        if (rs && strcmp(order[i], "addressesResolved") == 0) {
            const char *one[1] = { c->address };
            cJSON *arr = cJSON_CreateStringArray(one, 1);

            if (arr == NULL || !cJSON_AddItemToObject(full, order[i], arr)) {
                cJSON_Delete(arr);
                goto oom;
            }
        } else if (v == NULL) {
            move_member(*e, full, order[i]);
        } else if (cJSON_AddStringToObject(full, order[i], v) == NULL) {
            goto oom;
        }
    }
    while ((m = (*e)->child) != NULL) {
        cJSON_DetachItemViaPointer(*e, m);
        cJSON_AddItemToArray(full, m); /* an object's member keeps its name */
    }
    if (st && cJSON_AddNumberToObject(full, "status", 200) == NULL) {
        goto oom;
    }
    *e = full;            /* the emptied entry goes when replaced */
    return;
oom:
    cJSON_Delete(full);
    if (r->rc == AP_OK) {
        r->rc = AP_ENOMEM;
        (void)snprintf(r->why, sizeof(r->why), "out of memory");
    }
}

/* Every entry of c's validationRecord, whole again. */
static void
full_record(struct rec_reader *r, const struct rec_ident *ident,
            struct challenge *c, bool compact)
{
    cJSON *e;

    if (r->rc != AP_OK || c->validation_record == NULL) {
        return;
    }
    for (e = c->validation_record->child; e != NULL && r->rc == AP_OK;
         e = e->next) {
        cJSON *whole = e;

        full_entry(r, &whole, ident, c, compact);
        if (whole != e) {
            /* replace in place: whole takes e's position */
            if (!cJSON_ReplaceItemViaPointer(c->validation_record, e,
                                             whole)) {
                cJSON_Delete(whole);
                rec_read_fail(r, "validationRecord: cannot replace");
                return;
            }
            e = whole;
        }
    }
}

/* Whether c is a decided challenge (valid or invalid). */
static bool
chall_decided(const struct challenge *c)
{
    return c->status == CHALL_VALID || c->status == CHALL_INVALID;
}

/* Whether challenge c of a is kept (rec_authz.h: a decided authorization
 * keeps only its decided challenges). */
static bool
chall_kept(const struct authz *a, const struct challenge *c)
{
    if (c->dropped) {
        return false;
    }
    return (a->status != AUTHZ_VALID && a->status != AUTHZ_INVALID) ||
           chall_decided(c);
}

static void
drop_chall(struct challenge *c)
{
    chall_fini(c);
    c->status = CHALL_INVALID;
    c->dropped = true;
}

struct challenge *
rec_authz_chall(const struct authz *a, size_t index)
{
    if (index >= a->n_challs || a->challs[index].dropped) {
        return NULL;
    }
    return &a->challs[index];
}

/* The URL index of every stored challenge of arr (n of them) into pos[],
 * and how many challenges that makes (*total: the last index + 1). An
 * entry without "index" is the one after the previous entry's. */
static void
chall_positions(struct rec_reader *r, const cJSON *arr, size_t *pos,
                size_t *total)
{
    const cJSON *it;
    size_t next = 0;
    size_t k = 0;

    *total = 0;
    cJSON_ArrayForEach(it, arr) {
        long long index = 0;
        bool has = false;

        if (r->rc != AP_OK) {
            return;
        }
        if (!cJSON_IsObject(it)) {
            rec_read_fail(r, "a challenge is not an object");
            return;
        }
        rec_read_int(r, it, "index", (long long)next, AUTHZ_MAX_CHALLENGES,
                     &index, &has);
        if (!has && next > AUTHZ_MAX_CHALLENGES) {
            rec_read_fail(r, "more than %d challenges",
                          AUTHZ_MAX_CHALLENGES + 1);
        }
        pos[k++] = has ? (size_t)index : next;
        next = pos[k - 1] + 1;
    }
    *total = next;
}

static void
read_chall(struct rec_reader *r, const cJSON *v,
           const struct rec_ident *ident, struct challenge *c)
{
    int status = CHALL_INVALID;

    rec_read_buf(r, v, "type", c->type, sizeof(c->type));
    rec_read_enum(r, v, "status", chall_names, CHALL__MAX, CHALL_INVALID,
                  &status);
    rec_read_buf(r, v, "token", c->token, sizeof(c->token));
    rec_read_int(r, v, "validated", 0, REC_TIME_MAX, &c->validated, NULL);
    rec_read_str(r, v, "address", REC_MAX_SHORT, &c->address);
    rec_read_tree(r, v, "validationRecord", cJSON_Array,
                  &c->validation_record);
    full_record(r, ident, c, false);
    rec_read_problem(r, v, "error", &c->error);
    rec_read_extra(r, v, chall_known, &c->extra);
    c->status = (enum chall_status)status;
}

/* ---- version 3: the compact form ----------------------------------------
 *
 * {"v":3,"i":<dns name>|"ip":<address>,"w":true (wildcard),"a":<account>,
 *  "o":<order>,"s":<status letter>,"e":<expires>,"t":<token seed>,
 *  "c":<per challenge URL index, in order: its type's letter (h, d, t)
 *       followed by its status's (r processing, v valid, i invalid; none:
 *       pending), or x when it was dropped>,
 *  "d":<validated>,"ad":<address>,"vr":[<evidence, lean>],"er":<problem>,
 *  "_":<spaces>}
 * The evidence members (d, ad, vr, er) are those of the one decided
 * challenge. An undecided record carries "_", spaces that reserve the room
 * its decided form takes (AUTHZ_RESERVE), so the record never grows on its
 * page (test/bench/README.md, "Record sizes"). A record this form cannot
 * hold (another identifier type or challenge type, tokens not derived from
 * a seed, evidence on more than one challenge or on an undecided one,
 * members this version does not know) is written in version 2's form. */

#define AUTHZ_VERSION_COMPACT 3
/* The bytes an http-01 outcome adds to a pending record ("v" in "c", "d", "ad",
 * "vr": 72 with address 127.0.0.1 and a 5-digit port, test/unit/
 * test_rec_authz3.c): what "_" takes, its name and quotes included. */
#define AUTHZ_RESERVE 72

static const char status_letters[] = "pvider";    /* enum authz_status */
static const char chall_letters[] = "-rvi";       /* enum chall_status;
                                                     pending has none */
_Static_assert(sizeof(status_letters) - 1 == AUTHZ__MAX, "status letters");
_Static_assert(sizeof(chall_letters) - 1 == CHALL__MAX, "chall letters");

static const struct {
    char letter;
    const char *type;
} type_letters[] = { { 'h', "http-01" }, { 'd', "dns-01" },
                     { 't', "tls-alpn-01" } };

#define N_TYPE_LETTERS (sizeof(type_letters) / sizeof(type_letters[0]))

static const char *const compact_known[] = { "v", "i", "ip", "w", "a", "o",
                                             "s", "e", "t", "c", "d",
                                             "ad", "vr", "er", "_", NULL };

ap_err
rec_authz_token(const char *seed, const char *type, char *out, size_t outlen)
{
    static const char label[] = "acme-token";
    unsigned char buf[sizeof(label) + 2 * (REC_MAX_ID + 1)];
    unsigned char md[CRYPTO_SHA256_LEN];
    size_t st = strlen(type);
    size_t ss = strlen(seed);
    size_t n = 0;
    ap_err rc;

    if (ss == 0 || ss > REC_MAX_ID || st > REC_MAX_ID) {
        return AP_EINVAL;
    }
    memcpy(buf, label, sizeof(label));      /* with its NUL */
    n = sizeof(label);
    memcpy(buf + n, type, st + 1);
    n += st + 1;
    memcpy(buf + n, seed, ss);
    n += ss;
    crypto_sha256(buf, n, md);
    rc = b64url_encode(md, sizeof(md), out, outlen);
    explicit_bzero(buf, sizeof(buf));
    explicit_bzero(md, sizeof(md));
    return rc;
}

const char *
rec_authz_chall_token(const struct authz *a, const struct challenge *c,
                      char *buf, size_t buflen)
{
    if (c->token[0] != '\0') {
        return c->token;
    }
    if (a->seed[0] == '\0' ||
        rec_authz_token(a->seed, c->type, buf, buflen) != AP_OK) {
        return NULL;
    }
    return buf;
}

/* c with its token, for the writers that read it (the http-01 entries'
 * url): c itself, or *tmp, a shallow copy with the token derived. NULL
 * when it has none. */
static const struct challenge *
chall_with_token(const struct authz *a, const struct challenge *c,
                 struct challenge *tmp)
{
    if (c->token[0] != '\0') {
        return c;
    }
    *tmp = *c;
    return rec_authz_chall_token(a, c, tmp->token, sizeof(tmp->token)) !=
                   NULL
               ? tmp
               : NULL;
}

static char
type_letter(const char *type)
{
    for (size_t i = 0; i < N_TYPE_LETTERS; i++) {
        if (strcmp(type, type_letters[i].type) == 0) {
            return type_letters[i].letter;
        }
    }
    return '\0';
}

static const char *
letter_type(char letter)
{
    for (size_t i = 0; i < N_TYPE_LETTERS; i++) {
        if (letter == type_letters[i].letter) {
            return type_letters[i].type;
        }
    }
    return NULL;
}

static bool
has_evidence(const struct challenge *c)
{
    return c->validated != 0 || c->address != NULL ||
           c->validation_record != NULL || c->error != NULL;
}

/* Whether a fits the compact form; *ev: the index of the challenge whose
 * evidence it holds (-1: none). */
static bool
compact_fits(const struct authz *a, long long *ev)
{
    bool dns = strcmp(a->ident.type, "dns") == 0;

    *ev = -1;
    if ((!dns && strcmp(a->ident.type, "ip") != 0) ||
        a->ident.value == NULL || a->ident.extra != NULL ||
        a->extra != NULL || (unsigned)a->status >= AUTHZ__MAX ||
        a->n_challs > AUTHZ_MAX_CHALLENGES + 1 ||
        (a->n_challs > 0 && a->seed[0] == '\0')) {
        return false;
    }
    for (size_t i = 0; i < a->n_challs; i++) {
        const struct challenge *c = &a->challs[i];
        char token[TOKEN_LEN + 1];

        if (!chall_kept(a, c)) {
            continue;
        }
        /* A token not derived yet is the seed's by definition. */
        if (type_letter(c->type) == '\0' || c->extra != NULL ||
            (unsigned)c->status >= CHALL__MAX ||
            (c->token[0] != '\0' &&
             (rec_authz_token(a->seed, c->type, token, sizeof(token)) !=
                  AP_OK ||
              strcmp(token, c->token) != 0))) {
            return false;
        }
        if (has_evidence(c)) {
            if (*ev >= 0 || !chall_decided(c)) {
                return false;
            }
            *ev = (long long)i;
        }
    }
    return true;
}

/* a in the compact form (rec_authz_encode when compact_fits). */
static ap_err
encode_compact(const struct authz *a, long long ev, cJSON **out)
{
    struct rec_writer w = { AP_OK };
    cJSON *obj = rec_write_object(&w);
    char types[2 * (AUTHZ_MAX_CHALLENGES + 1) + 1];
    char pad[AUTHZ_RESERVE + 1];
    bool decided = a->status != AUTHZ_PENDING;
    size_t n = a->n_challs;
    size_t k = 0;
    size_t marks = 0;
    char status[2] = { status_letters[a->status], '\0' };

    for (size_t i = 0; i < n; i++) {
        const struct challenge *c = &a->challs[i];
        bool kept = chall_kept(a, c);

        types[k++] = kept ? type_letter(c->type) : 'x';
        if (kept && c->status != CHALL_PENDING) {
            types[k++] = chall_letters[c->status];
            marks++;
        }
        decided = decided || (kept && chall_decided(c));
    }
    types[k] = '\0';
    rec_put_int(&w, obj, "v", AUTHZ_VERSION_COMPACT);
    rec_put_str(&w, obj, strcmp(a->ident.type, "dns") == 0 ? "i" : "ip",
                a->ident.value);
    if (a->wildcard) {
        rec_put_bool(&w, obj, "w", true);
    }
    rec_put_str(&w, obj, "a", a->account);
    rec_put_str(&w, obj, "o", a->order);
    rec_put_str(&w, obj, "s", status);
    rec_put_int(&w, obj, "e", a->expires);
    if (n > 0) {
        rec_put_str(&w, obj, "t", a->seed);
        rec_put_str(&w, obj, "c", types);
    }
    if (ev >= 0) {
        struct challenge tmp;
        const struct challenge *c = chall_with_token(a, &a->challs[ev],
                                                     &tmp);

        if (c == NULL) {
            cJSON_Delete(obj);
            return AP_EINVAL;
        }
        if (c->validated != 0) {
            rec_put_int(&w, obj, "d", c->validated);
        }
        rec_put_str(&w, obj, "ad", c->address);
        if (c->validation_record != NULL) {
            rec_put_item(&w, obj, "vr",
                         lean_record(&w, c->validation_record, &a->ident,
                                     c, true));
        }
        rec_put_problem(&w, obj, "er", c->error);
    }
    if (!decided) {
        /* a status letter (processing) takes its room out of the
         * reserve */
        size_t len = AUTHZ_RESERVE > marks + 6 ? AUTHZ_RESERVE - marks - 6
                                               : 0;

        memset(pad, ' ', len);
        pad[len] = '\0';
        rec_put_str(&w, obj, "_", pad);
    }
    if (w.rc != AP_OK) {
        cJSON_Delete(obj);
        return w.rc;
    }
    *out = obj;
    return AP_OK;
}

/* The challenges of compact record obj into out (its identifier read). */
static void
decode_compact_challs(struct rec_reader *r, const cJSON *obj,
                      struct authz *out)
{
    const char *types = str_member(obj, "c");
    struct challenge *ev = NULL;
    size_t n = 0;
    long long validated = 0;

    if (r->rc != AP_OK) {
        return;
    }
    if (types == NULL) {
        if (cJSON_HasObjectItem(obj, "c") || out->seed[0] != '\0') {
            rec_read_fail(r, "\"c\" is not a string, or \"t\" without it");
        }
        goto evidence;
    }
    for (const char *p = types; *p != '\0'; p++) {
        n += strchr(chall_letters, *p) == NULL;     /* a challenge's first */
    }
    if (n == 0 || n > AUTHZ_MAX_CHALLENGES + 1 || out->seed[0] == '\0') {
        rec_read_fail(r, "\"c\" and \"t\" do not fit together");
        return;
    }
    out->challs = calloc(n, sizeof(*out->challs));
    if (out->challs == NULL) {
        r->rc = AP_ENOMEM;
        (void)snprintf(r->why, sizeof(r->why), "out of memory");
        return;
    }
    out->n_challs = n;
    for (size_t i = 0; i < n && r->rc == AP_OK; i++) {
        struct challenge *c = &out->challs[i];
        char letter = *types++;
        const char *type = letter_type(letter);
        const char *sl = *types != '\0' && *types != '-'
                             ? strchr(chall_letters, *types)
                             : NULL;

        if (sl != NULL) {
            types++;                /* its status */
        }
        if (letter == 'x' && sl == NULL) {
            drop_chall(c);
            continue;
        }
        if (type == NULL) {
            rec_read_fail(r, "challenge %zu: '%c' is not a type's letter "
                             "(or x without a status)", i, letter);
            return;
        }
        memcpy(c->type, type, strlen(type) + 1);
        c->status = sl != NULL ? (enum chall_status)(sl - chall_letters)
                               : CHALL_PENDING;
        /* Its token is derived when asked for (rec_authz_chall_token):
         * most readers want the statuses only. */
        if (chall_decided(c)) {
            if (ev != NULL) {
                rec_read_fail(r, "more than one decided challenge");
                return;
            }
            ev = c;
        }
    }
    if (r->rc == AP_OK && *types != '\0') {
        rec_read_fail(r, "\"c\": a status letter after a status letter");
        return;
    }
evidence:
    if (r->rc != AP_OK) {
        return;
    }
    if (ev == NULL) {
        if (cJSON_HasObjectItem(obj, "d") || cJSON_HasObjectItem(obj, "ad") ||
            cJSON_HasObjectItem(obj, "vr") || cJSON_HasObjectItem(obj, "er")) {
            rec_read_fail(r, "evidence without a decided challenge");
        }
        return;
    }
    /* The evidence's http-01 url is made again from the token. */
    if (rec_authz_token(out->seed, ev->type, ev->token, sizeof(ev->token)) !=
        AP_OK) {
        rec_read_fail(r, "the decided challenge has no token");
        return;
    }
    rec_read_int(r, obj, "d", 0, REC_TIME_MAX, &validated, NULL);
    ev->validated = validated;
    rec_read_str(r, obj, "ad", REC_MAX_SHORT, &ev->address);
    rec_read_tree(r, obj, "vr", cJSON_Array, &ev->validation_record);
    full_record(r, &out->ident, ev, true);
    rec_read_problem(r, obj, "er", &ev->error);
}

/* Decodes a version 3 record (rec_authz_decode). */
static void
decode_compact(struct rec_reader *r, const cJSON *obj, struct authz *out)
{
    const char *dns = str_member(obj, "i");
    const char *ip = str_member(obj, "ip");
    char status[2] = "";
    const char *sl;

    if ((dns == NULL) == (ip == NULL)) {
        rec_read_fail(r, "not one of \"i\" and \"ip\"");
        return;
    }
    memcpy(out->ident.type, dns != NULL ? "dns" : "ip",
           dns != NULL ? sizeof("dns") : sizeof("ip"));
    rec_read_str(r, obj, dns != NULL ? "i" : "ip", REC_MAX_SHORT,
                 &out->ident.value);
    rec_read_bool(r, obj, "w", &out->wildcard);
    rec_read_buf(r, obj, "a", out->account, sizeof(out->account));
    rec_read_buf(r, obj, "o", out->order, sizeof(out->order));
    rec_read_buf(r, obj, "s", status, sizeof(status));
    rec_read_int(r, obj, "e", 0, REC_TIME_MAX, &out->expires, NULL);
    rec_read_buf(r, obj, "t", out->seed, sizeof(out->seed));
    sl = status[0] != '\0' ? strchr(status_letters, status[0]) : NULL;
    if (r->rc == AP_OK && sl == NULL) {
        rec_read_fail(r, "status \"%s\" is not known", status);
    }
    out->status = sl != NULL ? (enum authz_status)(sl - status_letters)
                             : AUTHZ_INVALID;
    decode_compact_challs(r, obj, out);
    rec_read_extra(r, obj, compact_known, &out->extra);
}

ap_err
rec_authz_decode(const cJSON *obj, struct authz *out, char *why,
                 size_t whylen)
{
    struct rec_reader r;
    const cJSON *ident;
    const cJSON *arr = NULL;
    const cJSON *it;
    size_t pos[AUTHZ_MAX_CHALLENGES + 1];
    size_t n = 0;
    size_t k = 0;
    long long version = 0;
    int status = AUTHZ_INVALID;

    memset(out, 0, sizeof(*out));
    rec_read_begin(&r, obj);
    rec_read_int(&r, obj, "v", REC_VERSION, AUTHZ_VERSION_COMPACT, &version,
                 NULL);
    if (version == AUTHZ_VERSION_COMPACT) {
        decode_compact(&r, obj, out);
        goto kept;
    }
    rec_read_buf(&r, obj, "id", out->id, sizeof(out->id));
    rec_read_buf(&r, obj, "account", out->account, sizeof(out->account));
    rec_read_buf(&r, obj, "order", out->order, sizeof(out->order));
    rec_read_enum(&r, obj, "status", status_names, AUTHZ__MAX, AUTHZ_INVALID,
                  &status);
    rec_read_int(&r, obj, "expires", 0, REC_TIME_MAX, &out->expires, NULL);
    ident = r.rc == AP_OK ? json_member(obj, "identifier") : NULL;
    if (ident != NULL && !cJSON_IsNull(ident)) {
        rec_read_ident(&r, ident, &out->ident);
    }
    rec_read_bool(&r, obj, "wildcard", &out->wildcard);
    rec_read_array(&r, obj, "challenges", AUTHZ_MAX_CHALLENGES + 1, &arr, &n);
    chall_positions(&r, arr, pos, &n);
    if (r.rc == AP_OK && n > 0) {
        out->challs = calloc(n, sizeof(*out->challs));
        if (out->challs == NULL) {
            r.rc = AP_ENOMEM;
        } else {
            out->n_challs = n;
            for (size_t i = 0; i < n; i++) {
                drop_chall(&out->challs[i]);  /* until one is read there */
            }
        }
        cJSON_ArrayForEach(it, arr) {
            if (r.rc != AP_OK) {
                break;
            }
            out->challs[pos[k]].dropped = false;
            read_chall(&r, it, &out->ident, &out->challs[pos[k++]]);
        }
    }
    rec_read_extra(&r, obj, known, &out->extra);
    out->status = (enum authz_status)status;
kept:
    for (size_t i = 0; r.rc == AP_OK && i < out->n_challs; i++) {
        if (!chall_kept(out, &out->challs[i])) {
            drop_chall(&out->challs[i]); /* a version 1 record's */
        }
    }
    if (r.rc != AP_OK && why != NULL && whylen > 0) {
        (void)snprintf(why, whylen, "%s", r.why);
    }
    return r.rc;
}

/* Challenge c as stored; index >= 0: its URL index, when it is not the one
 * after the previous stored challenge's. */
static cJSON *
chall_object(struct rec_writer *w, const struct rec_ident *ident,
             const struct challenge *c, long long index)
{
    cJSON *o = rec_write_object(w);

    if (index >= 0) {
        rec_put_int(w, o, "index", index);
    }
    rec_put_str(w, o, "type", c->type);
    rec_put_str(w, o, "status", chall_status_name(c->status));
    rec_put_str(w, o, "token", c->token);
    if (c->validated != 0) {
        rec_put_int(w, o, "validated", c->validated);
    }
    rec_put_str(w, o, "address", c->address);
    if (c->validation_record != NULL) {
        rec_put_item(w, o, "validationRecord",
                     lean_record(w, c->validation_record, ident, c,
                                 false));
    }
    rec_put_problem(w, o, "error", c->error);
    rec_put_extra(w, o, c->extra);
    if (w->rc != AP_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

ap_err
rec_authz_encode(const struct authz *a, cJSON **out)
{
    struct rec_writer w = { AP_OK };
    cJSON *obj;
    cJSON *arr;
    size_t next = 0;
    long long ev;

    *out = NULL;
    if (compact_fits(a, &ev)) {
        return encode_compact(a, ev, out);
    }
    obj = rec_write_object(&w);
    rec_put_ident(&w, obj, "identifier", &a->ident);
    rec_put_int(&w, obj, "v", AUTHZ_VERSION_LEAN);
    rec_put_str(&w, obj, "account", a->account);
    rec_put_str(&w, obj, "order", a->order);
    rec_put_str(&w, obj, "status", authz_status_name(a->status));
    rec_put_int(&w, obj, "expires", a->expires);
    if (a->wildcard) {
        rec_put_bool(&w, obj, "wildcard", true);
    }
    arr = rec_put_array(&w, obj, "challenges");
    for (size_t i = 0; i < a->n_challs; i++) {
        struct challenge tmp;
        const struct challenge *c;

        if (!chall_kept(a, &a->challs[i])) {
            continue;
        }
        c = chall_with_token(a, &a->challs[i], &tmp);
        if (c == NULL) {
            w.rc = AP_EINVAL;
            break;
        }
        rec_push(&w, arr, chall_object(&w, &a->ident, c,
                                       i != next ? (long long)i : -1));
        next = i + 1;
    }
    rec_put_extra(&w, obj, a->extra);
    if (w.rc != AP_OK) {
        cJSON_Delete(obj);
        return w.rc;
    }
    *out = obj;
    return AP_OK;
}

ap_err
rec_authz_get(struct store_txn *txn, const char *id, struct authz *out)
{
    cJSON *obj = NULL;
    char why[200];
    ap_err rc;

    memset(out, 0, sizeof(*out));
    rc = store_get_json(txn, STORE_AUTHZS, id, &obj);
    if (rc != AP_OK) {
        return rc;
    }
    rc = rec_authz_decode(obj, out, why, sizeof(why));
    cJSON_Delete(obj);
    if (rc == AP_OK && out->id[0] == '\0') {
        if (strlen(id) < sizeof(out->id)) {
            memcpy(out->id, id, strlen(id) + 1);
        } else {
            rc = AP_ESTORE;
            (void)snprintf(why, sizeof(why), "key longer than an id");
        }
    }
    if (rc == AP_ESTORE) {
        rc = rec_bad("authzs", id, why);
    }
    if (rc != AP_OK) {
        rec_authz_fini(out);
    }
    return rc;
}

ap_err
rec_authz_put(struct store_txn *txn, const char *key, const struct authz *a,
              bool exclusive)
{
    cJSON *obj = NULL;
    ap_err rc;

    rc = rec_authz_encode(a, &obj);
    if (rc == AP_OK) {
        rc = store_put_json(txn, STORE_AUTHZS, key, obj, exclusive);
    }
    cJSON_Delete(obj);
    return rc;
}

ap_err
rec_authz_add_challenge(struct authz *a, const char *type, const char *token)
{
    struct challenge *grown;
    struct challenge *c;

    if (a->n_challs > AUTHZ_MAX_CHALLENGES || strlen(type) > REC_MAX_ID ||
        strlen(token) > REC_MAX_ID) {
        return AP_EINVAL;
    }
    grown = realloc(a->challs, (a->n_challs + 1) * sizeof(*grown));
    if (grown == NULL) {
        return AP_ENOMEM;
    }
    a->challs = grown;
    c = &a->challs[a->n_challs++];
    memset(c, 0, sizeof(*c));
    memcpy(c->type, type, strlen(type) + 1);
    memcpy(c->token, token, strlen(token) + 1);
    c->status = CHALL_PENDING;
    return AP_OK;
}
