/* pgpulse consume --stages a,b,...: a stream consumer running those stages (see stream.h).
 * pgpulse live: the same with the live stage alone. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgconn.h"
#include "stages.h"
#include "stream.h"
#include "util.h"

#define CONSUME_MAX_STAGES 8

static volatile sig_atomic_t cmd_consume_stop;

static void cmd_consume_on_signal(int sig)
{
    (void)sig;
    cmd_consume_stop = 1;
}

static void cmd_consume_usage(FILE *out, const char *cmd)
{
    fprintf(out,
            "usage: pgpulse %s [options]\n"
            "Runs %s over new readings until Ctrl-C, committing outputs, state and position\n"
            "together (exactly once across kills and restarts).\n\n"
            "%s"
            "  --source cdc|poll   logical replication (default), or polling for servers without\n"
            "                      replication rights\n"
            "  --shard I/N         read only robots with robot_id %% N = I (N workers, one each)\n"
            "  --name NAME         consumer name (default: the stages joined by '+', and .sIofN)\n"
            "  --batch-ms N        commit at least this often while rows flow, and 20 ms after\n"
            "                      they pause (default %d)\n"
            "  --batch-rows N      and at most this many rows at a time (default %d)\n"
            "  --poll-ms N         poll: how often to look for new rows (default 100)\n"
            "  --status-every S    print a progress line every S seconds (default 10; 0: never)\n"
            "  --db URL            database (default: $PGPULSE_DB, PG* variables, private cluster)\n",
            cmd, strcmp(cmd, "consume") ? (strcmp(cmd, "detect") ? "the live stage" : "the detect stage") : "one or more stages",
            strcmp(cmd, "consume") ? "" : "  --stages a,b,...    the stages to run (live)\n",
            STREAM_DEFAULT_BATCH_MS, STREAM_DEFAULT_BATCH_ROWS);
}

/* An integer flag into an int field. */
static int cmd_consume_int(const char *cmd, const char *flag, const char *v, long lo, long hi, int *out)
{
    long x;
    if (cli_parse_long(cmd, flag, v, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

static int cmd_consume_main(int argc, char **argv, const char *cmd, const char *fixed_stages)
{
    static const struct option opts[] = {
        {"stages", required_argument, NULL, 'S'},   {"source", required_argument, NULL, 's'},
        {"shard", required_argument, NULL, 'h'},    {"name", required_argument, NULL, 'n'},
        {"batch-ms", required_argument, NULL, 'b'}, {"batch-rows", required_argument, NULL, 'r'},
        {"poll-ms", required_argument, NULL, 'p'},  {"status-every", required_argument, NULL, 'e'},
        {"db", required_argument, NULL, 'd'},       {"help", no_argument, NULL, 'H'},
        {0}};
    const char *stages_list = fixed_stages, *db = NULL, *name = NULL;
    stream_opts o = {.shards = 1, .batch_ms = STREAM_DEFAULT_BATCH_MS,
                     .batch_rows = STREAM_DEFAULT_BATCH_ROWS, .poll_ms = 100, .status_s = 10};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'S':
            if (fixed_stages) {
                cmd_consume_usage(stderr, cmd);
                return CLI_USAGE;
            }
            stages_list = optarg;
            break;
        case 's':
            if (!strcmp(optarg, "poll"))
                o.poll = 1;
            else if (strcmp(optarg, "cdc") != 0) {
                cli_error(cmd, "--source: expected cdc or poll, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'h': {
            int i, n, used = 0;
            if (sscanf(optarg, "%d/%d%n", &i, &n, &used) != 2 || optarg[used] || n < 1 || n > 1024 ||
                i < 0 || i >= n) {
                cli_error(cmd, "--shard: expected I/N with 0 <= I < N <= 1024, got '%s'", optarg);
                return CLI_USAGE;
            }
            o.shard = i;
            o.shards = n;
            break;
        }
        case 'n': name = optarg; break;
        case 'b':
            if (cmd_consume_int(cmd, "--batch-ms", optarg, 1, 600000, &o.batch_ms)) return CLI_USAGE;
            break;
        case 'r':
            if (cmd_consume_int(cmd, "--batch-rows", optarg, 1, 10000000, &o.batch_rows)) return CLI_USAGE;
            break;
        case 'p':
            if (cmd_consume_int(cmd, "--poll-ms", optarg, 1, 600000, &o.poll_ms)) return CLI_USAGE;
            break;
        case 'e':
            if (cmd_consume_int(cmd, "--status-every", optarg, 0, 86400, &o.status_s)) return CLI_USAGE;
            break;
        case 'd': db = optarg; break;
        case 'H': cmd_consume_usage(stdout, cmd); return CLI_OK;
        default: cmd_consume_usage(stderr, cmd); return CLI_USAGE;
        }
    }
    if (optind != argc || !stages_list) {
        cmd_consume_usage(stderr, cmd);
        return CLI_USAGE;
    }
    char err[1024];
    const stream_stage_ops *ops[CONSUME_MAX_STAGES];
    int n = stages_parse(stages_list, ops, CONSUME_MAX_STAGES, err, sizeof err);
    if (n < 0) {
        cli_error(cmd, "%s", err);
        return CLI_USAGE;
    }
    char defname[256];
    if (!name) {
        size_t k = 0;
        for (int i = 0; i < n; i++)
            k += (size_t)snprintf(defname + k, sizeof defname - k, "%s%s", i ? "+" : "", ops[i]->name);
        if (o.shards > 1) snprintf(defname + k, sizeof defname - k, ".s%dof%d", o.shard, o.shards);
        name = defname;
    }
    if (stream_check_name(name, err, sizeof err)) {
        cli_error(cmd, "%s", err);
        return CLI_USAGE;
    }
    char *conninfo = NULL;
    PGconn *conn = cli_connect(cmd, db, 1, &conninfo);
    if (!conn) return CLI_FAIL;
    PQfinish(conn);

    o.conninfo = conninfo;
    o.consumer = name;
    o.stages = ops;
    o.nstages = n;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cmd_consume_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = stream_run(&o, &cmd_consume_stop, err, sizeof err);
    if (rc) cli_error(cmd, "%s", err);
    free(conninfo);
    return rc ? CLI_FAIL : CLI_OK;
}

int cmd_consume(int argc, char **argv)
{
    return cmd_consume_main(argc, argv, "consume", NULL);
}

int cmd_live(int argc, char **argv)
{
    return cmd_consume_main(argc, argv, "live", "live");
}

int cmd_consume_stage(int argc, char **argv, const char *cmd, const char *stage)
{
    return cmd_consume_main(argc, argv, cmd, stage);
}
