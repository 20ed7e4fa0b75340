/* common/store_pg_lib.h: libpq for the PostgreSQL engine (store_pg.c),
 * loaded with dlopen the first time the engine is opened rather than
 * linked, so a proxy on LMDB never maps libpq nor what it pulls in
 * (Kerberos, LDAP, GnuTLS ...). Only store_pg.c and store_pg_lib.c
 * include this header, and with it libpq-fe.h.
 *
 * Call pq_bind first; after it returned AP_OK, pq.<name> is libpq's
 * <name> for every function of PQ_FUNCS, for the life of the process. */
#ifndef AP_COMMON_STORE_PG_LIB_H
#define AP_COMMON_STORE_PG_LIB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/err.h"

/* The soname of Debian's libpq5 (the ABI of the header built against). */
#define STORE_PG_LIBPQ "libpq.so.5"

/* Every libpq function store_pg.c calls. */
#define PQ_FUNCS(X)                                                        \
    X(PQclear) X(PQcmdStatus) X(PQcmdTuples) X(PQconnectdbParams)          \
    X(PQconsumeInput) X(PQerrorMessage) X(PQexec) X(PQexecParams)          \
    X(PQfinish) X(PQfreemem) X(PQgetlength) X(PQgetvalue) X(PQnotifies)    \
    X(PQntuples) X(PQresultErrorMessage) X(PQresultStatus)                 \
    X(PQsetNoticeProcessor) X(PQsocket) X(PQstatus) X(PQtransactionStatus)

struct pq_api {
#define PQ_FIELD(name) __typeof__(name) *name;
    PQ_FUNCS(PQ_FIELD)
#undef PQ_FIELD
};

/* Written once by pq_bind, read-only after; all NULL before it or when it
 * failed. */
extern struct pq_api pq;

/* Loads libpq and binds pq, once per process (thread-safe; later calls
 * return the first outcome). AP_OK, or AP_ECONFIG with why in errbuf
 * (the library, naming its Debian package, or one of its functions is
 * missing). */
AP_MUST_CHECK ap_err pq_bind(char *errbuf, size_t errlen);

#endif
