/* pgpulse import-assets DIR: loads the asset tables (plant, shop, asset_detail, robot,
 * controller, part, data_source, feed) from the CSV files of a directory in one transaction.
 * The files are read and checked before the database is touched (see assets.h); each defect
 * goes to standard error as FILE:LINE: what, and what was done; the per-table summary goes to
 * standard output. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "assets.h"
#include "cli.h"

static void cmd_import_assets_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse import-assets [--db URL] DIR\n"
            "Loads the asset tables from the .csv files of DIR, each recognised by its header:\n"
            "  PLANT_ID,KEY,VALUE                 plant\n"
            "  SHOP_ID,KEY,VALUE,PLANT_ID         shop\n"
            "  DETAIL_ID,KEY,VALUE                asset_detail\n"
            "  TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID   robot, controller\n"
            "  PART_ID,TYPE,COMMENTS,DETAIL_ID    part\n"
            "  SOURCE_ID,NAME,PLANT_ID,SHOP_ID    data_source\n"
            "  FEED_ID,KEY,VALUE                  feed\n"
            "One transaction; running it again changes nothing. Defects are printed as\n"
            "FILE:LINE: what, and what was done; rejected rows also go to ingest_reject.\n"
            "See docs/assets.md for the rules.\n");
}

/* assets_write as a cli_retry step. */
typedef struct import_write {
    const assets_model *m;
    assets_write_stats *st;
} import_write;

static int cmd_import_assets_write(PGconn *conn, void *arg, char *err, size_t errlen)
{
    import_write *w = arg;
    return assets_write(conn, w->m, w->st, err, errlen);
}

static void cmd_import_assets_summary(const char *dir, const assets_model *m,
                                      const assets_write_stats *st)
{
    printf("imported %s (%zu file%s) in one transaction:\n", dir, m->nfiles,
           m->nfiles == 1 ? "" : "s");
    for (int i = 0; i < ASSETS_NTABLES; i++) {
        const assets_table_stats *t = &st->tables[i];
        printf("  %-13s %6llu loaded (%llu new, %llu updated, %llu unchanged)", t->table,
               (unsigned long long)t->rows, (unsigned long long)t->inserted,
               (unsigned long long)t->updated,
               (unsigned long long)(t->rows - t->inserted - t->updated));
        if (t->placeholders)
            printf(", %llu placeholder%s (%llu new)", (unsigned long long)t->placeholders,
                   t->placeholders == 1 ? "" : "s", (unsigned long long)t->placeholders_new);
        putchar('\n');
    }
    printf("  %-13s %6llu recorded (%llu new)\n", "ingest_reject", (unsigned long long)st->rejects,
           (unsigned long long)st->rejects_new);
    if (m->ndefects)
        printf("%zu defect%s reported on standard error\n", m->ndefects,
               m->ndefects == 1 ? "" : "s");
    else
        printf("no defects\n");
}

int cmd_import_assets(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *db = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'd') {
            db = optarg;
        } else {
            cmd_import_assets_usage(ch == 'h' ? stdout : stderr);
            return ch == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cmd_import_assets_usage(stderr);
        return CLI_USAGE;
    }
    const char *dir = argv[optind];

    int rc = CLI_FAIL;
    char err[1024];
    PGconn *conn = NULL;
    char *conninfo = NULL;
    assets_model *m = assets_model_new();
    if (assets_read_dir(m, dir, err, sizeof err) != 0) {
        cli_error("import-assets", "%s; nothing was imported", err);
        goto cleanup;
    }
    assets_print_defects(m, stderr);

    conn = cli_connect("import-assets", db, 1, &conninfo);
    if (!conn) goto cleanup;
    assets_write_stats st;
    /* A lost connection leaves the transaction committed or not: running it again is safe
     * either way (the counts are then the last attempt's). */
    if (cli_retry("import-assets", conninfo, CLI_RETRY_SECONDS, &conn, cmd_import_assets_write,
                  &(import_write){m, &st}, err, sizeof err) != 0) {
        if (!conn || PQstatus(conn) == CONNECTION_BAD)
            cli_error("import-assets",
                      "%s; the connection was lost: the import may or may not have committed, "
                      "and running the same command again finishes it",
                      err);
        else
            cli_error("import-assets",
                      "%s; nothing was imported (the transaction was rolled back)", err);
        goto cleanup;
    }
    cmd_import_assets_summary(dir, m, &st);
    rc = CLI_OK;

cleanup:
    if (conn) PQfinish(conn);
    free(conninfo);
    assets_model_free(m);
    return rc;
}
