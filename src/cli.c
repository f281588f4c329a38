/* cli: helpers shared by the cmd_*.c files: messages, flag values, and connecting to the
 * database so that a server going away for a moment does not end a command. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "pgconn.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pgpulse %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_long(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || *end || end == val || v < lo || v > hi) {
        cli_error(cmd, "%s: expected an integer in %ld..%ld, got '%s'", flag, lo, hi, val);
        return -1;
    }
    *out = v;
    return 0;
}

/* Is a failed first connection worth waiting for? The server dropped it during the
 * handshake, is starting or stopping, or is full. libpq's and the server's messages are the
 * only sign (libpq gives no SQLSTATE for a failed connection); pgpulse never sets a locale, so
 * libpq speaks English, and a server in another language only loses the retry. */
static int cli_transient(const char *err)
{
    static const char *const signs[] = {
        "server closed the connection unexpectedly", /* dropped during the handshake */
        "could not receive data from server",        /* reset */
        "could not send data to server",
        "SSL SYSCALL error",
        "SSL connection has been closed unexpectedly",
        "terminating connection",                  /* 57P01: terminated by an administrator */
        "the database system is starting up",      /* 57P03 */
        "the database system is shutting down",    /* 57P03 */
        "the database system is in recovery mode", /* 57P03 */
        "the database system is not yet accepting connections",
        "the database system is not accepting connections",
        "too many clients",                        /* 53300 */
        "remaining connection slots are reserved", /* 53300 */
    };
    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (strstr(err, signs[i])) return 1;
    return 0;
}

int cli_retry(const char *cmd, const char *conninfo, int retry_seconds, PGconn **conn,
              cli_step *step, void *arg, char *err, size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        int rc = step(*conn, arg, err, errlen);
        if (rc == 0) return 0;
        if ((rc != PGCONN_LOST && !pgconn_is_lost(*conn)) || attempt == CLI_RECONNECTS) return -1;
        fprintf(stderr, "pgpulse %s: lost the database connection (%s); reconnecting\n", cmd,
                err);
        PQfinish(*conn);
        *conn = pgconn_connect_retry(conninfo, cmd, retry_seconds, err, errlen);
        if (!*conn) return -1;
    }
}

/* The schema check as a step: a lost connection is told apart from a wrong schema. */
static int cli_check_schema(PGconn *conn, void *arg, char *err, size_t errlen)
{
    (void)arg;
    if (migrate_require_current(conn, err, errlen) == 0) return 0;
    return pgconn_is_lost(conn) ? PGCONN_LOST : -1;
}

PGconn *cli_connect(const char *cmd, const char *db_flag, int require_schema, char **conninfo_out)
{
    return cli_connect_retry(cmd, db_flag, require_schema, CLI_RETRY_SECONDS, conninfo_out);
}

PGconn *cli_connect_retry(const char *cmd, const char *db_flag, int require_schema,
                          int retry_seconds, char **conninfo_out)
{
    char err[1024];
    char *conninfo = pgconn_resolve(db_flag, err, sizeof err);
    if (!conninfo) {
        cli_error(cmd, "%s", err);
        return NULL;
    }
    PGconn *conn = pgconn_connect(conninfo, cmd, err, sizeof err);
    if (!conn && cli_transient(err)) {
        fprintf(stderr, "pgpulse %s: cannot connect yet (%s); retrying\n", cmd, err);
        conn = pgconn_connect_retry(conninfo, cmd, retry_seconds, err, sizeof err);
    }
    if (!conn) {
        char *where = pgconn_describe(conninfo);
        cli_error(cmd, "cannot connect to %s: %s", where, err);
        free(where);
        free(conninfo);
        return NULL;
    }
    if (require_schema &&
        cli_retry(cmd, conninfo, retry_seconds, &conn, cli_check_schema, NULL, err, sizeof err)) {
        cli_error(cmd, "%s", err);
        if (conn) PQfinish(conn);
        free(conninfo);
        return NULL;
    }
    if (conninfo_out)
        *conninfo_out = conninfo;
    else
        free(conninfo);
    return conn;
}
