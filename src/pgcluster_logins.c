/* pgcluster_logins: a login per pgpulse group role in the private cluster, and their
 * passwords in HOME/pgpass.
 *
 * A login's password is made once (16 random bytes, hex), recorded in HOME/pgpass (mode 0600,
 * the caller's) and set at every start, so the file is what counts. The server is given a
 * SCRAM verifier computed here (PQencryptPasswordConn), never the password itself, so not even
 * the server's log could show it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgcluster_private.h"
#include "pgconn.h"
#include "roles.h"
#include "util.h"

typedef struct pgcluster_login_spec {
    pgcluster_role role;
    const char *group;   /* the group role it is a member of */
    int replication;     /* the REPLICATION attribute (not inherited from a group) */
} pgcluster_login_spec;

static const pgcluster_login_spec pgcluster_logins[] = {
    {PGCLUSTER_WRITER, ROLES_WRITER, 0},
    {PGCLUSTER_STAGE, ROLES_STAGE, 1},
    {PGCLUSTER_READER, ROLES_DASHBOARD, 0}, /* pgpulse serve: reads, and acknowledges */
};

/* The password of user in the pgpass text (its 127.0.0.1 line), newly allocated, or NULL. */
static char *pgcluster_pgpass_find(const char *text, const char *user)
{
    char *want = xasprintf("127.0.0.1:*:*:%s:", user);
    size_t n = strlen(want);
    char *pw = NULL;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > n && !strncmp(line, want, n)) {
            pw = xstrndup(line + n, len - n);
            break;
        }
        line = end ? end + 1 : NULL;
    }
    free(want);
    return pw;
}

/* Reads HOME/pgpass (an empty text if absent). */
static char *pgcluster_pgpass_read(const pgcluster *c)
{
    FILE *f = fopen(c->passfile, "r");
    if (!f) return xstrdup("");
    size_t cap = 4096, len = 0;
    char *text = xmalloc(cap);
    size_t got;
    while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) text = xrealloc(text, cap *= 2);
    }
    text[len] = '\0';
    fclose(f);
    return text;
}

char *pgcluster_pgpass_password(const pgcluster *c, const char *user)
{
    char *text = pgcluster_pgpass_read(c);
    char *pw = pgcluster_pgpass_find(text, user);
    free(text);
    return pw;
}

/* Fills pw[i] with each login's password, making and recording the missing ones. */
static int pgcluster_passwords(const pgcluster *c, char *pw[], char *err, size_t errlen)
{
    char *text = pgcluster_pgpass_read(c);
    int changed = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(pgcluster_logins); i++) {
        const char *user = pgcluster_login(pgcluster_logins[i].role);
        pw[i] = pgcluster_pgpass_find(text, user);
        if (pw[i]) continue;
        uint8_t rnd[16];
        util_random_bytes(rnd, sizeof rnd);
        pw[i] = xmalloc(2 * sizeof rnd + 1);
        for (size_t k = 0; k < sizeof rnd; k++) snprintf(pw[i] + 2 * k, 3, "%02x", rnd[k]);
        size_t n = strlen(text);
        char *next = xasprintf("%s%s127.0.0.1:*:*:%s:%s\nlocalhost:*:*:%s:%s\n", text,
                               n && text[n - 1] != '\n' ? "\n" : "", user, pw[i], user, pw[i]);
        free(text);
        text = next;
        changed = 1;
    }
    int rc = 0;
    if (changed)
        rc = pgcluster_write_file(c->passfile, text, 0600, geteuid(), getegid(), err, errlen);
    free(text);
    return rc;
}

/* Runs the statement that format(fmt, params...) builds on the server (DDL takes no
 * parameters; format's %I and %L quote). */
static int pgcluster_ddl(PGconn *conn, const char *fmt_sql, int n, const char *const *params,
                         char *err, size_t errlen)
{
    PGresult *r = NULL;
    if (pgconn_query(conn, fmt_sql, n, params, PGRES_TUPLES_OK, &r, err, errlen) != 0) return -1;
    int rc = pgconn_exec(conn, PQgetvalue(r, 0, 0), err, errlen);
    PQclear(r);
    return rc ? -1 : 0;
}

