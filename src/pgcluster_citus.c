/* pgcluster_citus: the private cluster's Citus nodes — their settings, their shared password
 * file, starting the workers and setting Citus up in a database (see pgcluster_citus.h). */
#include "pgcluster_citus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgcluster_private.h"
#include "pgconn.h"
#include "util.h"

/* The package library directory of the server of c, newly allocated: BINDIR/../lib (Debian's
 * /usr/lib/postgresql/N/lib) when it holds plpgsql.so, else what BINDIR/pg_config says. */
static char *pgcluster_citus_libdir(const pgcluster *c)
{
    char *dir = xasprintf("%s/../lib", c->bindir);
    char *probe = xasprintf("%s/plpgsql.so", dir);
    int ok = access(probe, R_OK) == 0;
    free(probe);
    if (ok) return dir;
    free(dir);
    char *cmd = xasprintf("'%s/pg_config' --pkglibdir 2>/dev/null", c->bindir);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return NULL;
    char line[4096];
    char *got = fgets(line, sizeof line, p);
    pclose(p);
    if (!got) return NULL;
    line[strcspn(line, "\n")] = '\0';
    return line[0] ? xstrdup(line) : NULL;
}

int pgcluster_citus_installed(const pgcluster *c)
{
    char *dir = pgcluster_citus_libdir(c);
    if (!dir) return 0;
    char *so = xasprintf("%s/citus.so", dir);
    int ok = access(so, R_OK) == 0;
    free(so);
    free(dir);
    return ok;
}

int pgcluster_want_citus(pgcluster *c, int workers, char *err, size_t errlen)
{
    if (workers < 1)
        return util_err(err, errlen, "--citus: expected a number of workers of at least 1, got %d",
                        workers);
    if (!pgcluster_citus_installed(c))
        return util_err(err, errlen,
                        "--citus: Citus is not installed in this PostgreSQL (%s): run `make "
                        "deps-citus` as root, or install Citus's packages",
                        c->bindir);
    if (c->citus_workers > workers)
        return util_err(err, errlen,
                        "--citus %d: the cluster in %s has %d workers, and pgpulse does not remove "
                        "workers; ask for %d or more (or start with no --citus)",
                        workers, c->home, c->citus_workers, c->citus_workers);
    c->citus = 1;
    c->citus_workers = workers;
    return 0;
}

pgcluster *pgcluster_node(const pgcluster *c, int k, char *err, size_t errlen)
{
    if (k < 0 || k > c->citus_workers) {
        util_err(err, errlen, "no node %d: the cluster in %s has %s%d worker%s (nodes 0..%d)", k,
                 c->home, c->citus ? "" : "no Citus, ", c->citus_workers,
                 c->citus_workers == 1 ? "" : "s", c->citus_workers);
        return NULL;
    }
    if (k == 0) return pgcluster_open(c->home, err, errlen);
    char *home = xasprintf("%s/worker%d", c->home, k);
    pgcluster *w = pgcluster_open(home, err, errlen);
    free(home);
    if (!w) return NULL;
    /* One password file and one CA for every node; the coordinator's WAL bound. */
    free(w->passfile);
    w->passfile = xstrdup(c->passfile);
    free(w->tlsdir);
    w->tlsdir = xstrdup(c->tlsdir);
    w->tls = c->tls;
    free(w->slot_wal_limit);
    w->slot_wal_limit = xstrdup(c->slot_wal_limit);
    w->citus = 1;
    w->citus_workers = 0;
    w->node = k;
    return w;
}

char *pgcluster_citus_conf(const pgcluster *c)
{
    char *conninfo = c->tls ? xasprintf("sslmode=verify-full sslrootcert=%s/ca.crt",
                                        c->server_tlsdir)
                            : xstrdup("sslmode=prefer");
    char *text = xasprintf("shared_preload_libraries = 'citus'\n"
                           "citus.enable_change_data_capture = on\n"
                           "citus.node_conninfo = '%s'\n"
                           "max_worker_processes = 64\n",
                           conninfo);
    free(conninfo);
    return text;
}

int pgcluster_citus_write_passfile(const pgcluster *c, uid_t uid, gid_t gid, char *err,
                                   size_t errlen)
{
    FILE *f = fopen(c->passfile, "r");
    if (!f) return util_err(err, errlen, "cannot read %s", c->passfile);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int bad = ferror(f) || n == sizeof text - 1;
    fclose(f);
    if (bad) return util_err(err, errlen, "cannot read %s (or it is over 16 kB)", c->passfile);
    text[n] = '\0';
    FILE *old = fopen(c->server_passfile, "r");
    if (old) {
        char was[sizeof text];
        size_t m = fread(was, 1, sizeof was, old);
        fclose(old);
        if (m == n && memcmp(was, text, n) == 0) return 0;
    }
    return pgcluster_write_file(c->server_passfile, text, 0600, uid, gid, err, errlen);
}

