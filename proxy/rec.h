/* proxy/rec.h: what the typed records share: the field codec and the
 * parts that appear in more than one record.
 *
 * The store keeps each record as one JSON object (common/store.h). Each
 * record type has one struct and one codec, in its own file:
 *   struct account  proxy/rec_account.h   table STORE_ACCOUNTS
 *   struct order    proxy/rec_order.h     table STORE_ORDERS
 *   struct authz    proxy/rec_authz.h     table STORE_AUTHZS
 *   struct cert     proxy/rec_cert.h      table STORE_CERTS
 * Handlers, the validator and the issuer work on the structs; only a codec
 * touches the JSON of its record. The JSON is the format every earlier
 * version wrote, member for member (records written before load
 * unchanged; test/unit/test_records.c holds records of the previous
 * version as vectors), and the admin subcommands, the integration tests
 * and the torture checker read it.
 *
 * Decoding checks every member it knows: its JSON type, and its range
 * (integers within bounds, strings within a cap, enumerations among their
 * names, arrays within a count). A member that is absent takes its zero
 * value (the empty string, 0, false, NULL: what the earlier code's
 * defaults read), except "status", which reads as the record type's
 * "invalid"-like value. A member this version does not know is kept, in
 * the struct's "extra", and written back as it was: a record from a newer
 * version loses nothing when this one rewrites it. A record whose "v" is
 * not REC_VERSION does not decode. A record that does not decode is
 * AP_ESTORE; the rec_*_get functions log it with its table and key.
 *
 * Encoding checks every member it adds: out of memory is AP_ENOMEM, never
 * a record with a member left out.
 *
 * The reader and writer below carry the first error and make every later
 * call a no-op ("sticky" errors), so a codec reads as a list of members.
 * Pure functions, thread-safe. */
#ifndef AP_PROXY_REC_H
#define AP_PROXY_REC_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/err.h"

#define REC_VERSION 1
#define REC_MAX_ID 64          /* record ids (id_is_valid: 1..64) */
#define REC_MAX_SHORT 256      /* names, types, URNs, addresses */
#define REC_MAX_TEXT 65536     /* details, references, reasons */
#define REC_MAX_BLOB (1u << 20) /* CSRs, PEM chains (base64 text) */
#define REC_MAX_LIST 1000      /* members of an array */
#define REC_TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* An identifier (RFC 8555 §7.1.4): {"type": "dns"|"ip", "value"}. */
struct rec_ident {
    char type[8];
    char *value;
    cJSON *extra;
};

/* A stored problem document (RFC 7807): what an order, an authorization
 * or a challenge failed with. status 0: absent. */
struct rec_problem {
    char *type;                 /* urn:ietf:params:acme:error:... */
    char *detail;
    int status;
    cJSON *extra;
};

/* ---- reading ------------------------------------------------------- */

struct rec_reader {
    ap_err rc;                  /* AP_OK until the first error */
    char why[200];              /* that error, for the log */
};

/* Starts reading: obj must be a JSON object. */
void rec_read_begin(struct rec_reader *r, const cJSON *obj);
/* The string member name of obj, at most max bytes, copied into *out
 * (caller frees); NULL when absent. */
void rec_read_str(struct rec_reader *r, const cJSON *obj, const char *name,
                  size_t max, char **out);
/* The same into out[outlen] ("" when absent; longer is an error). */
void rec_read_buf(struct rec_reader *r, const cJSON *obj, const char *name,
                  char *out, size_t outlen);
/* An integer member in [min, max]; 0 when absent (*present, which may be
 * NULL, says which). */
void rec_read_int(struct rec_reader *r, const cJSON *obj, const char *name,
                  long long min, long long max, long long *out,
                  bool *present);
/* A boolean member; false when absent. */
void rec_read_bool(struct rec_reader *r, const cJSON *obj, const char *name,
                   bool *out);
/* A string member that is one of names[0..n-1]: *out its index; dflt when
 * absent. */
void rec_read_enum(struct rec_reader *r, const cJSON *obj, const char *name,
                   const char *const *names, int n, int dflt, int *out);
/* A member that is an object (want cJSON_Object) or an array (cJSON_Array)
 * kept as a tree: a copy in *out (caller deletes), NULL when absent. */
