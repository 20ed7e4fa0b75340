/* common/store_pg_lib.c: libpq loaded with dlopen and bound once
 * (store_pg_lib.h). */
#include "common/store_pg_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct pq_api pq;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static bool pq_bound;
static char pq_why[256];   /* why not bound (set once, under pq_once) */

static void
pq_load(void)
{
    void *h = dlopen(STORE_PG_LIBPQ, RTLD_NOW | RTLD_LOCAL);
    const char *e;

    if (h == NULL) {
        e = dlerror();
        snprintf(pq_why, sizeof(pq_why), "[store] engine = postgresql "
                 "needs libpq (%s, Debian package libpq5): %s",
                 STORE_PG_LIBPQ, e != NULL ? e : "not found");
        return;
    }
#define PQ_SYM(name)                                                       \
    if (pq_why[0] == '\0') {                                               \
        *(void **)&pq.name = dlsym(h, #name);                              \
        if (pq.name == NULL) {                                             \
            snprintf(pq_why, sizeof(pq_why), "%s has no %s: not the "     \
                     "libpq this build is for", STORE_PG_LIBPQ, #name);    \
        }                                                                  \
    }
    PQ_FUNCS(PQ_SYM)
#undef PQ_SYM
    if (pq_why[0] != '\0') {
        memset(&pq, 0, sizeof(pq));
        (void)dlclose(h);
        return;
    }
    /* Never closed: the pointers stay valid for the process. */
    pq_bound = true;
}

ap_err
pq_bind(char *errbuf, size_t errlen)
{
    if (pthread_once(&pq_once, pq_load) != 0) {
        snprintf(errbuf, errlen, "cannot load %s", STORE_PG_LIBPQ);
        return AP_EINTERNAL;
    }
    if (!pq_bound) {
        snprintf(errbuf, errlen, "%s", pq_why);
        return AP_ECONFIG;
    }
    return AP_OK;
}
