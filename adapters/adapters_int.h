/* adapters/adapters_int.h: the pure parts of the back ends, exposed for
 * the unit tests (test/unit/test_adapters.c, test_rest.c). Not for the
 * core: it talks to adapters through adapter.h only.
 *
 * Each classify function turns what a PKI answered (status, a
 * NUL-terminated body) into an outcome and fills res the way submit/poll
 * would; none does I/O. They are shorthands for the parse functions of
 * adapters/parse.h, which take the body as bytes with its length. */
#ifndef AP_ADAPTERS_ADAPTERS_INT_H
#define AP_ADAPTERS_ADAPTERS_INT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "adapters/adapter.h"
#include "adapters/parse.h"

/* Vault / OpenBao: POST <mount>/sign/<role>. */
enum adapter_outcome vault_classify(long status, const char *body,
                                    struct adapter_result *res);
/* EJBCA: pkcs10enroll (201, 202 info, errors) and finalize. */
enum adapter_outcome ejbca_classify(long status, const char *body,
                                    struct adapter_result *res);
/* EJBCA lookup: a POST /v1/certificate/search answer. ISSUED with the
 * certificate whose key is csr's (its DER base64-encoded once or twice),
 * NOT_FOUND when none is, RETRY when the answer cannot tell (other
 * status, more_results), UNKNOWN when the search resource is missing. */
struct crypto_csr;
enum adapter_outcome ejbca_search_classify(long status, const char *body,
                                           const struct crypto_csr *csr,
                                           struct adapter_result *res);
/* step-ca: POST /1.0/sign. */
enum adapter_outcome stepca_classify(long status, const char *body,
                                     struct adapter_result *res);
/* AD CS certfnsh.asp page: ISSUED means "fetch certnew.cer with the
 * request id now in reqid" (res untouched); PENDING sets res->ref;
 * REJECTED the disposition message. */
enum adapter_outcome adcs_classify_submit(const char *html,
                                          struct adapter_result *res,
                                          char *reqid, size_t reqid_len);
/* AD CS certnew.cer answer: the certificate (content type
 * application/pkix-cert), or the pending / denied page. */
enum adapter_outcome adcs_classify_fetch(long status, const char *ctype,
                                         const char *body,
                                         struct adapter_result *res);
/* exec: the program's exit status (or -1 when it was killed / timed out)
 * and its stdout. */
enum adapter_outcome exec_classify(int exit_status, const char *out,
                                   size_t len, struct adapter_result *res);

/* Generic REST engine: adapters/rest_engine.h. */
#include "adapters/rest_engine.h"

#endif /* AP_ADAPTERS_ADAPTERS_INT_H */
