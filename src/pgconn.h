/* pgconn: which database to use, connecting to it, and small helpers around libpq results.
 *
 * Resolution order, the same for every command: --db URL, else $PGPULSE_DB, else the standard
 * libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE, ...), else the private
 * cluster under $PGPULSE_HOME (started if it exists but is stopped). */
#ifndef PGPULSE_PGCONN_H
#define PGPULSE_PGCONN_H

#include <stddef.h>

#include <libpq-fe.h>

/* SQLSTATE codes pgpulse reacts to. */
#define PGCONN_UNIQUE_VIOLATION "23505"
#define PGCONN_CHECK_VIOLATION "23514"
#define PGCONN_FOREIGN_KEY_VIOLATION "23503"

/* Returns the conninfo to use (newly allocated; "" means the libpq environment), or NULL with a
 * message in err when nothing is configured and no private cluster exists. `db_flag` is the
 * value of --db or NULL. */
char *pgconn_resolve(const char *db_flag, char *err, size_t errlen);

/* Describes where a conninfo points, without its password, for messages ("127.0.0.1:5433/pgpulse").
 * Newly allocated. */
char *pgconn_describe(const char *conninfo);

/* Returns a copy of s (newly allocated) with every secret replaced by "***": the password of a
 * URI (postgresql://user:***@host/db), and the values of password= and sslpassword=, as URI
 * query parameters or as key=value pairs (quoted or not). s may be a URI or conninfo, or any
 * text holding some (a command-line argument such as --db=URL). Text without a secret is
 * returned unchanged. Every URL or conninfo pgpulse prints goes through it. */
char *pgconn_mask(const char *s);

/* Returns a copy of msg (newly allocated) in which every secret of conninfo (see pgconn_mask),
 * as written or percent-decoded, is replaced by "***". Secrets shorter than 4 characters are
 * left alone (replacing them would mangle the message); libpq's own messages never quote a
 * password, so this guards against echoes of a malformed conninfo. */
char *pgconn_redact(const char *msg, const char *conninfo);

/* Hides the secrets of the command line from other processes: every argument that holds one
 * (see pgconn_mask) is copied to the heap, argv[i] is pointed at the copy (so option parsing
 * still sees the real value), and the original bytes — what /proc/PID/cmdline and ps show —
 * are overwritten with the masked text. Returns the number of arguments changed. The copies
 * live until the process exits. */
int pgconn_hide_argv(int argc, char **argv);

/* Connects (application_name pgpulse-<role>, and TCP keepalives after 60 s idle, every 10 s,
 * 6 probes, unless the conninfo sets them). Returns NULL with the
 * server's message in err on failure (any secret of conninfo redacted, see pgconn_redact). */
PGconn *pgconn_connect(const char *conninfo, const char *role, char *err, size_t errlen);

/* Connects, retrying with exponential backoff (100 ms doubling to 5 s) for up to
 * `retry_seconds` while the server is unreachable. Returns NULL with a message on failure. */
PGconn *pgconn_connect_retry(const char *conninfo, const char *role, int retry_seconds, char *err,
                             size_t errlen);

#define PGCONN_LOST (-2) /* pgconn_exec: the connection is gone (see pgconn_result_lost) */

/* Runs a command (its rows, if any, are discarded). Returns 0, or -1 with the server's message
 * in err, or PGCONN_LOST when the failure means the connection is gone. */
int pgconn_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/* True if the failed result r means the connection is gone or going: libpq's own errors (no
 * SQLSTATE: the socket closed), connection exceptions (08xxx) and operator intervention
 * (57P01 terminated by an administrator, 57P02 crash, 57P03 starting or stopping). The
 * connection must then be re-established; PQstatus may not say so yet. */
int pgconn_result_lost(PGconn *conn, const PGresult *r);

/* Runs a parameterised statement (text parameters) that must end with status `expect`. On
 * success returns 0 and, if out is not NULL, the result in *out (the caller PQclears it);
 * otherwise returns -1 with the server's message in err, or PGCONN_LOST when the connection is
 * gone (see pgconn_result_lost). */
int pgconn_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                 ExecStatusType expect, PGresult **out, char *err, size_t errlen);

/* True if r failed with the given SQLSTATE. */
int pgconn_is_sqlstate(const PGresult *r, const char *sqlstate);

/* The message of a failed result on one line (libpq's messages end with a newline). */
void pgconn_result_error(const PGresult *r, PGconn *conn, char *err, size_t errlen);

/* True if the connection is broken and must be re-established. */
int pgconn_is_lost(PGconn *conn);

/* Why conn failed to connect, on one line, with conninfo's password masked, into err. */
void pgconn_connect_error(PGconn *conn, const char *conninfo, char *err, size_t errlen);

#endif
