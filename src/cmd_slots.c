/* pgpulse slots list | drop CONSUMER: the replication slots of the stream consumers. A slot
 * keeps every WAL segment its consumer has not confirmed, so a consumer that is gone for good
 * should be dropped. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "stream.h"

int cmd_slots(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *db = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'd') {
            db = optarg;
        } else {
            FILE *out = ch == 'h' ? stdout : stderr;
            fprintf(out, "usage: pgpulse slots list [--db URL]\n"
                         "       pgpulse slots drop CONSUMER [--db URL]\n"
                         "list: each consumer's slot, the WAL it holds, its state.\n"
                         "drop: removes a stopped consumer: its slot, publication, checkpoint and\n"
                         "stage state (its output tables stay); it starts afresh if run again.\n");
            return ch == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    int list = optind + 1 == argc && !strcmp(argv[optind], "list");
    int drop = optind + 2 == argc && !strcmp(argv[optind], "drop");
    if (!list && !drop) {
        cli_error("slots", "expected `list` or `drop CONSUMER` (see --help)");
        return CLI_USAGE;
    }
    PGconn *conn = cli_connect("slots", db, 1, NULL);
    if (!conn) return CLI_FAIL;
    char err[1024];
    int rc = CLI_OK;
    if (drop) {
        if (stream_drop(conn, argv[optind + 1], err, sizeof err) != 0) {
            cli_error("slots", "%s", err);
            rc = CLI_FAIL;
        } else {
            printf("dropped consumer %s\n", argv[optind + 1]);
        }
    } else {
        PGresult *r = stream_status(conn, err, sizeof err);
        if (!r) {
            cli_error("slots", "%s", err);
            rc = CLI_FAIL;
        } else {
            printf("%-20s %-24s %-8s %14s %s\n", "consumer", "slot", "status", "held bytes",
                   "in use");
            for (int i = 0; i < PQntuples(r); i++) {
                if (PQgetisnull(r, i, 10)) continue; /* polling consumers have no slot */
                printf("%-20s %-24s %-8s %14s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 10),
                       PQgetvalue(r, i, 11), PQgetisnull(r, i, 6) ? "-" : PQgetvalue(r, i, 6),
                       PQgetvalue(r, i, 9)[0] == 't' ? "yes" : "no");
            }
            PQclear(r);
        }
    }
    PQfinish(conn);
    return rc;
}
