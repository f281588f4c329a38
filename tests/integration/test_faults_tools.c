/* Deterministic connection faults in `pgpulse gen --db`, `import-assets` and `init`: each runs
 * once through the fault proxy undisturbed, then again with the connection cut at a sample of
 * the message boundaries of that run (both directions, every connection the command makes; the
 * sample is drawn from the printed seed). Every run must exit 0 and leave the tables it writes
 * equal, by md5, to the undisturbed run's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "rng.h"
#include "util.h"

#define RUN_LIMIT_S 120 /* a run still going after this is a hang: it is killed and fails */

/* One command under test. */
typedef struct sweep {
    const char *name;           /* for messages */
    const char *db;             /* direct conninfo, for resetting and reading the tables */
    const char *const *argv;    /* the command, its --db pointing at the proxy */
    const char *const *apps;    /* application_name of each kind of connection it makes */
    const int *sample;          /* how many cut points to draw on each (0: all) */
    void (*reset)(PGconn *c);   /* empties what the command writes */
    const char *state_sql;      /* one text value: the md5s of what the command wrote */
    const char *done;           /* text in its stdout or stderr that a complete run prints */
} sweep;

/* A cut point: which connections, direction, the nth message, before or after. */
typedef struct point {
    const char *app;
    faultproxy_dir dir;
    long n;
    faultproxy_when when;
    faultproxy_kind kind; /* what the nth message was in the undisturbed run */
} point;

static harness_out sweep_run(const sweep *s)
{
    harness_out o = harness_pgpulse_limit(RUN_LIMIT_S, NULL, s->argv);
    harness_proxy_wait_idle();
    return o;
}

/* Lists every boundary of the undisturbed run on connections of app: before each message in
 * each direction, and after each message to the server that the server answers. */
static size_t add_points(point **pts, size_t n, const char *app)
{
    size_t ne;
    faultproxy_event *ev = faultproxy_trace(harness_proxy(), "application_name", app, &ne);
    if (getenv("PGPULSE_FAULTS_TRACE"))
        for (size_t i = 0; i < ne; i++)
            print_message("  %s conn %d %s %s\n", app, ev[i].conn,
                          ev[i].dir == FAULTPROXY_TO_SERVER ? "to server" : "to client",
                          faultproxy_kind_name(ev[i].kind));
    long k[2] = {0, 0};
    for (size_t i = 0; i < ne; i++) {
        faultproxy_dir d = ev[i].dir;
        k[d]++;
        int answered = d == FAULTPROXY_TO_SERVER && i + 1 < ne && ev[i + 1].conn == ev[i].conn &&
                       ev[i + 1].dir == FAULTPROXY_TO_CLIENT;
        for (int when = 0; when <= answered; when++) {
            *pts = xrealloc(*pts, (n + 1) * sizeof **pts);
            (*pts)[n++] = (point){app, d, k[d], (faultproxy_when)when, ev[i].kind};
        }
    }
    free(ev);
    return n;
}

/* Draws up to `take` of pts[0..n) to its front (a partial Fisher-Yates shuffle); returns how
 * many were drawn. */
static size_t draw(point *pts, size_t n, size_t take, rng *r)
{
    if (take == 0 || take > n) take = n;
    for (size_t i = 0; i < take; i++) {
        size_t j = i + (size_t)rng_below(r, n - i);
        point t = pts[i];
        pts[i] = pts[j];
        pts[j] = t;
    }
    return take;
}

/* Runs the command undisturbed, then cut at a sample of its boundaries on each kind of
 * connection, drawn with the seed (PGPULSE_FAULTS_SAMPLE=N draws N on each instead, 0 all),
 * and checks each run. */
