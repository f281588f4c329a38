/* pgpulse db start|stop|restart|status|url: the private PostgreSQL cluster (see pgcluster.h),
 * or a Citus cluster of them (pgcluster_citus.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgcluster.h"
#include "pgcluster_citus.h"

static void cmd_db_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse db start [--tls] [--slot-wal-limit SIZE] [--citus N]\n"
            "       pgpulse db stop | restart | status | url [--node K] [--role ROLE]\n"
            "                [--home DIR]\n"
            "  start   create the private cluster if needed and start it (idempotent); it has a\n"
            "          login per pgpulse role, with passwords in HOME/pgpass\n"
            "  stop    stop it (every node of a Citus cluster, or node K)\n"
            "  restart restart it (every node, or node K: a Citus worker restarted alone)\n"
            "  status  say whether it runs (every node); exit 0 if it does, 1 if not\n"
            "  url     print its libpq connection URI (of node K)\n"
            "  --tls   serve TLS only, with a CA and a server certificate made in HOME/tls; URLs\n"
            "          then ask for sslmode=verify-full (it stays on for later starts)\n"
            "  --slot-wal-limit SIZE  the most WAL a replication slot may hold before the server\n"
            "          drops it (max_slot_wal_keep_size; e.g. 8GB, -1: no limit; default %s;\n"
            "          kept for later starts)\n"
            "  --citus N  a Citus cluster: this one as coordinator and N workers (N >= 1) in\n"
            "          HOME/worker1..N, Citus preloaded with change capture on every node; kept for\n"
            "          later commands (a larger N adds workers; a smaller one is refused). Needs\n"
            "          Citus installed (make deps-citus)\n"
            "  --node K  the node for stop, restart, status and url: 0 the coordinator, K worker K\n"
            "          (every node's URL has the same logins and password file)\n"
            "  --role ROLE  url for the login of owner (default), writer, stage or reader\n"
            "  --home DIR  where it lives (default $PGPULSE_HOME, else ./.pgpulse)\n",
            PGCLUSTER_SLOT_WAL_DEFAULT);
}

/* Parses a non-negative number for option name into *out. Returns 0 or -1 with a message. */
static int cmd_db_count(const char *name, const char *arg, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < 0 || v > 64) {
        cli_error("db", "%s: expected a number from 0 to 64, got '%s'", name, arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Prints node c's state for `db status` (label: "coordinator", "worker 1", or NULL for a plain
 * cluster). Returns 1 if it runs, 0 if not. */
static int cmd_db_status_one(pgcluster *c, const char *label, pgcluster_role role)
{
    pgcluster_state st = pgcluster_get_state(c);
    char prefix[32] = "";
    if (label) snprintf(prefix, sizeof prefix, "%s: ", label);
    if (st != PGCLUSTER_RUNNING) {
        printf("%s%s (%s)\n", prefix, st == PGCLUSTER_ABSENT ? "no private cluster" : "stopped",
               c->home);
        return 0;
    }
    char *url = pgcluster_url_as(c, role);
    printf("%srunning on 127.0.0.1:%d%s, data in %s\n%s\n", prefix, c->port,
           c->tls ? " (TLS only)" : "", c->datadir, url);
    free(url);
    return 1;
}

int cmd_db(int argc, char **argv)
{
    static const struct option opts[] = {{"home", required_argument, NULL, 'H'},
                                         {"tls", no_argument, NULL, 't'},
                                         {"slot-wal-limit", required_argument, NULL, 'w'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"citus", required_argument, NULL, 'c'},
                                         {"node", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *home = NULL, *wal_limit = NULL, *role_name = NULL;
    int tls = 0, citus = -1, node = -1;
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
        } else if (ch == 'c') {
            if (cmd_db_count("--citus", optarg, &citus) != 0) return CLI_USAGE;
        } else if (ch == 'n') {
            if (cmd_db_count("--node", optarg, &node) != 0) return CLI_USAGE;
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
    if ((tls || wal_limit || citus >= 0) && !start) {
        cli_error("db", "--tls, --slot-wal-limit and --citus go with `db start`");
        return CLI_USAGE;
    }
    if (node >= 0 && start) {
        cli_error("db", "--node goes with stop, restart, status and url (start starts every node)");
        return CLI_USAGE;
    }
    pgcluster_role role = PGCLUSTER_OWNER;
    if (role_name && ((strcmp(action, "url") != 0 && strcmp(action, "status") != 0) ||
                      pgcluster_role_parse(role_name, &role) != 0)) {
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
    /* The node asked for (--node), else c itself, which stands for every node. */
    pgcluster *n = c;
    if (node >= 0) {
        n = pgcluster_node(c, node, err, sizeof err);
        if (!n) {
            cli_error("db", "--node: %s", err);
            pgcluster_free(c);
            return CLI_USAGE;
        }
    }
    int rc = CLI_OK;
    if (wal_limit && pgcluster_set_slot_wal_limit(c, wal_limit, err, sizeof err) != 0) {
        cli_error("db", "%s", err);
        rc = CLI_USAGE;
    } else if (citus >= 0 && pgcluster_want_citus(c, citus, err, sizeof err) != 0) {
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
            for (int k = 1; k <= c->citus_workers; k++) {
                pgcluster *w = pgcluster_node(c, k, err, sizeof err);
                if (w)
                    fprintf(stderr, "pgpulse: Citus worker %d on 127.0.0.1:%d (data in %s)\n", k,
                            w->port, w->datadir);
                pgcluster_free(w);
            }
        }
    } else if (!strcmp(action, "stop") || !strcmp(action, "restart")) {
        int stop = !strcmp(action, "stop");
        /* A whole Citus cluster restarts as a stop and a start (workers first, then the
         * coordinator's setup); one node alone by pg_ctl restart. */
        int failed = stop || n == c ? pgcluster_stop(n, err, sizeof err)
                                    : pgcluster_restart(n, err, sizeof err);
        if (!failed && !stop && n == c) failed = pgcluster_start(c, err, sizeof err);
        if (failed) {
            cli_error("db", "%s", err);
            rc = CLI_FAIL;
        }
    } else if (!strcmp(action, "status")) {
        int up;
        if (n != c || !c->citus_workers) {
            char label[32];
            snprintf(label, sizeof label, n->node ? "worker %d" : "coordinator", n->node);
            up = cmd_db_status_one(n, n->citus ? label : NULL, role);
        } else {
            up = cmd_db_status_one(c, "coordinator", role);
            for (int k = 1; k <= c->citus_workers; k++) {
                pgcluster *w = pgcluster_node(c, k, err, sizeof err);
                char label[32];
                snprintf(label, sizeof label, "worker %d", k);
                up &= w ? cmd_db_status_one(w, label, role) : 0;
                pgcluster_free(w);
            }
        }
        if (!up) rc = CLI_FAIL;
    } else if (!strcmp(action, "url")) {
        if (pgcluster_get_state(n) == PGCLUSTER_RUNNING) {
            char *url = pgcluster_url_as(n, role);
            printf("%s\n", url);
            free(url);
        } else {
            const char *what =
                pgcluster_get_state(n) == PGCLUSTER_ABSENT ? "no private cluster" : "stopped";
            cli_error("db", "%s in %s: run `pgpulse db start`", what, n->home);
            rc = CLI_FAIL;
        }
    } else {
        cmd_db_usage(stderr);
        rc = CLI_USAGE;
    }
    if (n != c) pgcluster_free(n);
    pgcluster_free(c);
    return rc;
}
