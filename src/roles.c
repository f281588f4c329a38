/* roles: creating pgpulse's group roles (see roles.h). */
#include "roles.h"

#include <string.h>

#include "pgconn.h"
#include "util.h"

const char *const roles_groups[4] = {ROLES_WRITER, ROLES_STAGE, ROLES_READER, ROLES_DASHBOARD};

/* Creates the group `name` unless it exists; a concurrent creation by another session counts
 * as success. */
static int roles_ensure_group(PGconn *conn, const char *name, char *err, size_t errlen)
{
    const char *p[] = {name};
    PGresult *r = NULL;
    if (pgconn_query(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, p, PGRES_TUPLES_OK,
                     &r, err, errlen) != 0)
        return -1;
    int exists = PQntuples(r) == 1;
    PQclear(r);
    if (exists) return 0;
    if (pgconn_query(conn, "SELECT format('CREATE ROLE %I NOLOGIN', $1::text)", 1, p,
                     PGRES_TUPLES_OK, &r, err, errlen) != 0)
        return -1;
    PGresult *c = PQexec(conn, PQgetvalue(r, 0, 0));
    PQclear(r);
    int rc = 0;
    /* 42710 duplicate_object: created a moment ago; 23505: both inserted into pg_authid at
     * once and the other committed first. */
    if (PQresultStatus(c) != PGRES_COMMAND_OK && !pgconn_is_sqlstate(c, "42710") &&
        !pgconn_is_sqlstate(c, PGCONN_UNIQUE_VIOLATION)) {
        char msg[512];
        pgconn_result_error(c, conn, msg, sizeof msg);
        if (pgconn_is_sqlstate(c, "42501"))
            rc = util_err(err, errlen,
                          "cannot create the role %s (%s): this login may not create roles; an "
                          "administrator must create %s, %s, %s and %s (NOLOGIN; GRANT %s TO %s), "
                          "or give this login CREATEROLE (docs/security.md)",
                          name, msg, ROLES_WRITER, ROLES_STAGE, ROLES_READER, ROLES_DASHBOARD,
                          ROLES_READER, ROLES_DASHBOARD);
        else
            rc = util_err(err, errlen, "cannot create the role %s: %s", name, msg);
    }
    PQclear(c);
    return rc;
}

int roles_ensure_groups(PGconn *conn, char *err, size_t errlen)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(roles_groups); i++)
        if (roles_ensure_group(conn, roles_groups[i], err, errlen) != 0) return -1;
    /* The dashboard reads what the reader reads. */
    PGresult *r = NULL;
    const char *p[] = {ROLES_DASHBOARD, ROLES_READER};
    if (pgconn_query(conn, "SELECT pg_has_role($1, $2, 'MEMBER')", 2, p, PGRES_TUPLES_OK, &r,
                     err, errlen) != 0)
        return -1;
    int member = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (member) return 0;
    PGresult *g = PQexec(conn, "GRANT " ROLES_READER " TO " ROLES_DASHBOARD);
    int rc = 0;
    /* 23505: another session granted it at the same time and committed first. */
    if (PQresultStatus(g) != PGRES_COMMAND_OK && !pgconn_is_sqlstate(g, PGCONN_UNIQUE_VIOLATION)) {
        char msg[512];
        pgconn_result_error(g, conn, msg, sizeof msg);
        rc = util_err(err, errlen, "cannot make %s a member of %s: %s (an administrator must "
                      "GRANT %s TO %s)", ROLES_DASHBOARD, ROLES_READER, msg, ROLES_READER,
                      ROLES_DASHBOARD);
    }
    PQclear(g);
    return rc;
}
