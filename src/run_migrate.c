/* run_migrate: the old layout of `pgpulse run` (consumers live and detect, one slot each) moved
 * to the one consumer pipeline. See run_migrate.h for the contract and docs/streaming.md
 * ("Migrating an old home") for why each step is safe.
 *
 * Steps, each one either idempotent or inside the final transaction:
 *   1. settle   (only when pipeline has no slot yet) each old consumer runs to the current WAL
 *               position, so that one whose slot was lost recovers before C is chosen;
 *   2. prepare  pipeline is registered and its slot created (stream_prepare): consistent point C,
 *               its covered snapshot the slot's (everything committed before C);
 *   3. drain    each old consumer runs alone with stop_lsn C: every transaction that commits
 *               below C applied, none at or above;
 *   4. move     one transaction, holding the three consumers' locks: state and outputs to
 *               pipeline, the old consumers dropped with their slots and checkpoints.
 * A rerun reads where things stand: an old consumer at C is not run again (its slot may be gone
 * already: dropping it is not transactional); a pipeline that no longer fits (an old consumer
 * ran past C meanwhile, or its slot is gone) has applied nothing, and is made again. */
#include "run_migrate.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "pgoutput.h"
#include "stages.h"
#include "stream.h"
#include "util.h"

#define RUN_MIGRATE_ATTEMPTS 3         /* a pipeline made again this often at most */
#define RUN_MIGRATE_LOCK_WAIT_MS 5000  /* a consumer's lock may outlive its closed connection */

enum { RM_LIVE, RM_DETECT, RM_PIPE, RM_N };
static const char *const run_migrate_names[RM_N] = {"live", "detect", RUN_MIGRATE_PIPELINE};

/* Where one of the three consumers stands. */
typedef struct rm_consumer {
    int exists;
    char stages[64];      /* comma separated */
    char kind[8];         /* cdc, poll */
    int shards;
    char slot[128];       /* slot name recorded ("" if none) */
    char slot_status[16]; /* its wal_status, "" when the slot does not exist */
    char mode[16];        /* checkpoint mode ("" without a checkpoint) */
    uint64_t commit_lsn, end_lsn, partial_lsn, catchup_lsn;
    int has_covered;
    int64_t detect_rows;  /* its rows in detect_robot_state, anomaly and detect_band */
    int64_t rows;         /* rows consumed */
} rm_consumer;

/* Fault injection for tests: PGPULSE_TEST_FAULT=migrate-STEP:N (util_test_fault). */
static void run_migrate_fault(const char *step)
{
    char point[64];
    snprintf(point, sizeof point, "migrate-%s", step);
    util_test_fault(point);
}

static uint64_t run_migrate_lsn(const PGresult *r, int row, int col)
{
    uint64_t lsn = 0;
    if (!PQgetisnull(r, row, col)) pgoutput_lsn_parse(PQgetvalue(r, row, col), &lsn);
    return lsn;
}

