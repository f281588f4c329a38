/* pgpulse import-assets DIR: loads the asset tables (plant, shop, asset_detail, robot,
 * controller, part, data_source, feed) from the CSV files of a directory in one transaction.
 * The files are read and checked before the database is touched (see assets.h); each defect
 * goes to standard error as FILE:LINE: what, and what was done; the per-table summary goes to
 * standard output. */
#include <getopt.h>
#include <stdio.h>

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
    assets_model *m = assets_model_new();
    if (assets_read_dir(m, dir, err, sizeof err) != 0) {
        cli_error("import-assets", "%s; nothing was imported", err);
        goto cleanup;
    }
    assets_print_defects(m, stderr);

    conn = cli_connect("import-assets", db, 1, NULL);
    if (!conn) goto cleanup;
    assets_write_stats st;
    if (assets_write(conn, m, &st, err, sizeof err) != 0) {
        cli_error("import-assets", "%s; nothing was imported (the transaction was rolled back)",
                  err);
        goto cleanup;
    }
    cmd_import_assets_summary(dir, m, &st);
    rc = CLI_OK;

cleanup:
    if (conn) PQfinish(conn);
    assets_model_free(m);
    return rc;
}