void rec_read_tree(struct rec_reader *r, const cJSON *obj, const char *name,
                   int want, cJSON **out);
/* An array member of at most max items: *arr the array (borrowed; NULL
 * when absent) and *n its size. */
void rec_read_array(struct rec_reader *r, const cJSON *obj, const char *name,
                    size_t max, const cJSON **arr, size_t *n);
/* The members of obj whose names are not in known (NULL-terminated), as a
 * new object in *extra (NULL when there are none). */
void rec_read_extra(struct rec_reader *r, const cJSON *obj,
                    const char *const *known, cJSON **extra);
/* "v" must be REC_VERSION (absent reads as it: the first records had
 * it from the start, hand-made test records may not). */
void rec_read_version(struct rec_reader *r, const cJSON *obj);
/* An identifier object; a problem object (absent: *out NULL). */
void rec_read_ident(struct rec_reader *r, const cJSON *v,
                    struct rec_ident *out);
void rec_read_problem(struct rec_reader *r, const cJSON *obj,
                      const char *name, struct rec_problem **out);
/* Sets the error (the first one wins). */
void rec_read_fail(struct rec_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- writing ------------------------------------------------------- */

struct rec_writer {
    ap_err rc;                  /* AP_OK until the first failure */
};

/* A new object (NULL and rc AP_ENOMEM when out of memory). */
cJSON *rec_write_object(struct rec_writer *w);
/* Members of obj; obj NULL (an earlier failure) is a no-op. A NULL string
 * or tree adds nothing. */
void rec_put_str(struct rec_writer *w, cJSON *obj, const char *name,
                 const char *s);
void rec_put_int(struct rec_writer *w, cJSON *obj, const char *name,
                 long long v);
void rec_put_bool(struct rec_writer *w, cJSON *obj, const char *name,
                  bool v);
void rec_put_tree(struct rec_writer *w, cJSON *obj, const char *name,
                  const cJSON *tree);
/* Adds item (taken, also on failure; NULL: an allocation that failed). */
void rec_put_item(struct rec_writer *w, cJSON *obj, const char *name,
                  cJSON *item);
/* A new array member (NULL on failure). */
cJSON *rec_put_array(struct rec_writer *w, cJSON *obj, const char *name);
/* Appends an item to an array: a string, or obj (taken, also on
 * failure). */
void rec_push_str(struct rec_writer *w, cJSON *arr, const char *s);
void rec_push(struct rec_writer *w, cJSON *arr, cJSON *item);
/* Copies the members of extra (may be NULL) into obj. */
void rec_put_extra(struct rec_writer *w, cJSON *obj, const cJSON *extra);
/* An identifier as a new object (NULL on failure), as a member, and a
 * list of them as a new array (NULL on ENOMEM). */
cJSON *rec_ident_object(struct rec_writer *w, const struct rec_ident *id);
void rec_put_ident(struct rec_writer *w, cJSON *obj, const char *name,
                   const struct rec_ident *id);
cJSON *rec_idents_json(const struct rec_ident *ids, size_t n);
/* A problem as a member (p NULL: nothing). */
void rec_put_problem(struct rec_writer *w, cJSON *obj, const char *name,
                     const struct rec_problem *p);

/* ---- the shared parts ---------------------------------------------- */

void rec_ident_fini(struct rec_ident *id);
/* A copy of src into dst. */
AP_MUST_CHECK ap_err rec_ident_copy(struct rec_ident *dst,
                                    const struct rec_ident *src);
/* A new problem (type and detail copied; status 0 leaves it out). */
AP_MUST_CHECK ap_err rec_problem_new(const char *type, const char *detail,
                                     int status, struct rec_problem **out);
AP_MUST_CHECK ap_err rec_problem_copy(const struct rec_problem *src,
                                      struct rec_problem **out);
void rec_problem_free(struct rec_problem *p);
/* The problem document a client sees (type, detail, status and any kept
 * member), as a new object; NULL on ENOMEM. */
cJSON *rec_problem_json(const struct rec_problem *p);
/* Replaces *field with a copy of s (NULL clears it). */
AP_MUST_CHECK ap_err rec_set_str(char **field, const char *s);

/* Logs a record that does not decode and returns AP_ESTORE. */
ap_err rec_bad(const char *table, const char *key, const char *why);

#endif /* AP_PROXY_REC_H */
