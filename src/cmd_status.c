/* pgpulse status [--json]: every consumer ("stage") — rows consumed, position, lag in bytes
 * and seconds, checkpoint age, whether it runs (see stream_status). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "stream.h"

static json_t *cmd_status_num(PGresult *r, int row, int col, int integer)
{
    if (PQgetisnull(r, row, col)) return json_null();
    return integer ? json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10))
                   : json_real(strtod(PQgetvalue(r, row, col), NULL));
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL;
    int json = 0, ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'd')
            db = optarg;
        else if (ch == 'j')
            json = 1;
        else {
            FILE *out = ch == 'h' ? stdout : stderr;
            fprintf(out, "usage: pgpulse status [--json] [--db URL]\n"
                         "Every stream consumer: rows consumed, position, lag (bytes of WAL its slot\n"
                         "holds, seconds behind), checkpoint age, and whether it runs.\n");
            return ch == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    PGconn *conn = cli_connect("status", db, 1, NULL);
    if (!conn) return CLI_FAIL;
    char err[1024];
    PGresult *r = stream_status(conn, err, sizeof err);
    if (!r) {
        cli_error("status", "%s", err);
        PQfinish(conn);
        return CLI_FAIL;
    }
    if (json) {
        json_t *stages = json_array();
        for (int i = 0; i < PQntuples(r); i++) {
            json_t *o = json_object();
            char shard[32];
            snprintf(shard, sizeof shard, "%s/%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
            json_object_set_new(o, "name", json_string(PQgetvalue(r, i, 0)));
            json_object_set_new(o, "stages", json_string(PQgetvalue(r, i, 12)));
            json_object_set_new(o, "source", json_string(PQgetvalue(r, i, 1)));
            json_object_set_new(o, "shard", json_string(shard));
            json_object_set_new(o, "rows", cmd_status_num(r, i, 4, 1));
            json_object_set_new(o, "lsn", PQgetisnull(r, i, 5) ? json_null()
                                                               : json_string(PQgetvalue(r, i, 5)));
            json_object_set_new(o, "lag_bytes", cmd_status_num(r, i, 6, 1));
            json_object_set_new(o, "lag_seconds", cmd_status_num(r, i, 7, 0));
            json_object_set_new(o, "checkpoint_age_seconds", cmd_status_num(r, i, 8, 0));
            json_object_set_new(o, "active", json_boolean(PQgetvalue(r, i, 9)[0] == 't'));
            json_object_set_new(o, "slot", PQgetisnull(r, i, 10) ? json_null()
                                                                 : json_string(PQgetvalue(r, i, 10)));
            json_object_set_new(o, "slot_status", PQgetisnull(r, i, 11)
                                                      ? json_null()
                                                      : json_string(PQgetvalue(r, i, 11)));
            json_array_append_new(stages, o);
        }
        json_t *root = json_pack("{s:o}", "stages", stages);
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        printf("%s\n", text);
        free(text);
        json_decref(root);
    } else if (PQntuples(r) == 0) {
        printf("no stream consumers yet (pgpulse live starts one)\n");
    } else {
        printf("%-20s %-6s %-6s %12s %-14s %12s %9s %9s %-7s %s\n", "consumer", "source", "shard",
               "rows", "position", "lag bytes", "lag s", "ckpt age", "running", "slot status");
        for (int i = 0; i < PQntuples(r); i++) {
            char shard[32];
            snprintf(shard, sizeof shard, "%s/%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
            printf("%-20s %-6s %-6s %12s %-14s %12s %9s %9s %-7s %s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), shard, PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                   PQgetisnull(r, i, 6) ? "-" : PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
                   PQgetvalue(r, i, 8), PQgetvalue(r, i, 9)[0] == 't' ? "yes" : "no",
                   PQgetisnull(r, i, 10) ? "-" : PQgetvalue(r, i, 11));
        }
    }
    PQclear(r);
    PQfinish(conn);
    return CLI_OK;
}
