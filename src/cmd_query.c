/* cmd_query: `pgpulse query NAME [--from --to --robot --format]` and `pgpulse query --list` —
 * the canned analyses of sql/queries/ (query.h), read from the warehouse's rollups. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgconn.h"
#include "query.h"
#include "util.h"

static void cmd_query_usage(FILE *f)
{
    fprintf(f, "usage: pgpulse query NAME [--from TS] [--to TS] [--robot N] [--format table|csv|json]\n"
               "       pgpulse query --list       the analyses, and what each answers\n"
               "       pgpulse query --describe NAME   one analysis's documentation and SQL\n\n"
               "  --from TS, --to TS  the range [from, to) of stream time (ISO 8601); default: all\n"
               "                      (percentiles: the latest UTC day holding data)\n"
               "  --robot N           one robot (default: all)\n"
               "  --format F          table (default), csv or json\n"
               "  --db URL            database (default: $PGPULSE_DB, PG* variables, private cluster)\n");
}

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
        {"robot", required_argument, NULL, 'r'}, {"format", required_argument, NULL, 'F'},
        {"list", no_argument, NULL, 'l'}, {"describe", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'D'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    query_args a = {0};
    query_format fmt = QUERY_TABLE;
    const char *db = NULL, *describe = NULL;
    int list = 0, c;
    char err[512];
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': a.from = optarg; break;
        case 't': a.to = optarg; break;
        case 'r': {
            char *end;
            long r = strtol(optarg, &end, 10);
            if (*end || r <= 0 || r > 2147483647) {
                cli_error("query", "--robot: '%s' is not a robot id (a positive integer)", optarg);
                return CLI_USAGE;
            }
            a.robot = (int)r;
            break;
        }
        case 'F':
            if (query_parse_format(optarg, &fmt, err, sizeof err)) {
                cli_error("query", "%s", err);
                return CLI_USAGE;
            }
            break;
        case 'l': list = 1; break;
        case 'd': describe = optarg; break;
        case 'D': db = optarg; break;
        case 'h': cmd_query_usage(stdout); return CLI_OK;
        default: cmd_query_usage(stderr); return CLI_USAGE;
        }
    }
    if (list) {
        for (int i = 0; i < query_ndefs; i++) {
            char s[256];
            query_summary(&query_defs[i], s, sizeof s);
            printf("%-20s %s\n", query_defs[i].name, s);
        }
        return CLI_OK;
    }
    const char *name = describe ? describe : optind < argc ? argv[optind] : NULL;
    if (!name || (!describe && optind + 1 != argc)) {
        cmd_query_usage(stderr);
        return CLI_USAGE;
    }
    const query_def *q = query_find(name);
    if (!q) {
        cli_error("query", "no analysis named '%s' (pgpulse query --list)", name);
        return CLI_USAGE;
    }
    if (describe) {
        fputs(q->sql, stdout);
        return CLI_OK;
    }
    PGconn *conn = cli_connect("query", db, 1, NULL);
    if (!conn) return CLI_FAIL;
    /* No JIT, as `pgpulse serve` runs the same queries: the planner's estimates over the
     * queries' lateral probes and CTEs pass jit_above_cost, and compiling costs 0.2-0.3 s of a
     * statement that runs in tens of milliseconds. */
    PQclear(PQexec(conn, "SET jit = off"));
    buf out = {0};
    long n = query_run(conn, q, &a, fmt, &out, err, sizeof err);
    PQfinish(conn);
    if (n < 0) {
        cli_error("query", "%s", err);
        buf_free(&out);
        return CLI_FAIL;
    }
    fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    return CLI_OK;
}
