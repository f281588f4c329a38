/* pgpulse run: bring the pipeline up in one command. The dashboard's URL first (its address is
 * checked before anything starts), then a database (the private cluster unless one is
 * configured), the schema, optional asset tables and an optional data file, a summary of what
 * the database holds, then as supervised child processes until Ctrl-C: the live and detect
 * stages in one consumer ("pipeline": one slot, one decode; a home with the per-stage consumers
 * of an earlier pgpulse is migrated to it first, src/run_migrate.c), a simulated fleet streaming
 * into the database, and the dashboard's server (`pgpulse serve`). Later stages join the
 * consumer as they land.
 *
 * The children get their database in PGPULSE_DB, never on their command line (other users can
 * read a command line). On the private cluster each job logs in as its own role: the loads as
 * pgpulse_ingest, the stages as pgpulse_stages, the server as pgpulse_web (docs/security.md); a
 * configured database is used as given for everything. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "migrate.h"
#include "pgcluster.h"
#include "pgconn.h"
#include "run_migrate.h"
#include "stages.h"
#include "stream.h"
#include "supervise.h"
#include "util.h"

#define RUN_FLEET_FIRST "1001" /* simulated robots stay clear of real ones (1, 2, ...) */
#define RUN_LISTEN "127.0.0.1:8080" /* the dashboard's address (pgpulse serve's default) */

static volatile sig_atomic_t cmd_run_stop;

static void cmd_run_on_signal(int sig)
{
    (void)sig;
    cmd_run_stop = 1;
}

static void cmd_run_usage(FILE *out)
{
    fprintf(out, "usage: pgpulse run [--db URL] [--assets DIR] [--data FILE [--robot ID]]\n"
                 "                   [--robots N] [--rate R] [--listen ADDR:PORT] [--no-sim]\n"
                 "Starts the private PostgreSQL unless a database is configured, applies the\n"
                 "schema, loads the asset tables and a readings file if given (a robot export\n"
                 "goes to --robot ID, default 1, created if missing), says what was loaded, then\n"
                 "runs the live and detect stages and a simulated fleet streaming into the database until\n"
                 "Ctrl-C, each as a child process restarted if it dies: --robots N (default 20,\n"
                 "ids from " RUN_FLEET_FIRST ") at --rate R rows/s for the fleet (default: 1 row/s per\n"
                 "robot). The dashboard and API (`pgpulse serve`) run beside them at --listen\n"
                 "(default " RUN_LISTEN "; port 0: any free port); its URL is the first line\n"
                 "printed. --no-sim stops after loading.\n");
}

/* Who each job connects as. */
typedef struct cmd_run_db {
    char *owner;  /* the schema (migrations, grants) and the summary */
    char *writer; /* import-assets, ingest, gen */
    char *stage;  /* the stream consumers (live, detect) */
    char *web;    /* the dashboard's server */
} cmd_run_db;

static void cmd_run_db_free(cmd_run_db *d)
{
    free(d->owner);
    free(d->writer);
    free(d->stage);
    free(d->web);
}

/* The database to use: a configured one, else the private cluster, started (and created)
 * as needed. Returns 0, or -1 after printing why. */
static int cmd_run_database(const char *db, cmd_run_db *out)
{
    char err[1024];
    memset(out, 0, sizeof *out);
    int configured = (db && *db) || (getenv("PGPULSE_DB") && *getenv("PGPULSE_DB")) ||
                     getenv("PGHOST") || getenv("PGDATABASE") || getenv("PGSERVICE");
    if (configured) {
        out->owner = pgconn_resolve(db, err, sizeof err);
        if (!out->owner) {
            cli_error("run", "%s", err);
            return -1;
        }
        out->writer = xstrdup(out->owner);
        out->stage = xstrdup(out->owner);
        out->web = xstrdup(out->owner);
        return 0;
    }
    pgcluster *c = pgcluster_open(NULL, err, sizeof err);
    if (!c) {
        cli_error("run", "%s", err);
        return -1;
    }
    int rc = pgcluster_start(c, err, sizeof err);
    if (rc != 0) {
        cli_error("run", "%s", err);
    } else {
        out->owner = pgcluster_url(c);
        out->writer = pgcluster_url_as(c, PGCLUSTER_WRITER);
        out->stage = pgcluster_url_as(c, PGCLUSTER_STAGE);
        out->web = pgcluster_url_as(c, PGCLUSTER_READER);
    }
    pgcluster_free(c);
    return rc;
}