static void sweep_sample(const sweep *s, uint64_t stream)
{
    faultproxy *p = harness_proxy();
    PGconn *c = harness_connect(s->db);
    /* Many short runs: commits need not wait for the disk (visibility is the same). */
    char *sql = xasprintf("ALTER DATABASE %s SET synchronous_commit = off", PQdb(c));
    harness_exec(c, sql);
    free(sql);
    s->reset(c);
    size_t nev;
    free(harness_proxy_record(s->argv, NULL, &nev));
    char *ref = harness_query_text(c, s->state_sql);
    rng r;
    rng_seed(&r, harness_seed(), stream);
    const char *override = getenv("PGPULSE_FAULTS_SAMPLE");
    /* Every kind of connection's points, listed before any run adds to the trace. */
    size_t napps = 0, total = 0, ran = 0;
    while (s->apps[napps]) napps++;
    point **all = xcalloc(napps, sizeof *all);
    size_t *nall = xcalloc(napps, sizeof *nall);
    for (size_t a = 0; a < napps; a++) {
        nall[a] = add_points(&all[a], 0, s->apps[a]);
        if (nall[a] == 0) fail_msg("%s: no connection named %s in the trace", s->name, s->apps[a]);
        total += nall[a];
    }
    int64_t t0 = util_mono_us();
    for (size_t a = 0; a < napps; a++) {
        point *pts = all[a];
        size_t take = draw(pts, nall[a],
                           override ? strtoul(override, NULL, 10) : (size_t)s->sample[a], &r);
        print_message("%s: %zu of the %zu cut points on %s\n", s->name, take, nall[a],
                      s->apps[a]);
        for (size_t i = 0; i < take; i++, ran++) {
            const point *pt = &pts[i];
            char what[160];
            snprintf(what, sizeof what, "%s: cut %s %s #%ld to the %s on %s", s->name,
                     pt->when ? "after" : "before", faultproxy_kind_name(pt->kind), pt->n,
                     pt->dir == FAULTPROXY_TO_SERVER ? "server" : "client", pt->app);
            s->reset(c);
            faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name",
                                                 .match_value = pt->app,
                                                 .dir = pt->dir,
                                                 .kind = FAULTPROXY_ANY,
                                                 .n = pt->n,
                                                 .when = pt->when,
                                                 .action = FAULTPROXY_CUT});
            harness_out o = sweep_run(s);
            int fired = faultproxy_fired(p, NULL);
            faultproxy_arm(p, NULL);
            if (!fired) fail_msg("%s: the rule never fired", what);
            if (o.status != 0) fail_msg("%s: exited with %d:\n%s", what, o.status, o.err);
            if (!strstr(o.out, s->done) && !strstr(o.err, s->done))
                fail_msg("%s: no '%s' in its output:\n%s%s", what, s->done, o.out, o.err);
            harness_out_free(&o);
            char *got = harness_query_text(c, s->state_sql);
            if (strcmp(got, ref))
                fail_msg("%s: the tables differ:\n  %s\n  want %s", what, got, ref);
            free(got);
        }
    }
    print_message("%s: %zu of %zu cut points, each run leaving the undisturbed run's tables, in "
                  "%.1f s\n",
                  s->name, ran, total, (double)(util_mono_us() - t0) / 1e6);
    for (size_t a = 0; a < napps; a++) free(all[a]);
    free(all);
    free(nall);
    free(ref);
    PQfinish(c);
}

/* ------------------------------------------------------------------------------------------ */

static void gen_reset(PGconn *c)
{
    harness_exec(c, "BEGIN; DELETE FROM reading; DELETE FROM ingest_batch; DELETE FROM "
                    "ingest_reject; DELETE FROM fault; DELETE FROM maintenance_event; DELETE FROM "
                    "robot; COMMIT");
}