/* Reads the three consumers into c[RM_N]. */
static int run_migrate_read(PGconn *conn, rm_consumer *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = pgconn_query(
        conn,
        "SELECT c.consumer, array_to_string(c.stages, ','), c.source_kind, c.shards, "
        "coalesce(c.slot_name, ''), coalesce(s.wal_status, CASE WHEN s.slot_name IS NOT NULL "
        "THEN 'unknown' END, ''), coalesce(k.mode, ''), k.commit_lsn::text, k.end_lsn::text, "
        "k.partial_lsn::text, k.catchup_lsn::text, k.covered IS NOT NULL, coalesce(k.rows, 0), "
        "(SELECT count(*) FROM detect_robot_state d WHERE d.consumer = c.consumer) + "
        "(SELECT count(*) FROM anomaly a WHERE a.consumer = c.consumer) + "
        "(SELECT count(*) FROM detect_band b WHERE b.consumer = c.consumer) "
        "FROM stream_consumer c LEFT JOIN stream_checkpoint k ON k.consumer = c.consumer AND "
        "k.source = 'local' LEFT JOIN pg_replication_slots s ON s.slot_name = c.slot_name "
        "WHERE c.consumer IN ('live', 'detect', 'pipeline')",
        0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    memset(c, 0, RM_N * sizeof *c);
    for (int i = 0; i < PQntuples(r); i++) {
        int k = 0;
        while (k < RM_N && strcmp(PQgetvalue(r, i, 0), run_migrate_names[k]) != 0) k++;
        if (k == RM_N) continue;
        rm_consumer *x = &c[k];
        x->exists = 1;
        snprintf(x->stages, sizeof x->stages, "%s", PQgetvalue(r, i, 1));
        snprintf(x->kind, sizeof x->kind, "%s", PQgetvalue(r, i, 2));
        x->shards = atoi(PQgetvalue(r, i, 3));
        snprintf(x->slot, sizeof x->slot, "%s", PQgetvalue(r, i, 4));
        snprintf(x->slot_status, sizeof x->slot_status, "%s", PQgetvalue(r, i, 5));
        snprintf(x->mode, sizeof x->mode, "%s", PQgetvalue(r, i, 6));
        x->commit_lsn = run_migrate_lsn(r, i, 7);
        x->end_lsn = run_migrate_lsn(r, i, 8);
        x->partial_lsn = run_migrate_lsn(r, i, 9);
        x->catchup_lsn = run_migrate_lsn(r, i, 10);
        x->has_covered = PQgetvalue(r, i, 11)[0] == 't';
        x->rows = strtoll(PQgetvalue(r, i, 12), NULL, 10);
        x->detect_rows = strtoll(PQgetvalue(r, i, 13), NULL, 10);
    }
    PQclear(r);
    return 0;
}

/* An old consumer that never applied a transaction (registered, no slot made yet). */
static int run_migrate_empty(const rm_consumer *c)
{
    return !strcmp(c->mode, "new") ||
           (!c->commit_lsn && !c->end_lsn && !c->partial_lsn && !c->has_covered);
}

/* Every transaction that commits below at applied, none at or above (or nothing at all). */
static int run_migrate_at(const rm_consumer *c, uint64_t at)
{
    if (!c->exists || run_migrate_empty(c)) return 1;
    return !strcmp(c->mode, "stream") && !c->partial_lsn && c->commit_lsn < at && c->end_lsn >= at;
}

static int run_migrate_slot_ok(const rm_consumer *c)
{
    return c->slot_status[0] && strcmp(c->slot_status, "lost") != 0;
}

/* Short of at, and running it with stop_lsn at brings it there (no new slot needed). */
static int run_migrate_drainable(const rm_consumer *c, uint64_t at)
{
    if (!strcmp(c->mode, "stream"))
        return run_migrate_slot_ok(c) && c->commit_lsn < at && c->partial_lsn < at;
    return !strcmp(c->mode, "catchup") && c->catchup_lsn < at && run_migrate_slot_ok(c);
}

/* The pipeline has applied nothing: no row, no transaction, no detect output. */
static int run_migrate_pipe_unused(const rm_consumer *p)
{
    return !p->rows && !p->commit_lsn && !p->partial_lsn && !p->detect_rows;
}

/* The old consumers are the old layout's; the pipeline, if any, is run's and has applied
 * nothing. */
static int run_migrate_check(const rm_consumer *c, char *err, size_t errlen)
{
    for (int k = RM_LIVE; k <= RM_DETECT; k++) {
        const rm_consumer *x = &c[k];
        if (!x->exists) continue;
        if (strcmp(x->stages, run_migrate_names[k]) != 0 || strcmp(x->kind, "cdc") != 0 ||
            x->shards != 1)
            return util_err(err, errlen,
                            "consumer '%s' (stages %s, reading by %s, %d shards) is not one an "
                            "earlier pgpulse run made, so it is not moved to '%s'; `pgpulse slots "
                            "drop %s` removes it",
                            run_migrate_names[k], x->stages, x->kind, x->shards,
                            RUN_MIGRATE_PIPELINE, run_migrate_names[k]);
    }
    const rm_consumer *p = &c[RM_PIPE];
    if (p->exists && ((strcmp(p->stages, "live,detect") != 0 && strcmp(p->stages, "live,detect,learn") != 0 &&
                       strcmp(p->stages, "live,detect,learn,warehouse") != 0) ||
                      strcmp(p->kind, "cdc") != 0 ||
                      p->shards != 1 || !run_migrate_pipe_unused(p)))
        return util_err(err, errlen,
                        "consumer '%s' already has state of its own (stages %s, %lld rows) beside "
                        "the consumers live and detect of an earlier pgpulse run: drop one side "
                        "(`pgpulse slots drop NAME`) to go on",
                        RUN_MIGRATE_PIPELINE, p->stages, (long long)p->rows);
    return 0;
}

/* Fails if a process runs one of the consumers (it holds its session lock, see stream_setup). */
static int run_migrate_check_idle(PGconn *conn, const rm_consumer *c, char *err, size_t errlen)
{
    for (int k = 0; k < RM_N; k++) {
        if (!c[k].exists) continue;
        const char *p[] = {run_migrate_names[k]};
        PGresult *r = NULL;
        int rc = pgconn_query(conn,
                              "SELECT pg_try_advisory_lock(hashtext('pgpulse.consumer'), "
                              "hashtext($1))",
                              1, p, PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return rc;
        int got = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (!got)
            return util_err(err, errlen,
                            "consumer '%s' is running (another process holds it): stop it, then "
                            "run again to move the consumers live and detect to '%s'",
                            run_migrate_names[k], RUN_MIGRATE_PIPELINE);
        rc = pgconn_query(conn,
                          "SELECT pg_advisory_unlock(hashtext('pgpulse.consumer'), hashtext($1))",
                          1, p, PGRES_TUPLES_OK, NULL, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

/* Runs old consumer k alone until it stands at stop (see stream_opts.stop_lsn). */
static int run_migrate_drain(const char *stage_url, int k, uint64_t stop, char *err, size_t errlen)
{
    const stream_stage_ops *ops[1] = {stages_find(run_migrate_names[k])};
    if (!ops[0]) return util_err(err, errlen, "the %s stage is unknown", run_migrate_names[k]);
    stream_opts o = {.conninfo = stage_url,
                     .consumer = run_migrate_names[k],
                     .stages = ops,
                     .nstages = 1,
                     .shards = 1,
                     .batch_ms = STREAM_DEFAULT_BATCH_MS,
                     .batch_rows = STREAM_DEFAULT_BATCH_ROWS,
                     .stop_lsn = stop};
    volatile sig_atomic_t never = 0; /* Ctrl-C ends the process: a rerun resumes */
    return stream_run(&o, &never, err, errlen);
}

static int run_migrate_prepare(const char *stage_url, char *err, size_t errlen)
{
    const stream_stage_ops *ops[2] = {stages_find("live"), stages_find("detect")};
    if (!ops[0] || !ops[1]) return util_err(err, errlen, "the live or detect stage is unknown");
    stream_opts o = {.conninfo = stage_url,
                     .consumer = RUN_MIGRATE_PIPELINE,
                     .stages = ops,
                     .nstages = 2,
                     .shards = 1,
                     .batch_ms = STREAM_DEFAULT_BATCH_MS,
                     .batch_rows = STREAM_DEFAULT_BATCH_ROWS};
    return stream_prepare(&o, err, errlen);
}

/* Step 4, in one transaction. Returns 0 (done), 1 (the consumers moved meanwhile: start over),
 * or an error. */
static int run_migrate_move(PGconn *conn, uint64_t at, run_migrate_result *res, char *err,
                            size_t errlen)
{
    static const char *const moves[] = {
        "DELETE FROM stream_stage_state WHERE consumer = 'pipeline'",
        "UPDATE stream_stage_state SET consumer = 'pipeline' WHERE (consumer, stage) IN "
        "(('live', 'live'), ('detect', 'detect'))",
        "UPDATE detect_robot_state SET consumer = 'pipeline' WHERE consumer = 'detect'",
        "UPDATE detect_band SET consumer = 'pipeline' WHERE consumer = 'detect'",
        "UPDATE anomaly SET consumer = 'pipeline' WHERE consumer = 'detect'",
        "UPDATE stream_checkpoint SET rows = (SELECT coalesce(max(rows), 0) FROM stream_checkpoint "
        "WHERE consumer IN ('live', 'detect') AND source = 'local'), last_commit = (SELECT "
        "max(last_commit) FROM stream_checkpoint WHERE consumer IN ('live', 'detect', 'pipeline') "
        "AND source = 'local'), updated_at = now() WHERE consumer = 'pipeline' AND source = "
        "'local'",
    };
    rm_consumer c[RM_N];
    int rc = pgconn_exec(conn, "BEGIN", err, errlen);
    if (rc) return rc;
    /* No process runs any of the three until this commits: a consumer that starts waits. The
     * drains above ran the old consumers in this process and closed their connections, but a
     * server process releases its session's locks when it exits, a moment after the close:
     * a lock still held is tried again for up to RUN_MIGRATE_LOCK_WAIT_MS before it counts as
     * another process's. */
    int locked = 0;
    for (int waited = 0; !locked; waited += 50) {
        PGresult *r = NULL;
        rc = pgconn_query(conn,
                          "SELECT bool_and(pg_try_advisory_xact_lock(hashtext('pgpulse.consumer'), "
                          "hashtext(n))) FROM unnest(ARRAY['live', 'detect', 'pipeline']) AS n",
                          0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) goto fail;
        locked = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (locked || waited >= RUN_MIGRATE_LOCK_WAIT_MS) break;
        util_sleep_ms(50);
    }
    if (!locked) {
        rc = util_err(err, errlen,
                      "a process started one of the consumers live, detect or %s during the "
                      "migration: stop it and run again",
                      RUN_MIGRATE_PIPELINE);
        goto fail;
    }
    if ((rc = run_migrate_read(conn, c, err, errlen))) goto fail;
    int fits = c[RM_PIPE].exists && !strcmp(c[RM_PIPE].mode, "stream") &&
               c[RM_PIPE].end_lsn == at && run_migrate_pipe_unused(&c[RM_PIPE]) &&
               run_migrate_at(&c[RM_LIVE], at) && run_migrate_at(&c[RM_DETECT], at);
    if (!fits) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return 1;
    }
    for (size_t i = 0; i < UTIL_ARRAY_LEN(moves); i++)
        if ((rc = pgconn_exec(conn, moves[i], err, errlen))) goto fail;
    run_migrate_fault("moved");
    buf slots = {0};
    for (int k = RM_LIVE; k <= RM_DETECT; k++) {
        if (!c[k].exists) continue;
        snprintf(res->from + strlen(res->from), sizeof res->from - strlen(res->from), "%s%s",
                 res->from[0] ? " and " : "", run_migrate_names[k]);
        if (c[k].slot_status[0])
            buf_printf(&slots, "%s%s", slots.len ? ", " : "", c[k].slot);
        /* The slot goes at once (not transactional): harmless, the consumer stands at C. */
        if ((rc = stream_drop(conn, run_migrate_names[k], err, errlen))) break;
    }
    buf_append(&slots, "", 1);
    snprintf(res->slots, sizeof res->slots, "%s", (const char *)slots.data);
    buf_free(&slots);
    if (rc) goto fail;
    run_migrate_fault("dropped");
    if ((rc = pgconn_exec(conn, "COMMIT", err, errlen))) return rc;
    res->migrated = 1;
    pgoutput_lsn_format(at, res->lsn, sizeof res->lsn);
    return 0;
fail:
    PQclear(PQexec(conn, "ROLLBACK"));
    res->from[0] = res->slots[0] = '\0';
    return rc ? rc : -1;
}

/* Steps 1-3: the pipeline prepared and both old consumers at its consistent point, *at. */
static int run_migrate_align(PGconn *conn, const char *stage_url, rm_consumer *c, uint64_t *at,
                             char *err, size_t errlen)
{
    int rc;
    rm_consumer *p = &c[RM_PIPE];
    int fresh = !p->exists || strcmp(p->mode, "stream") != 0;
    if (!fresh) {
        int fits = run_migrate_slot_ok(p);
        for (int k = RM_LIVE; k <= RM_DETECT && fits; k++)
            fits = run_migrate_at(&c[k], p->end_lsn) || run_migrate_drainable(&c[k], p->end_lsn);
        if (!fits) {
            /* It has applied nothing (run_migrate_check): made again past where they stand. */
            fprintf(stderr, "pgpulse run: the consumer %s prepared by an interrupted migration "
                            "no longer fits the consumers live and detect: making it again\n",
                    RUN_MIGRATE_PIPELINE);
            if ((rc = stream_drop(conn, RUN_MIGRATE_PIPELINE, err, errlen))) return rc;
            fresh = 1;
        }
    }
    if (fresh) {
        PGresult *r = NULL;
        /* Flushed WAL: a walsender reads only that far, so it can tell a consumer it is past. */
        rc = pgconn_query(conn, "SELECT pg_current_wal_flush_lsn()::text", 0, NULL,
                          PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return rc;
        uint64_t now = run_migrate_lsn(r, 0, 0);
        PQclear(r);
        for (int k = RM_LIVE; k <= RM_DETECT; k++)
            if (c[k].exists && !run_migrate_empty(&c[k]) &&
                (rc = run_migrate_drain(stage_url, k, now, err, errlen)))
                return rc;
        run_migrate_fault("settled");
        if ((rc = run_migrate_prepare(stage_url, err, errlen))) return rc;
        run_migrate_fault("prepared");
        if ((rc = run_migrate_read(conn, c, err, errlen))) return rc;
        if (!p->exists || strcmp(p->mode, "stream") != 0)
            return util_err(err, errlen, "consumer '%s' has no slot after it was prepared",
                            RUN_MIGRATE_PIPELINE);
    }
    *at = p->end_lsn;
    for (int k = RM_LIVE; k <= RM_DETECT; k++) {
        if (run_migrate_at(&c[k], *at)) continue;
        if ((rc = run_migrate_drain(stage_url, k, *at, err, errlen))) return rc;
        run_migrate_fault(k == RM_LIVE ? "drained-live" : "drained-detect");
    }
    return 0;
}

int run_migrate(const char *owner_url, const char *stage_url, run_migrate_result *res, char *err,
                size_t errlen)
{
    memset(res, 0, sizeof *res);
    PGconn *conn = pgconn_connect(owner_url, "run-migrate", err, errlen);
    if (!conn) return -1;
    rm_consumer c[RM_N];
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        if ((rc = run_migrate_read(conn, c, err, errlen))) break;
        if (!c[RM_LIVE].exists && !c[RM_DETECT].exists) break; /* nothing (left) to do */
        if (attempt == RUN_MIGRATE_ATTEMPTS) {
            rc = util_err(err, errlen,
                          "the consumers live and detect did not come to a common position with "
                          "'%s' in %d attempts",
                          RUN_MIGRATE_PIPELINE, RUN_MIGRATE_ATTEMPTS);
            break;
        }
        if ((rc = run_migrate_check(c, err, errlen))) break;
        if ((rc = run_migrate_check_idle(conn, c, err, errlen))) break;
        uint64_t at = 0;
        if ((rc = run_migrate_align(conn, stage_url, c, &at, err, errlen))) break;
        rc = run_migrate_move(conn, at, res, err, errlen);
        if (rc != 1) break; /* 1: one of them moved meanwhile: again */
    }
    PQfinish(conn);
    return rc ? -1 : 0;
}