static void cmd_run_summary(PGconn *conn)
{
    PGresult *r = PQexec(conn,
                         "SELECT r.robot_id, coalesce(r.name, ''), count(x.ts),"
                         " coalesce(to_char(min(x.ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-'),"
                         " coalesce(to_char(max(x.ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-')"
                         " FROM robot r LEFT JOIN reading x USING (robot_id)"
                         " GROUP BY 1, 2 ORDER BY 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return;
    }
    printf("\n%-8s %-28s %12s  %-19s  %-19s\n", "robot", "name", "readings", "first (UTC)",
           "last (UTC)");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-8s %-28.28s %12s  %-19s  %-19s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    if (PQntuples(r) == 0) printf("(no robots yet)\n");
    PQclear(r);
    r = PQexec(conn, "SELECT (SELECT count(*) FROM plant), (SELECT count(*) FROM shop),"
                     " (SELECT count(*) FROM part), (SELECT count(*) FROM ingest_reject)");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        printf("plants %s, shops %s, parts %s, rejected input lines %s\n", PQgetvalue(r, 0, 0),
               PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    PQclear(r);
}

/* The consumer `pgpulse run` runs: the live and detect stages on one slot, so the WAL is
 * decoded once (`pgpulse consume --stages live,detect,learn,warehouse --name pipeline`). A home of an earlier run
 * (consumers live and detect) is migrated to it first (run_migrate.h). */
#define RUN_PIPELINE RUN_MIGRATE_PIPELINE

/* Registers run's consumer and creates its slot, as the login it runs as, before any child
 * starts: a new consumer reads only what commits after its slot exists, and the simulator starts
 * writing at once. Returns 0, or -1 after printing why. */
static int cmd_run_prepare(const char *stage_url)
{
    const stream_stage_ops *ops[4] = {stages_find("live"), stages_find("detect"), stages_find("learn"),
                                      stages_find("warehouse")};
    if (!ops[0] || !ops[1] || !ops[2] || !ops[3]) {
        cli_error("run", "the live, detect, learn or warehouse stage is unknown");
        return -1;
    }
    stream_opts o = {.conninfo = stage_url,
                     .consumer = RUN_PIPELINE,
                     .stages = ops,
                     .nstages = 4,
                     .shards = 1,
                     .batch_ms = STREAM_DEFAULT_BATCH_MS,
                     .batch_rows = STREAM_DEFAULT_BATCH_ROWS};
    char err[1024];
    if (stream_prepare(&o, err, sizeof err) != 0) {
        cli_error("run", "the %s consumer: %s", o.consumer, err);
        return -1;
    }
    return 0;
}

/* Moves the consumers of an earlier run (live and detect) to RUN_PIPELINE and says so. Returns 0,
 * or -1 after printing why. */
static int cmd_run_migrate(const cmd_run_db *d)
{
    run_migrate_result res;
    char err[1024];
    if (run_migrate(d->owner, d->stage, &res, err, sizeof err) != 0) {
        cli_error("run", "moving the consumers of an earlier run to \"" RUN_PIPELINE "\": %s", err);
        return -1;
    }
    if (res.migrated)
        printf("migrated consumer%s %s to " RUN_PIPELINE " at LSN %s%s%s\n",
               strchr(res.from, ' ') ? "s" : "", res.from, res.lsn,
               res.slots[0] ? ", dropped slots " : "", res.slots);
    fflush(stdout);
    return 0;
}

/* The dashboard's address, checked before anything starts so that its URL can be printed first:
 * listen as given ("HOST:PORT", "[V6]:PORT") with port 0 replaced by a free port, in out.
 * Returns 0, or -1 after printing why (a bad address, a port in use). */
static int cmd_run_listen(const char *listen, char *out, size_t len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        cli_error("run", "--listen: expected HOST:PORT, got '%s'", listen);
        return -1;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    const char *port = colon + 1;
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(h, port, &hints, &ai) != 0 || !ai) {
        cli_error("run", "--listen: '%s' is not a numeric address and port", listen);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1, rc = -1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        cli_error("run", "cannot listen on %s: %s (pass --listen %s:PORT, or port 0 for any free "
                  "port)", listen, strerror(errno), host);
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char serv[16];
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
            getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, serv, sizeof serv, NI_NUMERICSERV) == 0) {
            snprintf(out, len, "%s:%s", host, serv);
            rc = 0;
        } else {
            cli_error("run", "cannot listen on %s: %s", listen, strerror(errno));
        }
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"data", required_argument, NULL, 'D'},
                                         {"robot", required_argument, NULL, 'r'},
                                         {"assets", required_argument, NULL, 'a'},
                                         {"robots", required_argument, NULL, 'n'},
                                         {"rate", required_argument, NULL, 'R'},
                                         {"no-sim", no_argument, NULL, 'N'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *data = NULL, *robot = "1", *assets = NULL;
    const char *robots = "20", *rate = NULL, *listen = RUN_LISTEN;
    int sim = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'D': data = optarg; break;
        case 'r': robot = optarg; break;
        case 'a': assets = optarg; break;
        case 'n': robots = optarg; break;
        case 'R': rate = optarg; break;
        case 'N': sim = 0; break;
        case 'l': listen = optarg; break;
        case 'h': cmd_run_usage(stdout); return CLI_OK;
        default: cmd_run_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cmd_run_usage(stderr);
        return CLI_USAGE;
    }
    /* The dashboard's URL first (the server starts with the stages, below). */
    char addr[300], url_host[320];
    if (sim) {
        if (cmd_run_listen(listen, addr, sizeof addr) != 0) return CLI_USAGE;
        /* A wildcard address is not one a browser can open: the loopback of its family. */
        if (!strncmp(addr, "0.0.0.0:", 8))
            snprintf(url_host, sizeof url_host, "127.0.0.1%s", addr + 7);
        else if (!strncmp(addr, "[::]:", 5))
            snprintf(url_host, sizeof url_host, "[::1]%s", addr + 4);
        else
            snprintf(url_host, sizeof url_host, "%s", addr);
        printf("dashboard: http://%s/\n", url_host);
        fflush(stdout);
    }
    cmd_run_db d;
    if (cmd_run_database(db, &d) != 0) return CLI_FAIL;

    int rc = CLI_FAIL;
    char err[1024];
    PGconn *conn = pgconn_connect(d.owner, "run", err, sizeof err);
    if (!conn) {
        cli_error("run", "cannot connect: %s", err);
        goto cleanup;
    }
    migrate_result mr;
    if (migrate_apply(conn, &mr, err, sizeof err) != 0) {
        cli_error("run", "%s", err);
        goto cleanup;
    }
    printf("database ready: schema version %d\n", mr.to_version);
    fflush(stdout); /* keep our lines in order with the subcommands' stderr */
    /* The stages' consumers exist before anything is written, so that the data file's rows
     * as well as the simulator's reach them. */
    if (sim && (cmd_run_migrate(&d) != 0 || cmd_run_prepare(d.stage) != 0)) goto cleanup;
    if (assets) {
        char *av[] = {"import-assets", "--db", d.writer, (char *)assets, NULL};
        optind = 1;
        if (cmd_import_assets(4, av) != CLI_OK) goto cleanup;
        fflush(stdout);
    }
    if (data) {
        char *av[] = {"ingest", "--db", d.writer, "--robot", (char *)robot, "--create-robot",
                      (char *)data, NULL};
        optind = 1;
        if (cmd_ingest(7, av) != CLI_OK) goto cleanup;
        fflush(stdout);
    }
    cmd_run_summary(conn);
    char *shown = pgconn_mask(d.owner);
    printf("\ndatabase: %s\n(psql \"$(./pgpulse db url)\" opens it; ./pgpulse db stop stops the "
           "private cluster)\n",
           shown);
    free(shown);
    rc = CLI_OK;
    if (sim) {
        char fleet_rate[32];
        if (!rate) {
            snprintf(fleet_rate, sizeof fleet_rate, "%s", robots); /* 1 row/s per robot */
            rate = fleet_rate;
        }
        printf("\nrunning: the live, detect and learn stages (consumer " RUN_PIPELINE "), %s simulated "
               "robots (ids from %s) at %s rows/s, and the dashboard at http://%s/; Ctrl-C stops\n",
               robots,
               RUN_FLEET_FIRST, rate, url_host);
        fflush(stdout);
        PQfinish(conn);
        conn = NULL;
        char *pipeline[] = {"consume", "--stages", "live,detect,learn,warehouse", "--name", RUN_PIPELINE, NULL};
        char *gen[] = {"gen", "--robots", (char *)robots, "--rate", (char *)rate,
                       "--first-robot", RUN_FLEET_FIRST, NULL};
        char *serve[] = {"serve", "--listen", addr, "--consumer", RUN_PIPELINE,
                         NULL};
        const supervise_child children[] = {{RUN_PIPELINE, pipeline, d.stage},
                                            {"gen", gen, d.writer},
                                            {"serve", serve, d.web}};
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cmd_run_on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (supervise_run(children, 3, &cmd_run_stop) != 0) {
            cli_error("run", "cannot find this program's path to start its stages");
            rc = CLI_FAIL;
        }
        printf("[run] stopped\n");
    }
cleanup:
    if (conn) PQfinish(conn);
    cmd_run_db_free(&d);
    return rc;
}