static void test_gen_db_cut_at_sampled_boundaries(void **state)
{
    (void)state;
    const char *db = harness_db("faults_gen", 1);
    if (!db) skip();
    char *proxied = xstrdup(harness_proxy_db("faults_gen"));
    /* Heavy faults: duplicates and late rows take the loader's staging path, wear writes
     * maintenance events; the run crosses midnight. */
    const char *argv[] = {"gen",     "--db",       proxied,  "--robots", "3",
                          "--rows",  "3000",       "--seed", "5",        "--faults",
                          "heavy",   "--batch",    "500",    "--start",  "2026-02-01T23:30:00Z",
                          NULL};
    /* The loader's connection is swept whole by test_faults: a few of its points here. */
    const char *apps[] = {"pgpulse-gen", "pgpulse-ingest", NULL};
    const int sample[] = {16, 6};
    sweep s = {
        .name = "gen --db",
        .db = db,
        .argv = argv,
        .apps = apps,
        .sample = sample,
        .reset = gen_reset,
        .state_sql =
            "SELECT concat_ws(' ', "
            "(SELECT count(*) || ' ' || md5(string_agg(concat_ws(',', robot_id, ts, axis1, axis2, "
            "axis3, axis4, axis5, axis6, axis7, axis8), ';' ORDER BY robot_id, ts)) FROM reading), "
            "(SELECT count(*) || ' ' || md5(string_agg(concat_ws(',', robot_id, axis, kind, level, "
            "ts_start, ts_end, magnitude, rows, source), ';' ORDER BY robot_id, kind, axis, "
            "ts_start)) FROM fault), "
            "(SELECT count(*) || ' ' || md5(string_agg(concat_ws(',', robot_id, axis, kind, ts, "
            "detail, source), ';' ORDER BY robot_id, kind, ts)) FROM maintenance_event), "
            "(SELECT count(*) || ' ' || string_agg(robot_id || '=' || name, ',' ORDER BY robot_id) "
            "FROM robot), "
            "(SELECT count(*) || ' ' || sum(rows_inserted) || ' ' || sum(rows_present) || ' ' || "
            "md5(string_agg(concat_ws(',', seq, rows_read, rows_inserted, rows_present, ts_min, "
            "ts_max), ';' ORDER BY seq)) FROM ingest_batch))",
        .done = "3 robots, 3,000 rows",
    };
    sweep_sample(&s, 11);
    free(proxied);
}

/* ------------------------------------------------------------------------------------------ */

static void put(const char *dir, const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);
    harness_write_file(p, text);
    free(p);
}

static void assets_reset(PGconn *c)
{
    harness_exec(c, "BEGIN; DELETE FROM ingest_reject; DELETE FROM feed; DELETE FROM data_source; "
                    "DELETE FROM part; DELETE FROM controller; DELETE FROM robot; DELETE FROM "
                    "asset_detail; DELETE FROM shop; DELETE FROM plant; COMMIT");
}

static void test_import_assets_cut_at_sampled_boundaries(void **state)
{
    (void)state;
    const char *db = harness_db("faults_assets", 1);
    if (!db) skip();
    char *proxied = xstrdup(harness_proxy_db("faults_assets"));
    /* Every table, a placeholder and rejected rows. */
    char *dir = xasprintf("%s/assets", harness_tmpdir());
    if (mkdir(dir, 0700) != 0) fail_msg("mkdir %s failed", dir);
    put(dir, "plants.csv", "PLANT_ID,KEY,VALUE\n1,NAME,North\n1,LOCATION,Oslo\n2,NAME,South\n");
    put(dir, "shops.csv",
        "SHOP_ID,KEY,VALUE,PLANT_ID\n1,NAME,Body,1\n1,PROCESS,Weld,1\n2,NAME,Paint,9\n"
        "x,NAME,Bad,1\n");
    put(dir, "details.csv",
        "DETAIL_ID,KEY,VALUE\n1,PROVIDER,Acme\n1,PURCHASE DATE,3/14/2021\n2,PROVIDER,Zed\n");
    put(dir, "equipment.csv",
        "TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID\n"
        "1,Robot,10.0.0.1,R1,1,1\n2,Robot,10.0.0.2,R2,2,2\n3,Controller,10.0.0.3,C1,1,1\n"
        "4,Conveyor,10.0.0.4,V1,,1\n");
    put(dir, "parts.csv", "PART_ID,TYPE,COMMENTS,DETAIL_ID\n1,Joint,Joint 1,1\n2,Gear,,2\n");
    put(dir, "sources.csv", "SOURCE_ID,NAME,PLANT_ID,SHOP_ID\n1,Line 1,1,1\n");
    put(dir, "feeds.csv", "FEED_ID,KEY,VALUE\n1,NAME,Current\n1,UNIT,A\n1,LOWER LIMIT,0\n");
    const char *argv[] = {"import-assets", "--db", proxied, dir, NULL};
    const char *apps[] = {"pgpulse-import-assets", NULL};
    const int sample[] = {20};
    sweep s = {
        .name = "import-assets",
        .db = db,
        .argv = argv,
        .apps = apps,
        .sample = sample,
        .reset = assets_reset,
        .state_sql =
            "SELECT count(*) || ' ' || md5(string_agg(x, '|' ORDER BY x)) FROM ("
            " SELECT 'p' || row(plant_id, name, location, attrs, placeholder)::text AS x FROM plant"
            " UNION ALL SELECT 's' || row(shop_id, plant_id, name, processes, attrs, placeholder)"
            "::text FROM shop"
            " UNION ALL SELECT 'd' || row(detail_id, provider, purchase_date, attrs, placeholder)"
            "::text FROM asset_detail"
            " UNION ALL SELECT 'r' || row(robot_id, name, shop_id, ip_address, detail_id)::text "
            "FROM robot"
            " UNION ALL SELECT 'c' || row(controller_id, name, shop_id, ip_address, detail_id)"
            "::text FROM controller"
            " UNION ALL SELECT 'a' || row(part_id, kind, comment, axis, detail_id)::text FROM part"
            " UNION ALL SELECT 'o' || row(source_id, name, plant_id, shop_id)::text FROM "
            "data_source"
            " UNION ALL SELECT 'f' || row(feed_id, name, unit, lower_limit, upper_limit, attrs)"
            "::text FROM feed"
            " UNION ALL SELECT 'j' || row(source, line_no, raw, reason)::text FROM ingest_reject"
            ") u",
        .done = "imported ",
    };
    sweep_sample(&s, 12);
    free(dir);
    free(proxied);
}

