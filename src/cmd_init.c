/* pgpulse init: apply the schema migrations (see migrate.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "migrate.h"

/* The schema version before anything is applied, as a retried step. */
static int cmd_init_version(PGconn *conn, void *arg, char *err, size_t errlen)
{
    return migrate_current_version(conn, arg, err, errlen);
}

/* The migrations as a retried step: they run in one transaction, so a connection lost on the
 * way rolls them back, or they committed (the reply was lost) and running them again changes
 * nothing. */
typedef struct cmd_init_run {
    migrate_result res; /* of the last attempt */
    int attempts;       /* attempts made (more than one: a connection was lost) */
} cmd_init_run;

static int cmd_init_apply(PGconn *conn, void *arg, char *err, size_t errlen)
{
    cmd_init_run *run = arg;
    run->attempts++;
    return migrate_apply(conn, &run->res, err, errlen);
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *db = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'd') {
            db = optarg;
        } else {
            FILE *out = ch == 'h' ? stdout : stderr;
            fprintf(out, "usage: pgpulse init [--db URL]\n"
                         "Applies pending schema migrations; safe to run any number of times.\n");
            return ch == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("init", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    char *conninfo = NULL;
    PGconn *conn = cli_connect("init", db, 0, &conninfo);
    if (!conn) return CLI_FAIL;
    char err[1024];
    cmd_init_run run = {.attempts = 0};
    const migrate_result *res = &run.res;
    int from = 0;
    int rc = CLI_OK;
    /* The version is read first: an attempt whose COMMIT landed but whose reply was lost
     * leaves the next attempt nothing to apply, and the summary must still say so (another
     * init running at the same time could have applied them as well: it says which). */
    if (cli_retry("init", conninfo, CLI_RETRY_SECONDS, &conn, cmd_init_version, &from, err,
                  sizeof err) != 0 ||
        cli_retry("init", conninfo, CLI_RETRY_SECONDS, &conn, cmd_init_apply, &run, err,
                  sizeof err) != 0) {
        cli_error("init", "%s", err);
        rc = CLI_FAIL;
    } else if (res->applied > 0) {
        printf("schema migrated from version %d to %d (%d migration%s applied)\n",
               res->from_version, res->to_version, res->applied, res->applied == 1 ? "" : "s");
    } else if (res->to_version > from && run.attempts > 1) {
        printf("schema migrated from version %d to %d (the connection was lost as the "
               "migrations committed, by this init or another one)\n",
               from, res->to_version);
    } else {
        printf("schema is up to date (version %d)\n", res->to_version);
    }
    if (rc == CLI_OK && res->distributed)
        printf("schema distributed on Citus (%d worker%s): reading, fault and maintenance_event by "
               "robot_id, the asset tables as reference tables\n",
               res->citus_workers, res->citus_workers == 1 ? "" : "s");
    if (conn) PQfinish(conn);
    free(conninfo);
    return rc;
}
