/* pgpulse models: the model registry the learn stage keeps in PostgreSQL (issue 11) —
 * list, show, promote, and export in MLflow's file-store layout (learn_mlflow.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "learn_mlflow.h"
#include "pgconn.h"
#include "util.h"

static void cmd_models_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse models list [--db URL]\n"
            "       pgpulse models show NAME [--consumer C] [--db URL]\n"
            "       pgpulse models promote NAME VERSION [--consumer C] [--db URL]\n"
            "       pgpulse models export DIR [--db URL]\n"
            "The learn stage's experiments, runs and model versions (docs/learn.md).\n"
            "  list      every model: versions, champion and challenger with their figures\n"
            "  show      one model's versions, newest first, and its runs' latest metrics\n"
            "  promote   moves the champion alias to VERSION (the API predicts with it at\n"
            "            once); the stage makes its learner the champion at its next daily\n"
            "            snapshot, and its rule judges again at the later ones\n"
            "  export    writes every experiment, run, metric history and model version into\n"
            "            DIR in MLflow's file-store layout (mlflow ui --backend-store-uri DIR)\n"
            "  --consumer C   the consumer whose model it is (default: the only one)\n");
}

static int models_print(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = NULL;
    char err[512];
    if (pgconn_query(conn, sql, nparams, params, PGRES_TUPLES_OK, &r, err, sizeof err)) {
        cli_error("models", "%s", err);
        return -1;
    }
    int nf = PQnfields(r);
    for (int c = 0; c < nf; c++) printf("%s%s", c ? "\t" : "", PQfname(r, c));
    printf("\n");
    for (int i = 0; i < PQntuples(r); i++)
        for (int c = 0; c < nf; c++) printf("%s%s", PQgetvalue(r, i, c), c + 1 < nf ? "\t" : "\n");
    PQclear(r);
    return 0;
}

/* The consumer owning model name: the given one, else the only one. NULL with a message. */
static char *models_consumer(PGconn *conn, const char *name, const char *given)
{
    if (given) return xstrdup(given);
    PGresult *r = NULL;
    char err[512];
    const char *p[] = {name};
    if (pgconn_query(conn, "SELECT DISTINCT consumer FROM model_version WHERE name = $1 ORDER BY 1", 1, p,
                     PGRES_TUPLES_OK, &r, err, sizeof err)) {
        cli_error("models", "%s", err);
        return NULL;
    }
    char *c = NULL;
    if (PQntuples(r) == 1) c = xstrdup(PQgetvalue(r, 0, 0));
    else if (PQntuples(r) == 0) cli_error("models", "no model called '%s' (pgpulse models list)", name);
    else cli_error("models", "model '%s' exists for %d consumers: say which with --consumer", name, PQntuples(r));
    PQclear(r);
    return c;
}

/* ---------------------------------------------------------------------------------------- */
/* Export. */

static int64_t models_ms(PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? LEARN_MLFLOW_NO_TIME : strtoll(PQgetvalue(r, i, c), NULL, 10);
}

static learn_mlflow_status models_status(const char *s)
{
    return !strcmp(s, "FINISHED") ? LEARN_MLFLOW_FINISHED
           : !strcmp(s, "FAILED") ? LEARN_MLFLOW_FAILED
           : !strcmp(s, "KILLED") ? LEARN_MLFLOW_KILLED
                                  : LEARN_MLFLOW_RUNNING;
}

/* One run: its params (top-level keys of the jsonb, values as JSON text), tags and metric
 * histories. */
