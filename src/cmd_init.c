/* pgpulse init: apply the schema migrations (see migrate.h). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "migrate.h"

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
    PGconn *conn = cli_connect("init", db, 0, NULL);
    if (!conn) return CLI_FAIL;
    char err[1024];
    migrate_result res;
    int rc = CLI_OK;
    if (migrate_apply(conn, &res, err, sizeof err) != 0) {
        cli_error("init", "%s", err);
        rc = CLI_FAIL;
    } else if (res.applied == 0) {
        printf("schema is up to date (version %d)\n", res.to_version);
    } else {
        printf("schema migrated from version %d to %d (%d migration%s applied)\n",
               res.from_version, res.to_version, res.applied, res.applied == 1 ? "" : "s");
    }
    PQfinish(conn);
    return rc;
}
