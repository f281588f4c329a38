/* pgpulse serve: the live dashboard, the JSON API, the live push and the metrics (serve.h,
 * docs/api.md) until SIGINT or SIGTERM. The first line on stdout is "serving http://HOST:PORT/"
 * (what `pgpulse run` and the tests read).
 *
 * On the private cluster it logs in as pgpulse_web (the reader group's rights plus
 * acknowledgements, docs/security.md); a configured database is used as given. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgcluster.h"
#include "pgconn.h"
#include "serve.h"
#include "util.h"

#define SERVE_DEFAULT_LISTEN "127.0.0.1:8080"
#define SERVE_DEFAULT_CONSUMER "pipeline" /* the consumer `pgpulse run` runs */

static volatile sig_atomic_t cmd_serve_stop;

static void cmd_serve_on_signal(int sig)
{
    (void)sig;
    cmd_serve_stop = 1;
}

static void cmd_serve_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse serve [--db URL] [--listen ADDR:PORT] [--consumer NAME] [--threads N]\n"
            "                     [--max-per-client N]\n"
            "Serves the live dashboard, the JSON API (/api/...), the live push (/api/stream,\n"
            "Server-Sent Events) and Prometheus metrics (/metrics) until Ctrl-C. --listen\n"
            "defaults to " SERVE_DEFAULT_LISTEN " (loopback; 0.0.0.0:PORT to serve the network,\n"
            "port 0 for any free port); --consumer names whose outputs are shown (default\n" 
            SERVE_DEFAULT_CONSUMER ", the one `pgpulse run` runs). Acknowledging an episode\n"
            "needs `Authorization: Bearer $PGPULSE_TOKEN` when PGPULSE_TOKEN is set.\n"
            "--max-per-client caps the connections one client address may hold (default 64;\n"
            "raise it for many viewers behind one NAT address).\n"
            "Prints \"serving http://HOST:PORT/\" first. See docs/api.md.\n");
}

/* The database: a configured one as given, else the private cluster as its web login. */
static char *cmd_serve_database(const char *db, char *err, size_t errlen)
{
    int configured = (db && *db) || (getenv("PGPULSE_DB") && *getenv("PGPULSE_DB")) ||
                     getenv("PGHOST") || getenv("PGDATABASE") || getenv("PGSERVICE");
    if (configured) return pgconn_resolve(db, err, errlen);
    pgcluster *c = pgcluster_open(NULL, err, errlen);
    if (!c) return NULL;
    char *url = NULL;
    if (pgcluster_get_state(c) == PGCLUSTER_ABSENT)
        util_err(err, errlen,
                 "no database configured: pass --db URL, set PGPULSE_DB, or start one with "
                 "`pgpulse run` or `pgpulse db start`");
    else if (pgcluster_start(c, err, errlen) == 0)
        url = pgcluster_url_as(c, PGCLUSTER_READER);
    pgcluster_free(c);
    return url;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"consumer", required_argument, NULL, 'c'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"max-per-client", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *listen = SERVE_DEFAULT_LISTEN, *consumer = SERVE_DEFAULT_CONSUMER;
    long threads = 4, per_client = 64;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'l': listen = optarg; break;
        case 'c': consumer = optarg; break;
        case 't':
            if (cli_parse_long("serve", "--threads", optarg, 1, 64, &threads)) return CLI_USAGE;
            break;
        case 'm':
            if (cli_parse_long("serve", "--max-per-client", optarg, 1, 100000, &per_client))
                return CLI_USAGE;
            break;
        case 'h': cmd_serve_usage(stdout); return CLI_OK;
        default: cmd_serve_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("serve", "unexpected argument '%s' (see --help)", argv[optind]);
        return CLI_USAGE;
    }
    char err[1024];
    char *conninfo = cmd_serve_database(db, err, sizeof err);
    if (!conninfo) {
        cli_error("serve", "%s", err);
        return CLI_FAIL;
    }
    /* Check the schema once, with the message every command gives. */
    PGconn *check = cli_connect("serve", conninfo, 1, NULL);
    if (!check) {
        free(conninfo);
        return CLI_FAIL;
    }
    PQfinish(check);

    struct sigaction sa = {0};
    sa.sa_handler = cmd_serve_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *token = getenv("PGPULSE_TOKEN");
    serve_opts o = {.conninfo = conninfo,
                    .consumer = consumer,
                    .listen = listen,
                    .token = token,
                    .threads = (int)threads,
                    .max_per_client = (int)per_client};
    serve *s = serve_start(&o, err, sizeof err);
    if (!s) {
        char *msg = pgconn_redact(err, conninfo);
        cli_error("serve", "%s", msg);
        free(msg);
        free(conninfo);
        return CLI_FAIL;
    }
    /* The host as the listen address gave it ("0.0.0.0" is not one a browser can open). */
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    if (!strcmp(host, "0.0.0.0") || !*host) snprintf(host, sizeof host, "127.0.0.1");
    if (!strcmp(host, "[::]")) snprintf(host, sizeof host, "[::1]");
    printf("serving http://%s:%d/\n", host, serve_port(s));
    fflush(stdout);
    fprintf(stderr, "pgpulse serve: consumer %s%s; Ctrl-C stops\n", consumer,
            token && *token ? ", acknowledgements need the bearer token" : "");
    int loopback = !strncmp(host, "127.", 4) || !strcmp(host, "[::1]") || !strcmp(host, "localhost");
    if ((!loopback || !strncmp(listen, "0.0.0.0:", 8) || !strncmp(listen, "[::]:", 5)) &&
        !(token && *token))
        fprintf(stderr, "pgpulse serve: warning: %s is reachable from other machines and "
                        "PGPULSE_TOKEN is not set: anyone who reaches it may acknowledge "
                        "episodes\n", listen);
    while (!cmd_serve_stop) util_sleep_ms(100);
    serve_stop(s);
    free(conninfo);
    return CLI_OK;
}
