/* pgconn: database resolution, connection with backoff, result helpers. */
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcluster.h"
#include "util.h"

static int pgconn_libpq_env_set(void)
{
    static const char *const vars[] = {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE",
                                       "PGUSER", "PGSERVICE",  "PGSSLMODE"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(vars); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

char *pgconn_resolve(const char *db_flag, char *err, size_t errlen)
{
    if (db_flag && *db_flag) return xstrdup(db_flag);
    const char *env = getenv("PGPULSE_DB");
    if (env && *env) return xstrdup(env);
    if (pgconn_libpq_env_set()) return xstrdup("");

    pgcluster *c = pgcluster_open(NULL, err, errlen);
    if (!c) return NULL;
    char *url = NULL;
    switch (pgcluster_get_state(c)) {
    case PGCLUSTER_ABSENT:
        util_err(err, errlen,
                 "no database configured: pass --db URL, set PGPULSE_DB or the PG* variables, "
                 "or create a private one with `pgpulse db start` (none in %s)",
                 c->home);
        break;
    case PGCLUSTER_STOPPED:
        if (pgcluster_start(c, err, errlen) == 0) url = pgcluster_url(c);
        break;
    case PGCLUSTER_RUNNING:
        url = pgcluster_url(c);
        break;
    }
    pgcluster_free(c);
    return url;
}

char *pgconn_describe(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return xstrdup("(unparsable connection string)");
    }
    const char *host = NULL, *port = NULL, *db = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (!strcmp(o->keyword, "host")) host = o->val;
        if (!strcmp(o->keyword, "port")) port = o->val;
        if (!strcmp(o->keyword, "dbname")) db = o->val;
    }
    if (!host) host = getenv("PGHOST");
    if (!port) port = getenv("PGPORT");
    if (!db) db = getenv("PGDATABASE");
    char *s = xasprintf("%s:%s/%s", host ? host : "(default host)", port ? port : "5432",
                        db ? db : "(default database)");
    PQconninfoFree(opts);
    return s;
}

void pgconn_result_error(const PGresult *r, PGconn *conn, char *err, size_t errlen)
{
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !*msg) msg = conn ? PQerrorMessage(conn) : "unknown error";
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    util_err(err, errlen, "%.*s", (int)n, msg);
    /* Multi-line messages (DETAIL, HINT) read better joined. */
    for (char *p = err; err && *p; p++)
        if (*p == '\n') *p = ' ';
}

/* Server notices below WARNING (NOTICE, INFO: "relation already exists, skipping") are
 * expected chatter; warnings and up reach stderr. */
static void pgconn_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (!strcmp(sev, "NOTICE") || !strcmp(sev, "INFO") || !strcmp(sev, "LOG") ||
                !strncmp(sev, "DEBUG", 5)))
        return;
    fprintf(stderr, "pgpulse: server says: %s", PQresultErrorMessage(r));
}

PGconn *pgconn_connect(const char *conninfo, const char *role, char *err, size_t errlen)
{
    char appname[64];
    snprintf(appname, sizeof appname, "pgpulse-%s", role ? role : "cli");
    /* A conninfo that names its own application_name keeps it (expanded later, it wins). */
    const char *kw[] = {"application_name", "dbname", NULL};
    const char *val[] = {appname, conninfo, NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        pgconn_result_error(NULL, conn, err, errlen);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, pgconn_notice, NULL);
    return conn;
}

PGconn *pgconn_connect_retry(const char *conninfo, const char *role, int retry_seconds, char *err,
                             size_t errlen)
{
    int64_t deadline = util_mono_us() + (int64_t)retry_seconds * 1000000;
    int delay_ms = 100;
    for (int attempt = 1;; attempt++) {
        PGconn *conn = pgconn_connect(conninfo, role, err, errlen);
        if (conn) return conn;
        if (util_mono_us() + (int64_t)delay_ms * 1000 > deadline) return NULL;
        if (attempt == 1 || attempt % 10 == 0)
            fprintf(stderr, "pgpulse: cannot connect (%s); retrying\n", err ? err : "");
        util_sleep_ms(delay_ms);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
}

int pgconn_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = pgconn_result_lost(conn, r) ? PGCONN_LOST : -1;
    }
    PQclear(r);
    return rc;
}

int pgconn_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                 ExecStatusType expect, PGresult **out, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != expect) {
        pgconn_result_error(r, conn, err, errlen);
        int lost = pgconn_result_lost(conn, r);
        PQclear(r);
        return lost ? PGCONN_LOST : -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

int pgconn_result_lost(PGconn *conn, const PGresult *r)
{
    if (!conn || PQstatus(conn) == CONNECTION_BAD) return 1;
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!s) return 1;
    return !strncmp(s, "08", 2) || !strcmp(s, "57P01") || !strcmp(s, "57P02") ||
           !strcmp(s, "57P03");
}

int pgconn_is_sqlstate(const PGresult *r, const char *sqlstate)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, sqlstate) == 0;
}

int pgconn_is_lost(PGconn *conn)
{
    return !conn || PQstatus(conn) == CONNECTION_BAD;
}
