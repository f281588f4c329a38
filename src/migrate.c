/* migrate: apply the embedded schema migrations. */
#include "migrate.h"

#include <stdlib.h>
#include <string.h>

#include "citus.h"
#include "pgconn.h"
#include "roles.h"
#include "util.h"

#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(hashtext('pgpulse.migrate'))"

int migrate_latest_version(void)
{
    return migrate_nscripts > 0 ? migrate_scripts[migrate_nscripts - 1].version : 0;
}

int migrate_current_version(PGconn *conn, int *version, char *err, size_t errlen)
{
    *version = 0;
    PGresult *r = PQexec(conn, "SELECT to_regclass('schema_migration') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        return -1;
    }
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists) return 0;
    r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migration");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        return -1;
    }
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int migrate_require_current(PGconn *conn, char *err, size_t errlen)
{
    int v;
    if (migrate_current_version(conn, &v, err, errlen) != 0) return -1;
    int latest = migrate_latest_version();
    if (v == 0)
        return util_err(err, errlen, "the database has no pgpulse schema: run `pgpulse init`");
    if (v < latest)
        return util_err(err, errlen, "the database schema is version %d, this pgpulse needs %d: "
                        "run `pgpulse init`", v, latest);
    if (v > latest)
        return util_err(err, errlen, "the database schema is version %d, newer than this pgpulse "
                        "(which knows up to %d): upgrade pgpulse", v, latest);
    return 0;
}

/* Compares the applied migrations with the embedded ones, inside the locked transaction. */
static int migrate_check_applied(PGconn *conn, int *current, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "SELECT version, name, checksum, applied_at::text "
                               "FROM schema_migration ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        return -1;
    }
    int rc = 0;
    *current = 0;
    int latest = migrate_latest_version();
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        if (v > *current) *current = v;
        if (v > latest) {
            rc = util_err(err, errlen,
                          "the database schema is version %d (migration %s), newer than this "
                          "pgpulse, which knows up to version %d: upgrade pgpulse; nothing was "
                          "changed",
                          v, PQgetvalue(r, i, 1), latest);
            break;
        }
        const migrate_script *s = NULL;
        for (int k = 0; k < migrate_nscripts; k++)
            if (migrate_scripts[k].version == v) s = &migrate_scripts[k];
        if (!s) {
            rc = util_err(err, errlen, "the database has migration %d (%s), which this pgpulse "
                          "does not know", v, PQgetvalue(r, i, 1));
            break;
        }
        PGresult *m = PQexecParams(conn, "SELECT md5($1) = $2", 2, NULL,
                                   (const char *[]){s->sql, PQgetvalue(r, i, 2)}, NULL, NULL, 0);
        if (PQresultStatus(m) != PGRES_TUPLES_OK) {
            pgconn_result_error(m, conn, err, errlen);
            rc = -1;
        } else if (PQgetvalue(m, 0, 0)[0] != 't') {
            rc = util_err(err, errlen,
                          "migration %s applied on %s differs from the one in this pgpulse: the "
                          "database was initialised by another build; nothing was changed",
                          s->name, PQgetvalue(r, i, 3));
        }
        PQclear(m);
    }
    PQclear(r);
    return rc;
}

static int migrate_apply_locked(PGconn *conn, migrate_result *res, char *err, size_t errlen)
{
    if (pgconn_exec(conn, MIGRATE_LOCK, err, errlen) != 0) return -1;
    /* On Citus every view over a coordinator-local table warns that it "will be created only
     * locally": what is meant (sql/citus.sql keeps those tables local). */
    if (res->citus_workers > 0 &&
        pgconn_exec(conn, "SET LOCAL client_min_messages = error", err, errlen) != 0)
        return -1;
    if (pgconn_exec(conn,
                    "CREATE TABLE IF NOT EXISTS schema_migration ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    err, errlen) != 0)
        return -1;
    int current;
    if (migrate_check_applied(conn, &current, err, errlen) != 0) return -1;
    res->from_version = res->to_version = current;
    for (int i = 0; i < migrate_nscripts; i++) {
        const migrate_script *s = &migrate_scripts[i];
        if (s->version <= current) continue;
        char msg[1024];
        if (pgconn_exec(conn, s->sql, msg, sizeof msg) != 0)
            return util_err(err, errlen, "migration %s failed: %s", s->name, msg);
        char ver[16];
        snprintf(ver, sizeof ver, "%d", s->version);
        PGresult *r = PQexecParams(conn,
                                   "INSERT INTO schema_migration (version, name, checksum) "
                                   "VALUES ($1, $2, md5($3))",
                                   3, NULL, (const char *[]){ver, s->name, s->sql}, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        if (!ok) return -1;
        res->applied++;
        res->to_version = s->version;
    }
    /* Every time, not once: a migration's new table gets its grants from the same run. */
    char msg[1024];
    if (pgconn_exec(conn, migrate_grants_sql, msg, sizeof msg) != 0)
        return util_err(err, errlen, "grants.sql failed: %s", msg);
    return 0;
}

/* Whether the database is a Citus coordinator, and its workers: sets *workers (0: plain
 * PostgreSQL or no worker). A Citus worker is refused. */
static int migrate_citus_workers(PGconn *conn, int *workers, char *err, size_t errlen)
{
    *workers = 0;
    PGresult *r = PQexec(conn, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        return -1;
    }
    int citus = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!citus) return 0;
    r = PQexec(conn, "SELECT citus_is_coordinator(), (SELECT count(*) FROM pg_dist_node "
                     "WHERE groupid <> 0 AND noderole = 'primary' AND isactive)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        return -1;
    }
    int coordinator = PQgetvalue(r, 0, 0)[0] == 't';
    int n = atoi(PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!coordinator && n > 0)
        return util_err(err, errlen, "this database is a Citus worker: run `pgpulse init` on the "
                        "coordinator, which places the tables on the workers");
    *workers = n;
    return 0;
}

/* sql/citus.sql in a transaction of its own: Citus creates shards over connections of its own,
 * which must see the migrated tables committed. */
static int migrate_citus_place(PGconn *conn, migrate_result *res, char *err, size_t errlen)
{
    if (res->citus_workers == 0) return 0;
    int placed;
    if (citus_reading_distributed(conn, &placed, err, errlen)) return -1;
    res->distributed = !placed;
    char msg[1024];
    if (pgconn_exec(conn, "BEGIN", err, errlen) != 0) return -1;
    if (pgconn_exec(conn, migrate_citus_sql, msg, sizeof msg) != 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        res->distributed = 0;
        return util_err(err, errlen, "placing the tables on Citus (sql/citus.sql) failed: %s", msg);
    }
    return pgconn_exec(conn, "COMMIT", err, errlen);
}

int migrate_apply(PGconn *conn, migrate_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (migrate_citus_workers(conn, &res->citus_workers, err, errlen) != 0) return -1;
    /* Roles are cluster-wide and CREATE ROLE commits on its own: before the transaction. */
    if (roles_ensure_groups(conn, err, errlen) != 0) return -1;
    if (pgconn_exec(conn, "BEGIN", err, errlen) != 0) return -1;
    if (migrate_apply_locked(conn, res, err, errlen) != 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        res->applied = 0;
        res->to_version = res->from_version;
        return -1;
    }
    if (pgconn_exec(conn, "COMMIT", err, errlen) != 0) return -1;
    if (migrate_citus_place(conn, res, err, errlen) != 0) return -1;
    return pgconn_exec(conn,
                       "SELECT reading_ensure_partitions((now() AT TIME ZONE 'UTC')::date,"
                       " (now() AT TIME ZONE 'UTC')::date + 7)",
                       err, errlen);
}
