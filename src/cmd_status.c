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
            char shard[32], left_text[48] = "-", msg[512] = "";
            snprintf(shard, sizeof shard, "%s/%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
            slotbound_slot sl;
            double left = -1;
            if (status_slot(r, i, &sl) && slotbound_assess(&sl, &left, msg, sizeof msg) != SLOTBOUND_OK)
                buf_printf(&warnings, "warning: %s: %s\n", PQgetvalue(r, i, 0), msg);
            if (left >= 0 && sl.has_safe)
                snprintf(left_text, sizeof left_text, "%.1f MB (%.0f %%)",
                         (double)sl.safe_wal_bytes / (1024.0 * 1024.0), left * 100);
            const char *status = PQgetisnull(r, i, 10) ? "-" : PQgetvalue(r, i, 11);
            char status_text[48];
            snprintf(status_text, sizeof status_text, "%s%s", status,
                     !PQgetisnull(r, i, 13) && !strcmp(PQgetvalue(r, i, 13), "catchup")
                         ? " (catching up)" : "");
            printf("%-20s %-6s %-6s %12s %-14s %12s %9s %9s %-7s %-11s %s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), shard, PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                   PQgetisnull(r, i, 6) ? "-" : PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
                   PQgetvalue(r, i, 8), PQgetvalue(r, i, 9)[0] == 't' ? "yes" : "no", status_text,
                   left_text);
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