/* Takes user out of every pgpulse group it was made a direct member of, other than its own: a
 * cluster made by an earlier pgpulse had pgpulse_web in pgpulse_reader, which now reaches it
 * through pgpulse_dashboard. Runs after the login joined its group, so it never goes without
 * the rights it keeps. */
static int pgcluster_login_leave_others(PGconn *conn, const pgcluster_login_spec *l, char *err,
                                        size_t errlen)
{
    const char *user = pgcluster_login(l->role);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(roles_groups); i++) {
        if (!strcmp(roles_groups[i], l->group)) continue;
        const char *p[] = {user, roles_groups[i]};
        PGresult *r = NULL;
        if (pgconn_query(conn, "SELECT 1 FROM pg_auth_members WHERE member = to_regrole($1) "
                               "AND roleid = to_regrole($2)",
                         2, p, PGRES_TUPLES_OK, &r, err, errlen) != 0)
            return -1;
        int direct = PQntuples(r) > 0;
        PQclear(r);
        if (direct && pgcluster_ddl(conn, "SELECT format('REVOKE %I FROM %I', $2::text, "
                                          "$1::text)",
                                    2, p, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Creates or updates one login: LOGIN, its REPLICATION attribute, its password, its group (and
 * no other pgpulse group). */
static int pgcluster_login_ensure(PGconn *conn, const pgcluster_login_spec *l, const char *pw,
                                  char *err, size_t errlen)
{
    const char *user = pgcluster_login(l->role);
    char *verifier = PQencryptPasswordConn(conn, pw, user, "scram-sha-256");
    if (!verifier)
        return util_err(err, errlen, "cannot encrypt the password of %s: %s", user,
                        PQerrorMessage(conn));
    const char *p[] = {user, l->replication ? "REPLICATION" : "NOREPLICATION", verifier, l->group};
    PGresult *r = NULL;
    int rc = pgconn_query(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, p,
                          PGRES_TUPLES_OK, &r, err, errlen);
    int exists = rc == 0 && PQntuples(r) == 1;
    PQclear(r);
    if (rc == 0 && !exists)
        rc = pgcluster_ddl(conn, "SELECT format('CREATE ROLE %I LOGIN', $1::text)", 1, p, err,
                           errlen);
    if (rc == 0)
        rc = pgcluster_ddl(conn, "SELECT format('ALTER ROLE %I WITH LOGIN %s PASSWORD %L', "
                                 "$1::text, $2::text, $3::text)",
                           3, p, err, errlen);
    PQfreemem(verifier);
    if (rc != 0) return -1;
    const char *pm[] = {user, l->group};
    rc = pgconn_query(conn, "SELECT pg_has_role($1, $2, 'MEMBER')", 2, pm, PGRES_TUPLES_OK, &r,
                      err, errlen);
    int member = rc == 0 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (rc == 0 && !member)
        rc = pgcluster_ddl(conn, "SELECT format('GRANT %I TO %I', $2::text, $1::text)", 2, pm,
                           err, errlen);
    if (rc == 0) rc = pgcluster_login_leave_others(conn, l, err, errlen);
    return rc;
}

int pgcluster_logins_ensure(const pgcluster *c, char *err, size_t errlen)
{
    char *pw[UTIL_ARRAY_LEN(pgcluster_logins)] = {0};
    int rc = pgcluster_passwords(c, pw, err, errlen);
    PGconn *conn = NULL;
    if (rc == 0) {
        conn = pgcluster_connect_admin(c, "postgres", err, errlen);
        if (!conn) rc = -1;
    }
    if (rc == 0) rc = roles_ensure_groups(conn, err, errlen);
    for (size_t i = 0; rc == 0 && i < UTIL_ARRAY_LEN(pgcluster_logins); i++)
        rc = pgcluster_login_ensure(conn, &pgcluster_logins[i], pw[i], err, errlen);
    if (conn) PQfinish(conn);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(pgcluster_logins); i++) free(pw[i]);
    return rc;
}
