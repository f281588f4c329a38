/* cli: helpers shared by the cmd_*.c files. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

PGconn *cli_connect(const char *cmd, const char *db_flag, int require_schema, char **conninfo_out)
{
    char err[1024];
    char *conninfo = pgconn_resolve(db_flag, err, sizeof err);
    if (!conninfo) {
        cli_error(cmd, "%s", err);
        return NULL;
    }
    PGconn *conn = pgconn_connect(conninfo, cmd, err, sizeof err);
    if (!conn) {
        char *where = pgconn_describe(conninfo);
        cli_error(cmd, "cannot connect to %s: %s", where, err);
        free(where);
        free(conninfo);
        return NULL;
    }
    if (require_schema && migrate_require_current(conn, err, sizeof err) != 0) {
        cli_error(cmd, "%s", err);
        PQfinish(conn);
        free(conninfo);
        return NULL;
    }
    if (conninfo_out)
        *conninfo_out = conninfo;
    else
        free(conninfo);
    return conn;
}
