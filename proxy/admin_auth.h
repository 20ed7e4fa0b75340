/* proxy/admin_auth.h: the bearer tokens of the admin API ([admin]
 * token_file).
 *
 * The file holds one token per line as "NAME:TOKEN"; blank lines and
 * lines starting with '#' are skipped. NAME (1..ADMIN_TOKEN_NAME_MAX of
 * [A-Za-z0-9._-]) is the caller's identity in the audit trail; TOKEN is
 * ADMIN_TOKEN_MIN..ADMIN_TOKEN_MAX characters of RFC 6750's b64token
 * ([A-Za-z0-9-._~+/] then '='s), e.g. `openssl rand -hex 32`. At most
 * ADMIN_TOKENS_MAX lines, names unique. Only the SHA-256 of each token is
 * kept in memory; the file's bytes are wiped after parsing.
 *
 * A presented token is hashed and compared with every stored hash in
 * constant time (crypto_ct_memcmp, no early exit), so neither the time
 * nor the answer tells which part was wrong. Pure apart from
 * admin_tokens_load (file I/O). Thread-safe: the set is read-only once
 * built. */
#ifndef AP_PROXY_ADMIN_AUTH_H
#define AP_PROXY_ADMIN_AUTH_H

#include <stddef.h>

#include "common/err.h"

#define ADMIN_TOKEN_MIN 32
#define ADMIN_TOKEN_MAX 256
#define ADMIN_TOKENS_MAX 32
#define ADMIN_TOKEN_NAME_MAX 64
#define ADMIN_TOKEN_FILE_MAX 16384

struct admin_tokens;

/* Parses the text of a token file (len bytes, need not end in NUL).
 * AP_ECONFIG with "line N: why" in errbuf (never the token) on a bad
 * line, a duplicate name, too many lines or no token at all; AP_ENOMEM.
 * *out (caller frees with admin_tokens_free) set only on AP_OK. */
AP_MUST_CHECK ap_err admin_tokens_parse(const char *text, size_t len,
                                        struct admin_tokens **out,
                                        char *errbuf, size_t errlen);

/* Reads path (at most ADMIN_TOKEN_FILE_MAX bytes, as a secret:
 * common/fileio.h) and parses it. A file that others may read or write
 * (mode & 007) is refused (AP_ECONFIG); one its group may read is
 * accepted with a warning in the log. errbuf names the path. */
AP_MUST_CHECK ap_err admin_tokens_load(const char *path,
                                       struct admin_tokens **out,
                                       char *errbuf, size_t errlen);

void admin_tokens_free(struct admin_tokens *t); /* accepts NULL */

/* The name of the token an Authorization header value carries, or NULL
 * when t is NULL, the value is NULL, is not "Bearer <b64token>" (scheme
 * case-insensitive, one space), or the token matches none. The name is
 * borrowed from t. */
const char *admin_tokens_check(const struct admin_tokens *t,
                               const char *authorization);

#endif /* AP_PROXY_ADMIN_AUTH_H */