/* ------------------------------------------------------------------------------------------ */

/* Back to an empty database: the schemas (pgpulse's and the warehouse's) and the shared
 * publication go (the roles are the cluster's and stay). */
static void init_reset(PGconn *c)
{
    harness_exec(c, "BEGIN; DROP PUBLICATION IF EXISTS pgpulse_reading; DROP SCHEMA IF EXISTS dw CASCADE; "
                    "DROP SCHEMA public CASCADE; CREATE SCHEMA public; COMMIT");
}

static void test_init_cut_at_sampled_boundaries(void **state)
{
    (void)state;
    const char *db = harness_db("faults_init", 0);
    if (!db) skip();
    char *proxied = xstrdup(harness_proxy_db("faults_init"));
    const char *argv[] = {"init", "--db", proxied, NULL};
    const char *apps[] = {"pgpulse-init", NULL};
    const int sample[] = {16};
    sweep s = {
        .name = "init",
        .db = db,
        .argv = argv,
        .apps = apps,
        .sample = sample,
        .reset = init_reset,
        /* Every migration once, every relation with its columns and its grants, the functions,
         * the partitions and the publication with its table. */
        .state_sql =
            "SELECT concat_ws(' ', "
            "(SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migration), "
            "(SELECT count(*) || ' ' || md5(string_agg(x, '|' ORDER BY x)) FROM ("
            "  SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '') || ':' "
            "  || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ','"
            "  ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
            "  AND NOT a.attisdropped) AS x FROM pg_class c WHERE c.relnamespace = "
            "  'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'i', 'S')) r), "
            "(SELECT count(*) || ' ' || md5(string_agg(p.proname || coalesce(p.proacl::text, '') "
            "|| p.prosecdef::text, ',' ORDER BY p.proname)) FROM pg_proc p WHERE p.pronamespace = "
            "'public'::regnamespace), "
            "(SELECT string_agg(pubname || '=' || tablename, ',') FROM pg_publication_tables "
            "WHERE pubname = 'pgpulse_reading'))",
        .done = "schema migrated from version 0 to",
    };
    sweep_sample(&s, 13);
    free(proxied);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_db_cut_at_sampled_boundaries),
        cmocka_unit_test(test_import_assets_cut_at_sampled_boundaries),
        cmocka_unit_test(test_init_cut_at_sampled_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
