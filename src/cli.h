/* cli: what every subcommand shares — the command table, usage errors, and connecting to the
 * resolved database with the schema checked. */
#ifndef PGPULSE_CLI_H
#define PGPULSE_CLI_H

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

/* Prints "pgpulse CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses flag's value as an integer in [lo, hi] into *out; on error prints "pgpulse CMD:
 * FLAG: expected an integer in LO..HI, got 'VAL'" and returns -1. */
int cli_parse_long(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out);

/* Resolves the database (see pgconn.h) and connects. With require_schema, also checks that
 * the schema is this binary's. On failure prints why and returns NULL. *conninfo_out, if not
 * NULL, receives the resolved conninfo (caller frees). */
PGconn *cli_connect(const char *cmd, const char *db_flag, int require_schema, char **conninfo_out);

#endif
