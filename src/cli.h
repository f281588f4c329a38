/* cli: what every subcommand shares — the command table, usage errors, and connecting to the
 * resolved database with the schema checked. */
#ifndef PGPULSE_CLI_H
#define PGPULSE_CLI_H

#include <stddef.h>

#include <libpq-fe.h>

/* Exit codes of every subcommand. */
#define CLI_OK 0
#define CLI_FAIL 1  /* the work failed; a message was printed */
#define CLI_USAGE 2 /* bad flags or arguments */

typedef int cli_cmd_fn(int argc, char **argv);

int cmd_db(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_import_assets(int argc, char **argv);
int cmd_import_maintenance(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_live(int argc, char **argv);
int cmd_detect(int argc, char **argv);

/* A stream consumer running the one stage `stage` (cmd_consume.c): `pgpulse live`, `pgpulse
 * detect`. */
int cmd_consume_stage(int argc, char **argv, const char *cmd, const char *stage);
int cmd_status(int argc, char **argv);
int cmd_slots(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_learn(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_warehouse(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Prints "pgpulse CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses flag's value as an integer in [lo, hi] into *out; on error prints "pgpulse CMD:
 * FLAG: expected an integer in LO..HI, got 'VAL'" and returns -1. */
int cli_parse_long(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out);

#define CLI_RETRY_SECONDS 300 /* how long a command waits for a server that went away */
#define CLI_RECONNECTS 10      /* connections lost in a row during one step before giving up */

/* Resolves the database (see pgconn.h) and connects. With require_schema, also checks that
 * the schema is this binary's. A first connection that fails because the server is starting,
 * stopping, full or dropped it during the handshake is retried with backoff (pgconn.h) for
 * CLI_RETRY_SECONDS; one refused, or failing on a name or a password, fails at once. A
 * connection lost during the schema check is re-established (cli_retry). On failure prints
 * why and returns NULL. *conninfo_out, if not NULL, receives the resolved conninfo (caller
 * frees). */
PGconn *cli_connect(const char *cmd, const char *db_flag, int require_schema, char **conninfo_out);

/* cli_connect, waiting retry_seconds instead of CLI_RETRY_SECONDS for a server that went
 * away. */
PGconn *cli_connect_retry(const char *cmd, const char *db_flag, int require_schema,
                          int retry_seconds, char **conninfo_out);

/* A step of a command that needs the connection. Returns 0; -1 with a message in err; or
 * PGCONN_LOST (pgconn.h) when the connection was lost (-1 on a connection libpq marks bad
 * counts as lost too). */
typedef int cli_step(PGconn *conn, void *arg, char *err, size_t errlen);

/* Runs step on *conn; while it fails because the connection was lost, says so on stderr,
 * reconnects to conninfo (backoff for up to retry_seconds) and runs it again, CLI_RECONNECTS
 * times at most. The step must be safe to repeat after a loss: idempotent, or one transaction
 * that the loss rolled back or that changes nothing when run again after it committed.
 * Returns 0, or -1 with a message in err; *conn is then the last connection (NULL if the last
 * reconnect failed), which the caller still owns and PQfinishes. */
int cli_retry(const char *cmd, const char *conninfo, int retry_seconds, PGconn **conn,
              cli_step *step, void *arg, char *err, size_t errlen);

#endif