static int models_export_run(PGconn *conn, const learn_mlflow_store *st, PGresult *runs, int i,
                             char *err, size_t errlen)
{
    const char *run_id = PQgetvalue(runs, i, 0);
    json_error_t je;
    json_t *params = json_loads(PQgetvalue(runs, i, 5), 0, &je);
    size_t np = params ? json_object_size(params) : 0;
    learn_mlflow_kv *kv = xcalloc(np + 1, sizeof *kv);
    char **vals = xcalloc(np + 1, sizeof *vals);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v) {
        vals[k] = json_is_string(v) ? xstrdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        kv[k].key = key;
        kv[k].value = vals[k];
        k++;
    }
    learn_mlflow_kv tags[3] = {{"pgpulse.consumer", PQgetvalue(runs, i, 3)},
                               {"pgpulse.model", PQgetvalue(runs, i, 4)},
                               {"pgpulse.records", PQgetvalue(runs, i, 7)}};
    /* Metric histories, in step order. */
    PGresult *m = NULL;
    const char *p[] = {run_id};
    int rc = pgconn_query(conn,
                          "SELECT key, (extract(epoch FROM ts) * 1000)::int8, value, step FROM run_metric "
                          "WHERE run_id = $1 ORDER BY key, step",
                          1, p, PGRES_TUPLES_OK, &m, err, errlen);
    learn_mlflow_metric *mets = NULL;
    learn_mlflow_point *pts = NULL;
    size_t nm = 0;
    if (rc == 0) {
        int n = PQntuples(m);
        mets = xcalloc((size_t)n + 1, sizeof *mets);
        pts = xcalloc((size_t)n + 1, sizeof *pts);
        for (int j = 0; j < n; j++) {
            pts[j] = (learn_mlflow_point){strtoll(PQgetvalue(m, j, 1), NULL, 10), strtod(PQgetvalue(m, j, 2), NULL),
                                          strtoll(PQgetvalue(m, j, 3), NULL, 10)};
            if (j == 0 || strcmp(PQgetvalue(m, j, 0), PQgetvalue(m, j - 1, 0)) != 0)
                mets[nm++] = (learn_mlflow_metric){PQgetvalue(m, j, 0), &pts[j], 0};
            mets[nm - 1].npoints++;
        }
        learn_mlflow_run run = {.run_id = run_id,
                                .experiment_id = PQgetvalue(runs, i, 1),
                                .name = PQgetvalue(runs, i, 2),
                                .status = models_status(PQgetvalue(runs, i, 6)),
                                .start_ms = models_ms(runs, i, 8),
                                .end_ms = models_ms(runs, i, 9),
                                .params = kv,
                                .nparams = k,
                                .tags = tags,
                                .ntags = 3,
                                .metrics = mets,
                                .nmetrics = nm};
        if (run.start_ms == LEARN_MLFLOW_NO_TIME) run.start_ms = 0;
        rc = learn_mlflow_write_run(st, &run, err, errlen);
    }
    PQclear(m);
    free(mets);
    free(pts);
    for (size_t j = 0; j < k; j++) free(vals[j]);
    free(vals);
    free(kv);
    json_decref(params);
    return rc;
}

/* The model versions: registered models named NAME (one consumer) or CONSUMER.NAME, their
 * states written as the run's artifacts (artifacts/model/version-N.bin). */
static int models_export_versions(PGconn *conn, const learn_mlflow_store *st, char *err, size_t errlen)
{
    PGresult *r = NULL;
    if (pgconn_query(conn,
                     "SELECT CASE WHEN (SELECT count(DISTINCT consumer) FROM model_version w "
                     "WHERE w.name = v.name) > 1 THEN v.consumer || '.' || v.name ELSE v.name END, "
                     "v.version, (extract(epoch FROM v.created_at) * 1000)::int8, v.run_id, v.alias, "
                     "v.state, r.experiment_id, v.metrics::text, v.model "
                     "FROM model_version v JOIN run r USING (run_id) ORDER BY 1, 2",
                     0, NULL, PGRES_TUPLES_OK, &r, err, errlen))
        return -1;
    int rc = 0, n = PQntuples(r);
    for (int i = 0; i < n && rc == 0; i++) {
        const char *name = PQgetvalue(r, i, 0);
        int last = i + 1 == n || strcmp(name, PQgetvalue(r, i + 1, 0)) != 0;
        size_t slen;
        unsigned char *state = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 5), &slen);
        char *name_in_run = xasprintf("model/version-%s.bin", PQgetvalue(r, i, 1));
        rc = learn_mlflow_write_artifact(st, PQgetvalue(r, i, 6), PQgetvalue(r, i, 3), name_in_run, state, slen,
                                         err, errlen);
        free(name_in_run);
        PQfreemem(state);
        if (rc) break;
        char *source = xasprintf("runs:/%s/model", PQgetvalue(r, i, 3));
        const char *alias = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
        learn_mlflow_kv vt[2] = {{"pgpulse.metrics", PQgetvalue(r, i, 7)}, {"pgpulse.model", PQgetvalue(r, i, 8)}};
        learn_mlflow_model_version mv = {.name = name,
                                         .version = strtoll(PQgetvalue(r, i, 1), NULL, 10),
                                         .creation_ms = strtoll(PQgetvalue(r, i, 2), NULL, 10),
                                         .last_updated_ms = strtoll(PQgetvalue(r, i, 2), NULL, 10),
                                         .source = source,
                                         .run_id = PQgetvalue(r, i, 3),
                                         .aliases = alias ? &alias : NULL,
                                         .naliases = alias ? 1 : 0,
                                         .tags = vt,
                                         .ntags = 2};
        rc = learn_mlflow_write_model_version(st, &mv, err, errlen);
        free(source);
        if (rc || !last) continue;
        /* After a model's last version: the registered model with its aliases. */
        learn_mlflow_alias al[2];
        size_t na = 0;
        int first = i;
        while (first > 0 && !strcmp(PQgetvalue(r, first - 1, 0), name)) first--;
        for (int j = first; j <= i; j++)
            if (!PQgetisnull(r, j, 4) && na < 2)
                al[na++] = (learn_mlflow_alias){PQgetvalue(r, j, 4), strtoll(PQgetvalue(r, j, 1), NULL, 10)};
        learn_mlflow_registered_model rm = {.name = name,
                                            .creation_ms = strtoll(PQgetvalue(r, first, 2), NULL, 10),
                                            .last_updated_ms = strtoll(PQgetvalue(r, i, 2), NULL, 10),
                                            .aliases = al,
                                            .naliases = na};
        rc = learn_mlflow_write_registered_model(st, &rm, err, errlen);
    }
    PQclear(r);
    return rc;
}

