/* adapters/registry.c: the table of back ends and its start-up checks.
 *
 * Adding a back end is one line here and one file in adapters/. The
 * table is const; nothing registers at run time. */
#include "adapters/adapter.h"

#include <stdio.h>
#include <string.h>

/* Defined at the bottom of each back end's file; only this file needs
 * them, so no header declares them. */
extern const struct adapter_ops adapter_local;
extern const struct adapter_ops adapter_ejbca;
extern const struct adapter_ops adapter_vault;
extern const struct adapter_ops adapter_adcs;
extern const struct adapter_ops adapter_stepca;
extern const struct adapter_ops adapter_rest;
extern const struct adapter_ops adapter_exec;

static const struct adapter_ops *const adapters[] = {
    &adapter_local, &adapter_ejbca, &adapter_vault, &adapter_adcs,
    &adapter_stepca, &adapter_rest, &adapter_exec, NULL,
};

#define ADAPTER_CAPS_KNOWN                                                   \
    (ADAPTER_CAP_POLL | ADAPTER_CAP_REVOKE | ADAPTER_CAP_CONCURRENT |      \
     ADAPTER_CAP_LOOKUP | ADAPTER_CAP_IN_PROCESS)

const struct adapter_ops *
adapter_find(const char *name)
{
    size_t i;

    if (name == NULL) {
        return NULL;
    }
    for (i = 0; adapters[i] != NULL; i++) {
        if (strcmp(adapters[i]->name, name) == 0) {
            return adapters[i];
        }
    }
    return NULL;
}

/* One entry on its own: hooks, capability bits and config keys. */
static ap_err
registry_check_one(const struct adapter_ops *a, size_t idx, char *errbuf,
                   size_t errlen)
{
    const char *name = a->name != NULL ? a->name : "(unnamed)";
    const char *why = NULL;
    size_t k;

    if (a->name == NULL || a->name[0] == '\0') {
        why = "no name";
    } else if (a->abi != ADAPTER_ABI) {
        why = "ABI does not match ADAPTER_ABI";
    } else if ((a->caps & ~(unsigned)ADAPTER_CAPS_KNOWN) != 0) {
        why = "unknown capability bits";
    } else if (a->init == NULL || a->submit == NULL || a->free == NULL) {
        why = "init, submit and free are required";
    } else if ((a->poll != NULL) != ((a->caps & ADAPTER_CAP_POLL) != 0)) {
        why = "poll must exist exactly when ADAPTER_CAP_POLL is set";
    } else if ((a->lookup != NULL) != ((a->caps & ADAPTER_CAP_LOOKUP) != 0)) {
        why = "lookup must exist exactly when ADAPTER_CAP_LOOKUP is set";
    } else if ((a->caps & ADAPTER_CAP_REVOKE) != 0 && a->revoke == NULL) {
        why = "ADAPTER_CAP_REVOKE without revoke";
    } else if (a->config_keys == NULL) {
        why = "config_keys must be a NULL-terminated list";
    }
    for (k = 0; why == NULL && a->config_keys[k] != NULL; k++) {
        /* "type" picks the adapter; it is never one of its keys. */
        if (strcmp(a->config_keys[k], "type") == 0) {
            why = "config key \"type\" is reserved";
        }
    }
    if (why != NULL) {
        (void)snprintf(errbuf, errlen, "adapter registry entry %zu (%s): %s",
                       idx, name, why);
        return AP_EINTERNAL;
    }
    return AP_OK;
}

ap_err
adapter_registry_check(char *errbuf, size_t errlen)
{
    ap_err rc = AP_EINTERNAL;
    size_t i;
    size_t j;

    for (i = 0; adapters[i] != NULL; i++) {
        rc = registry_check_one(adapters[i], i, errbuf, errlen);
        if (rc != AP_OK) {
            goto out;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(adapters[i]->name, adapters[j]->name) == 0) {
                (void)snprintf(errbuf, errlen,
                               "adapter registry: name \"%s\" is used by "
                               "entries %zu and %zu",
                               adapters[i]->name, j, i);
                rc = AP_EINTERNAL;
                goto out;
            }
        }
    }
    rc = AP_OK;
out:
    return rc;
}
