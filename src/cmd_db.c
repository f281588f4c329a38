/* pgpulse db start|stop|status|url: the private PostgreSQL cluster (see pgcluster.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgcluster.h"

static void cmd_db_usage(FILE *out)
{
    fprintf(out, "usage: pgpulse db start|stop|status|url [--home DIR]\n"
                 "  start   create the private cluster if needed and start it (idempotent)\n"
                 "  stop    stop it\n"
                 "  status  say whether it runs; exit 0 if it does, 1 if not\n"
                 "  url     print its libpq connection URI\n"
                 "  --home DIR  where it lives (default $PGPULSE_HOME, else ./.pgpulse)\n");
}

int cmd_db(int argc, char **argv)
{
    static const struct option opts[] = {
        {"home", required_argument, NULL, 'H'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *home = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'H') {
            home = optarg;
        } else if (ch == 'h') {
            cmd_db_usage(stdout);
            return CLI_OK;
        } else {
            cmd_db_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cmd_db_usage(stderr);
        return CLI_USAGE;
    }
    const char *action = argv[optind];
    char err[1024];
    pgcluster *c = pgcluster_open(home, err, sizeof err);
    if (!c) {
        cli_error("db", "%s", err);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (!strcmp(action, "start")) {
        if (pgcluster_start(c, err, sizeof err) != 0) {
            cli_error("db", "%s", err);
            rc = CLI_FAIL;
        } else {
            fprintf(stderr, "pgpulse: private PostgreSQL running on 127.0.0.1:%d (data in %s)\n",
                    c->port, c->datadir);
        }
    } else if (!strcmp(action, "stop")) {
        if (pgcluster_stop(c, err, sizeof err) != 0) {
            cli_error("db", "%s", err);
            rc = CLI_FAIL;
        }
    } else if (!strcmp(action, "status") || !strcmp(action, "url")) {
        pgcluster_state st = pgcluster_get_state(c);
        int status = !strcmp(action, "status");
        if (st == PGCLUSTER_RUNNING) {
            char *url = pgcluster_url(c);
            if (status)
                printf("running on 127.0.0.1:%d, data in %s\n%s\n", c->port, c->datadir, url);
            else
                printf("%s\n", url);
            free(url);
        } else {
            const char *what = st == PGCLUSTER_ABSENT ? "no private cluster" : "stopped";
            if (status)
                printf("%s (%s)\n", what, c->home);
            else
                cli_error("db", "%s in %s: run `pgpulse db start`", what, c->home);
            rc = CLI_FAIL;
        }
    } else {
        cmd_db_usage(stderr);
        rc = CLI_USAGE;
    }
    pgcluster_free(c);
    return rc;
}
