/* proxy/cluster.h: what several instances on one shared store must agree
 * on before they serve (docs/ha.md "Running several instances").
 *
 * The embedded CA (the local adapter, and the listener's certificate when
 * no tls_cert is given) must be the same on every instance: one instance's
 * certificates are checked by clients against the root any instance hands
 * out. An instance on a shared store therefore never makes CA keys: the
 * files are made once and copied to every instance's data directory, and
 * the SHA-256 of the root and intermediate certificates is kept in the
 * store (STORE_META "ca_fingerprint"): the first instance writes it, every
 * later one must find its own files' fingerprint there. */
#ifndef AP_PROXY_CLUSTER_H
#define AP_PROXY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct store;
struct ca;

#define CLUSTER_CA_KEY "ca_fingerprint"

/* AP_OK when every CA file (common/ca.h: root and intermediate, keys and
 * certificates) is in data_dir; else AP_ENOTFOUND and errbuf names the
 * first one missing. */
AP_MUST_CHECK ap_err cluster_ca_files(const char *data_dir, char *errbuf,
                                      size_t errlen);

/* Compares ca's fingerprint with the one in st, writing it when there is
 * none (one write transaction). AP_EINVAL with both fingerprints in errbuf
 * when they differ; store errors as they are. */
AP_MUST_CHECK ap_err cluster_ca_check(struct store *st, const struct ca *ca,
                                      char *errbuf, size_t errlen);

#endif /* AP_PROXY_CLUSTER_H */
