/* proxy/cluster.c: the checks of an instance on a shared store. */
#include "proxy/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/ca.h"
#include "common/crypto.h"
#include "common/store.h"

ap_err
cluster_ca_files(const char *data_dir, char *errbuf, size_t errlen)
{
    static const char *const files[] = { CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                         CA_INT_FILE, CA_INT_KEY_FILE };
    char path[4096];
    struct stat sb;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", data_dir, files[i]) >=
                (int)sizeof(path) ||
            stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            snprintf(errbuf, errlen, "%s/%s is missing: on a shared store "
                     "the embedded CA's files are made once and copied to "
                     "every instance (docs/ha.md \"The embedded CA\")",
                     data_dir, files[i]);
            return AP_ENOTFOUND;
        }
    }
    return AP_OK;
}

/* Hex SHA-256 of the root PEM followed by the intermediate PEM. */
static void
fingerprint(const struct ca *ca, char out[2 * CRYPTO_SHA256_LEN + 1])
{
    const char *root = ca_root_pem(ca);
    const char *inter = ca_intermediate_pem(ca);
    size_t lr = strlen(root);
    size_t li = strlen(inter);
    unsigned char h[CRYPTO_SHA256_LEN];
    char *both = malloc(lr + li + 1);

    if (both == NULL) {
        out[0] = '\0';
        return;
    }
    memcpy(both, root, lr);
    memcpy(both + lr, inter, li);
    crypto_sha256(both, lr + li, h);
    free(both);
    for (size_t i = 0; i < sizeof(h); i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

ap_err
cluster_ca_check(struct store *st, const struct ca *ca, char *errbuf,
                 size_t errlen)
{
    char mine[2 * CRYPTO_SHA256_LEN + 1];
    struct store_txn *txn = NULL;
    char *theirs = NULL;
    size_t len = 0;
    ap_err rc;

    fingerprint(ca, mine);
    if (mine[0] == '\0') {
        return AP_ENOMEM;
    }
    rc = store_begin(st, true, &txn);
    if (rc != AP_OK) {
        snprintf(errbuf, errlen, "reading the CA fingerprint: %s",
                 ap_strerror(rc));
        return rc;
    }
    rc = store_get(txn, STORE_META, CLUSTER_CA_KEY, &theirs, &len);
    if (rc == AP_ENOTFOUND) {
        rc = store_put(txn, STORE_META, CLUSTER_CA_KEY, mine, strlen(mine),
                       true);
        if (rc == AP_OK) {
            rc = store_commit(txn);
            txn = NULL;
        }
        if (rc != AP_OK) {
            snprintf(errbuf, errlen, "writing the CA fingerprint: %s",
                     ap_strerror(rc));
        }
        goto out;
    }
    if (rc != AP_OK) {
        snprintf(errbuf, errlen, "reading the CA fingerprint: %s",
                 ap_strerror(rc));
        goto out;
    }
    if (len != strlen(mine) || strcmp(theirs, mine) != 0) {
        snprintf(errbuf, errlen, "the embedded CA in this data directory "
                 "(SHA-256 %s) is not the one the other instances use "
                 "(%.64s): copy their ca*.pem and ca*.key here",
                 mine, theirs);
        rc = AP_EINVAL;
    }
out:
    store_abort(txn);
    free(theirs);
    return rc;
}