static int models_export(PGconn *conn, const char *dir)
{
    char err[1024];
    learn_mlflow_store st;
    if (learn_mlflow_store_open(&st, dir, NULL, err, sizeof err)) {
        cli_error("models", "%s", err);
        return CLI_FAIL;
    }
    PGresult *e = NULL, *r = NULL;
    int rc = CLI_FAIL, nruns = 0, nexp = 0;
    if (pgconn_query(conn,
                     "SELECT experiment_id::text, name, description, (extract(epoch FROM created_at) * 1000)::int8 "
                     "FROM experiment ORDER BY experiment_id",
                     0, NULL, PGRES_TUPLES_OK, &e, err, sizeof err) ||
        pgconn_query(conn,
                     "SELECT run_id, experiment_id::text, name, consumer, model, params::text, status, "
                     "records::text, (extract(epoch FROM started_at) * 1000)::int8, "
                     "(extract(epoch FROM ended_at) * 1000)::int8 FROM run ORDER BY run_id",
                     0, NULL, PGRES_TUPLES_OK, &r, err, sizeof err))
        goto done;
    for (int i = 0; i < PQntuples(e); i++) {
        learn_mlflow_kv tags[1] = {{"mlflow.note.content", PQgetvalue(e, i, 2)}};
        int64_t ms = strtoll(PQgetvalue(e, i, 3), NULL, 10);
        learn_mlflow_experiment ex = {.id = PQgetvalue(e, i, 0), .name = PQgetvalue(e, i, 1), .creation_ms = ms,
                                      .last_update_ms = ms, .tags = tags, .ntags = 1};
        if (learn_mlflow_write_experiment(&st, &ex, err, sizeof err)) goto done;
        nexp++;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        if (models_export_run(conn, &st, r, i, err, sizeof err)) goto done;
        nruns++;
    }
    if (models_export_versions(conn, &st, err, sizeof err)) goto done;
    printf("exported %d experiment%s and %d run%s to %s (mlflow ui --backend-store-uri %s)\n", nexp,
           nexp == 1 ? "" : "s", nruns, nruns == 1 ? "" : "s", dir, dir);
    rc = CLI_OK;
done:
    if (rc != CLI_OK) cli_error("models", "export: %s", err);
    PQclear(e);
    PQclear(r);
    learn_mlflow_store_close(&st);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */

int cmd_models(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"consumer", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *consumer = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'c': consumer = optarg; break;
        case 'h': cmd_models_usage(stdout); return CLI_OK;
        default: cmd_models_usage(stderr); return CLI_USAGE;
        }
    }
    int nargs = argc - optind;
    const char *sub = nargs ? argv[optind] : NULL;
    int want = !sub ? -1 : !strcmp(sub, "list") ? 1 : !strcmp(sub, "show") || !strcmp(sub, "export") ? 2
               : !strcmp(sub, "promote") ? 3 : -1;
    if (want < 0 || nargs != want) {
        if (sub && want < 0) cli_error("models", "unknown subcommand '%s'", sub);
        cmd_models_usage(stderr);
        return CLI_USAGE;
    }
    PGconn *conn = cli_connect("models", db, 1, NULL);
    if (!conn) return CLI_FAIL;
    int rc = CLI_OK;
    if (!strcmp(sub, "list")) {
        rc = models_print(conn,
                          "SELECT consumer, name, count(*) AS versions, "
                          "max(version) FILTER (WHERE alias = 'champion') AS champion, "
                          "max(version) FILTER (WHERE alias = 'challenger') AS challenger, "
                          "(array_agg(metrics::text ORDER BY version) FILTER (WHERE alias = 'champion'))[1] "
                          "AS champion_metrics, max(stream_ts) AS latest FROM model_version "
                          "GROUP BY 1, 2 ORDER BY 1, 2",
                          0, NULL) ? CLI_FAIL : CLI_OK;
    } else if (!strcmp(sub, "show")) {
        char *c = models_consumer(conn, argv[optind + 1], consumer);
        const char *p[] = {argv[optind + 1], c};
        rc = !c || models_print(conn,
                                "SELECT version, coalesce(alias, '') AS alias, model, stream_ts, "
                                "length(state) AS state_bytes, metrics::text AS metrics FROM model_version "
                                "WHERE name = $1 AND consumer = $2 ORDER BY version DESC",
                                2, p) ||
                     models_print(conn,
                                  "SELECT r.name AS run, r.model, r.status, r.records, m.key, m.step, m.value "
                                  "FROM run r JOIN LATERAL (SELECT DISTINCT ON (key) key, step, value FROM run_metric "
                                  "WHERE run_id = r.run_id ORDER BY key, step DESC) m ON true "
                                  "WHERE r.consumer = $2 AND r.name LIKE $1 || '%' ORDER BY 1, 5",
                                  2, p)
                 ? CLI_FAIL : CLI_OK;
        free(c);
    } else if (!strcmp(sub, "promote")) {
        char *c = models_consumer(conn, argv[optind + 1], consumer);
        long v;
        if (!c || cli_parse_long("models", "VERSION", argv[optind + 2], 1, 1L << 30, &v)) {
            rc = c ? CLI_USAGE : CLI_FAIL;
        } else {
            char err[512];
            const char *p[] = {argv[optind + 1], c, argv[optind + 2]};
            PGresult *r = NULL;
            /* Two statements in one transaction: the alias is unique per model. */
            if (pgconn_query(conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, err, sizeof err) ||
                pgconn_query(conn,
                             "UPDATE model_version SET alias = NULL WHERE name = $1 AND consumer = $2 "
                             "AND alias = 'champion' AND version <> $3::int",
                             3, p, PGRES_COMMAND_OK, NULL, err, sizeof err) ||
                pgconn_query(conn,
                             "UPDATE model_version SET alias = 'champion' WHERE name = $1 AND consumer = $2 "
                             "AND version = $3::int RETURNING version",
                             3, p, PGRES_TUPLES_OK, &r, err, sizeof err)) {
                cli_error("models", "%s", err);
                rc = CLI_FAIL;
            } else if (PQntuples(r) == 0) {
                cli_error("models", "%s has no version %s (pgpulse models show %s)", argv[optind + 1],
                          argv[optind + 2], argv[optind + 1]);
                rc = CLI_FAIL;
            } else {
                printf("%s version %s of consumer %s is the champion\n", argv[optind + 1], argv[optind + 2], c);
            }
            if (pgconn_query(conn, rc == CLI_OK ? "COMMIT" : "ROLLBACK", 0, NULL, PGRES_COMMAND_OK, NULL,
                             err, sizeof err) && rc == CLI_OK) {
                cli_error("models", "%s", err);
                rc = CLI_FAIL;
            }
            PQclear(r);
        }
        free(c);
    } else {
        rc = models_export(conn, argv[optind + 1]);
    }
    PQfinish(conn);
    return rc;
}
