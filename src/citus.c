/* citus: what pgpulse asks of a database about Citus (see citus.h). */
#include "citus.h"

#include "pgconn.h"

int citus_reading_distributed(PGconn *conn, int *distributed, char *err, size_t errlen)
{
    *distributed = 0;
    /* pg_dist_partition exists only with the extension: asked in a statement of its own. */
    PGresult *r = NULL;
    int rc = pgconn_query(conn, "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL",
                          0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    int citus = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!citus) return 0;
    rc = pgconn_query(conn,
                      "SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = "
                      "'reading'::regclass AND partmethod = 'h')",
                      0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    *distributed = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}
