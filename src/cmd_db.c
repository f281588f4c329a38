/* pgpulse db start|stop|status|url: the private PostgreSQL cluster (see pgcluster.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgcluster.h"

static void cmd_db_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse db start [--tls] [--slot-wal-limit SIZE] | stop | status | "
            "url [--role ROLE]\n"
            "                [--home DIR]\n"
            "  start   create the private cluster if needed and start it (idempotent); it has a\n"
            "          login per pgpulse role, with passwords in HOME/pgpass\n"
            "  stop    stop it\n"
            "  status  say whether it runs; exit 0 if it does, 1 if not\n"
            "  url     print its libpq connection URI\n"
            "  --tls   serve TLS only, with a CA and a server certificate made in HOME/tls; URLs\n"
            "          then ask for sslmode=verify-full (it stays on for later starts)\n"
            "  --slot-wal-limit SIZE  the most WAL a replication slot may hold before the server\n"
            "          drops it (max_slot_wal_keep_size; e.g. 8GB, -1: no limit; default %s;\n"
            "          kept for later starts)\n"
            "  --role ROLE  url for the login of owner (default), writer, stage or reader\n"
            "  --home DIR  where it lives (default $PGPULSE_HOME, else ./.pgpulse)\n",
            PGCLUSTER_SLOT_WAL_DEFAULT);
}

int cmd_db(int argc, char **argv)
{
    static const struct option opts[] = {{"home", required_argument, NULL, 'H'},
                                         {"tls", no_argument, NULL, 't'},
                                         {"slot-wal-limit", required_argument, NULL, 'w'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *home = NULL, *wal_limit = NULL, *role_name = NULL;
    int tls = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'H') {
            home = optarg;
        } else if (ch == 't') {
            tls = 1;
        } else if (ch == 'w') {
            wal_limit = optarg;
        } else if (ch == 'r') {
            role_name = optarg;
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
    int start = !strcmp(action, "start");
    if ((tls || wal_limit) && !start) {
        cli_error("db", "--tls and --slot-wal-limit go with `db start`");
        return CLI_USAGE;
    }
    pgcluster_role role = PGCLUSTER_OWNER;
    if (role_name && (strcmp(action, "url") != 0 || pgcluster_role_parse(role_name, &role) != 0)) {
        cli_error("db", "--role: expected owner, writer, stage or reader with `db url`, got '%s'",
                  role_name);
        return CLI_USAGE;
    }
    char err[1024];
    pgcluster *c = pgcluster_open(home, err, sizeof err);
    if (!c) {
        cli_error("db", "%s", err);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (wal_limit && pgcluster_set_slot_wal_limit(c, wal_limit, err, sizeof err) != 0) {
        cli_error("db", "%s", err);
        rc = CLI_USAGE;
    } else if (start) {
        if (tls) pgcluster_want_tls(c);
        if (pgcluster_start(c, err, sizeof err) != 0) {
            cli_error("db", "%s", err);
            rc = CLI_FAIL;
        } else {
            fprintf(stderr, "pgpulse: private PostgreSQL running on 127.0.0.1:%d%s (data in %s)\n",
                    c->port, c->tls ? " with TLS" : "", c->datadir);
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
            char *url = pgcluster_url_as(c, role);
            if (status)
                printf("running on 127.0.0.1:%d%s, data in %s\n%s\n", c->port,
                       c->tls ? " (TLS only)" : "", c->datadir, url);
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