int pgcluster_citus_loaded(const pgcluster *c, char *err, size_t errlen)
{
    PGconn *conn = pgcluster_connect_admin(c, "postgres", err, errlen);
    if (!conn) return -1;
    PGresult *r = NULL;
    int rc = pgconn_query(conn,
                          "SELECT current_setting('shared_preload_libraries') ~ '(^|[ ,])citus($|[ ,])'",
                          0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    int loaded = rc == 0 ? PQgetvalue(r, 0, 0)[0] == 't' : -1;
    PQclear(r);
    PQfinish(conn);
    return loaded;
}

int pgcluster_citus_record(const pgcluster *c, char *err, size_t errlen)
{
    char *path = xasprintf("%s/citus", c->home);
    char *text = xasprintf("%d\n", c->citus_workers);
    int rc = pgcluster_write_file(path, text, 0644, geteuid(), getegid(), err, errlen);
    free(text);
    free(path);
    return rc;
}

int pgcluster_citus_start_workers(pgcluster *c, char *err, size_t errlen)
{
    for (int k = 1; k <= c->citus_workers; k++) {
        pgcluster *w = pgcluster_node(c, k, err, errlen);
        if (!w) return -1;
        char werr[1024];
        int rc = pgcluster_start(w, werr, sizeof werr);
        pgcluster_free(w);
        if (rc != 0) return util_err(err, errlen, "Citus worker %d: %s", k, werr);
    }
    return pgcluster_citus_setup_db(c, PGCLUSTER_DBNAME, err, errlen);
}

/* Runs sql with params on conn, expecting rows; the first value of the first row goes to
 * out (newly allocated; NULL when there is no row or it is NULL) if out is not NULL. */
static int pgcluster_citus_value(PGconn *conn, const char *sql, int n, const char *const *params,
                                 char **out, char *err, size_t errlen)
{
    PGresult *r = NULL;
    if (pgconn_query(conn, sql, n, params, PGRES_TUPLES_OK, &r, err, errlen) != 0) return -1;
    if (out)
        *out = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? xstrdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return 0;
}

/* Registers worker w (connected as wconn) in the coordinator's metadata (coord): added when
 * new, its port updated when it moved since (a worker knows its group from the metadata the
 * coordinator synced to it). */
static int pgcluster_citus_add_worker(PGconn *coord, PGconn *wconn, const pgcluster *w,
                                      char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof port, "%d", w->port);
    char *group = NULL, *nodeid = NULL, *oldport = NULL;
    int rc = pgcluster_citus_value(wconn, "SELECT groupid FROM pg_dist_local_group", 0, NULL,
                                   &group, err, errlen);
    if (rc == 0 && group && strcmp(group, "0") != 0) {
        const char *p[] = {group};
        rc = pgcluster_citus_value(coord,
                                   "SELECT nodeid || ' ' || nodeport FROM pg_dist_node WHERE "
                                   "groupid = $1::int AND noderole = 'primary'",
                                   1, p, &nodeid, err, errlen);
        if (rc == 0 && nodeid) {
            char *sp = strchr(nodeid, ' ');
            *sp = '\0';
            oldport = sp + 1;
        }
    }
    if (rc == 0 && nodeid && strcmp(oldport, port) != 0) {
        const char *p[] = {nodeid, port};
        rc = pgcluster_citus_value(coord, "SELECT citus_update_node($1::int, '127.0.0.1', $2::int)",
                                   2, p, NULL, err, errlen);
    } else if (rc == 0 && !nodeid) {
        const char *p[] = {port};
        rc = pgcluster_citus_value(coord, "SELECT citus_add_node('127.0.0.1', $1::int)", 1, p,
                                   NULL, err, errlen);
    }
    free(group);
    free(nodeid);
    return rc;
}

int pgcluster_citus_setup_db(const pgcluster *c, const char *dbname, char *err, size_t errlen)
{
    int n = c->citus_workers + 1;
    pgcluster **node = xcalloc((size_t)n, sizeof *node);
    PGconn **conn = xcalloc((size_t)n, sizeof *conn);
    char nerr[1024];
    int rc = 0, at = 0; /* the node a failure is on */
    for (int k = 0; rc == 0 && k < n; k++) {
        at = k;
        node[k] = pgcluster_node(c, k, nerr, sizeof nerr);
        if (node[k]) conn[k] = pgcluster_connect_admin(node[k], dbname, nerr, sizeof nerr);
        if (!conn[k] ||
            pgconn_exec(conn[k], "SET client_min_messages = warning", nerr, sizeof nerr) != 0 ||
            pgconn_exec(conn[k], "CREATE EXTENSION IF NOT EXISTS citus", nerr, sizeof nerr) != 0)
            rc = -1;
    }
    if (rc == 0) {
        at = 0;
        char port[16], *was = NULL;
        snprintf(port, sizeof port, "%d", node[0]->port);
        rc = pgcluster_citus_value(conn[0], "SELECT nodeport FROM pg_dist_node WHERE groupid = 0",
                                   0, NULL, &was, nerr, sizeof nerr);
        if (rc == 0 && (!was || strcmp(was, port) != 0))
            rc = pgcluster_citus_value(conn[0],
                                       "SELECT citus_set_coordinator_host('127.0.0.1', $1::int)",
                                       1, (const char *[]){port}, NULL, nerr, sizeof nerr);
        free(was);
    }
    for (int w = 1; rc == 0 && w < n; w++) {
        at = w;
        rc = pgcluster_citus_add_worker(conn[0], conn[w], node[w], nerr, sizeof nerr);
    }
    if (rc != 0) {
        char where[32];
        snprintf(where, sizeof where, at ? "worker %d" : "the coordinator", at);
        util_err(err, errlen, "Citus setup of database %s on %s: %s", dbname, where, nerr);
    }
    for (int i = 0; i < n; i++) {
        if (conn[i]) PQfinish(conn[i]);
        pgcluster_free(node[i]);
    }
    free(conn);
    free(node);
    return rc;
}
