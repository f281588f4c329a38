/* pgpulse status [--json]: every consumer ("stage") — rows consumed, position, lag in bytes
 * and seconds, checkpoint age, whether it runs, and how close its slot is to the server's bound
 * on the WAL a slot may hold (max_slot_wal_keep_size), with a warning line for a slot that is
 * near it, past it or lost (see stream_status, slotbound.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "status_json.h"
#include "slotbound.h"
#include "stream.h"

/* "12.3 MB (45 %)": the WAL a slot may still hold, and its share of the bound. */
static void status_left_text(char *out, size_t len, long long safe_bytes, double left)
{
    snprintf(out, len, "%.1f MB (%.0f %%)", (double)safe_bytes / (1024.0 * 1024.0), left * 100);
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
                         "holds, seconds behind), checkpoint age, whether it runs, and the WAL its\n"
                         "slot may still hold before max_slot_wal_keep_size (a warning line when\n"
                         "less than 20 %% is left, or the slot is past it or lost).\n");
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
        json_t *root = status_json(r);
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        printf("%s\n", text);
        free(text);
        json_decref(root);
    } else if (PQntuples(r) == 0) {
        printf("no stream consumers yet (pgpulse live starts one)\n");
    } else {
        printf("%-20s %-6s %-6s %12s %-14s %12s %9s %9s %-7s %-11s %s\n", "consumer", "source",
               "shard", "rows", "position", "lag bytes", "lag s", "ckpt age", "running",
               "slot status", "WAL left");
        buf warnings = {0};
        for (int i = 0; i < PQntuples(r); i++) {
            char shard[32], left_text[48] = "-", msg[2048] = "";
            snprintf(shard, sizeof shard, "%s/%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
            json_t *nodes = status_nodes(r, i);
            double left = -1;
            if (status_assess(r, i, nodes, &left, msg, sizeof msg) && msg[0])
                buf_printf(&warnings, "warning: %s: %s\n", PQgetvalue(r, i, 0), msg);
            if (left >= 0 && !PQgetisnull(r, i, 14))
                status_left_text(left_text, sizeof left_text,
                                 strtoll(PQgetvalue(r, i, 14), NULL, 10), left);
            const char *status = PQgetisnull(r, i, 10) ? "-" : PQgetvalue(r, i, 11);
            char status_text[48];
            snprintf(status_text, sizeof status_text, "%s%s", status,
                     !PQgetisnull(r, i, 13) && !strcmp(PQgetvalue(r, i, 13), "catchup")
                         ? " (catching up)" : "");
            printf("%-20s %-6s %-6s %12s %-14s %12s %9s %9s %-7s %-11s %s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), shard, PQgetvalue(r, i, 4),
                   nodes ? "per node:" : PQgetvalue(r, i, 5),
                   PQgetisnull(r, i, 6) ? "-" : PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
                   PQgetvalue(r, i, 8), PQgetvalue(r, i, 9)[0] == 't' ? "yes" : "no", status_text,
                   left_text);
            /* On Citus, each node's part under its consumer. */
            size_t k;
            json_t *node;
            json_array_foreach(nodes, k, node)
            {
                json_t *lag = json_object_get(node, "lag_bytes"),
                       *safe = json_object_get(node, "slot_safe_wal_bytes"),
                       *l = json_object_get(node, "slot_wal_left");
                char lag_text[32] = "-", node_left[48] = "-";
                if (json_is_integer(lag))
                    snprintf(lag_text, sizeof lag_text, "%lld", (long long)json_integer_value(lag));
                if (json_is_number(l) && json_is_integer(safe))
                    status_left_text(node_left, sizeof node_left, json_integer_value(safe),
                                     json_number_value(l));
                printf("  %-18s %-6s %-6s %12s %-14s %12s %9s %9s %-7s %-11s %s\n",
                       json_string_value(json_object_get(node, "node")), "", "", "",
                       json_string_value(json_object_get(node, "lsn")), lag_text, "", "", "",
                       json_string_value(json_object_get(node, "slot_status")), node_left);
            }
            json_decref(nodes);
        }
        if (PQntuples(r) && !PQgetisnull(r, 0, 15))
            printf("max_slot_wal_keep_size: %.1f MB\n",
                   (double)strtoll(PQgetvalue(r, 0, 15), NULL, 10) / (1024.0 * 1024.0));
        else
            printf("max_slot_wal_keep_size: unbounded (-1): a stopped consumer's slot keeps WAL "
                   "without limit\n");
        if (warnings.len) fwrite(warnings.data, 1, warnings.len, stdout);
        buf_free(&warnings);
    }
    PQclear(r);
    PQfinish(conn);
    return CLI_OK;
}
