/* pgpulse: command dispatch only. Each subcommand lives in src/cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pgconn.h"

static const struct {
    const char *name;
    cli_cmd_fn *fn;
    const char *summary;
} main_cmds[] = {
    {"db", cmd_db, "start|stop|restart|status|url: the private PostgreSQL under $PGPULSE_HOME (--citus N: a Citus cluster)"},
    {"init", cmd_init, "apply the schema migrations (idempotent)"},
    {"import-assets", cmd_import_assets, "DIR: load plant/shop/robot/part tables from CSV"},
    {"import-maintenance", cmd_import_maintenance, "FILE|-: load work orders (CSV or JSON lines) into maintenance_event"},
    {"ingest", cmd_ingest, "FILE|-: load readings from CSV (batched COPY BINARY, idempotent)"},
    {"gen", cmd_gen, "simulate a robot fleet with labelled faults (to the database or CSV)"},
    {"live", cmd_live, "the live stage: per-robot and per-second state for dashboards"},
    {"detect", cmd_detect, "outlier detection: live anomaly episodes, or --replay a CSV"},
    {"consume", cmd_consume, "--stages a,b: run stages over new readings (one consumer)"},
    {"status", cmd_status, "[--json]: every consumer's rows, position, lag and checkpoint age"},
    {"slots", cmd_slots, "list | drop CONSUMER: the consumers' replication slots"},
    {"learn", cmd_learn, "online learning: the live stage, or --replay any CSV (docs/learn.md)"},
    {"models", cmd_models, "list|show|promote|export: the learn stage's model registry (MLflow layout)"},
    {"query", cmd_query, "NAME | --list: the canned analyses, from the warehouse (docs/warehouse.md)"},
    {"warehouse", cmd_warehouse, "the warehouse stage (schema dw); refresh|stats|retention (docs/warehouse.md)"},
    {"report", cmd_report, "[--from --to] --out DIR: a report (PDF, HTML, PNG and SVG figures)"},
    {"serve", cmd_serve, "the live dashboard, JSON API and metrics over HTTP (docs/api.md)"},
    {"run", cmd_run, "start the database, initialise it, load --data FILE if given"},
};

static void main_usage(FILE *out)
{
    fprintf(out, "usage: pgpulse COMMAND [options]   (pgpulse COMMAND --help for its options)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof main_cmds / sizeof main_cmds[0]; i++)
        fprintf(out, "  %-14s %s\n", main_cmds[i].name, main_cmds[i].summary);
    fprintf(out, "\nThe database: --db URL, else $PGPULSE_DB, else the PG* environment, else the "
                 "private cluster\n(pgpulse db start).\n");
}

int main(int argc, char **argv)
{
    /* A password given on the command line (--db URL) is visible to every user of the machine
     * in ps and /proc/PID/cmdline: hide it at once, and say what is safer. */
    if (pgconn_hide_argv(argc, argv) > 0)
        fprintf(stderr, "pgpulse: warning: a password on the command line can be seen by other "
                        "users; PGPULSE_DB or a passfile keeps it private (docs/security.md)\n");
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        main_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (size_t i = 0; i < sizeof main_cmds / sizeof main_cmds[0]; i++)
        if (!strcmp(argv[1], main_cmds[i].name)) return main_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "pgpulse: unknown command '%s'\n\n", argv[1]);
    main_usage(stderr);
    return CLI_USAGE;
}
