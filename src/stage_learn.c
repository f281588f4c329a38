/* stage_learn: the `learn` stage — online learning over every robot's readings (issue 11):
 * per robot and axis forecasts 1 and 10 readings ahead (learn_forecast.h), and the fleet's
 * failure-risk models, champion and challenger, learned from failures that arrive late
 * (learn_risk.h).
 *
 * Outputs, all in the consumer's transaction (so exactly once, like every stage):
 *   prediction     forecasts of every axis once a minute of a robot's readings' time, the risk
 *                  every 10 min (learn_risk.h): a replay and a restart write the same rows
 *   run_metric     every LEARN_METRIC_EVERY readings: the forecasts' MAE and RMSE per axis and
 *                  horizon beside the naive baselines', each risk model's ROC-AUC, PR-AUC and
 *                  log loss, the champion's recall, precision and lead
 *   model_version  every day of stream time: a snapshot of each risk model, aliases champion
 *                  and challenger, after the promotion rule has run
 *   run            records and stream span of the stage's three runs
 *   learn_robot_state  each changed robot's forecaster (without its waveform memory) and risk
 *                  state
 *   learn_robot_waveform  the waveform memory's slots that changed (learn_forecast.h)
 *   and a NOTIFY on pgpulse_learn naming the robots with new risk predictions.
 * The fleet part (models, scores, the maintenance_event watermark) is the stage's own state.
 *
 * Failures are read from maintenance_event by a watermark (event_id) at open and inside each
 * commit; learn_risk applies them at fixed points of each robot's time, so the order they are
 * read in does not matter as long as each is read within 12 h of stream time. */
#include "stage_learn.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn_forecast.h"
#include "learn_risk.h"
#include "learn_sgd.h"
#include "pgarray.h"
#include "pgconn.h"
#include "stagestate.h"
#include "tstamp.h"
#include "util.h"

#define LEARN_CHANNEL "pgpulse_learn"
#define LEARN_STATE_MAGIC 0x4c524e31u          /* "LRN1": the layout of the blobs below */
#define LEARN_OID_INT4 23
#define LEARN_OID_BYTEA 17
#define LEARN_FC_EVERY_US (60LL * 1000000)     /* forecasts written once a minute of robot time */
#define LEARN_METRIC_EVERY 100000              /* readings between metric logs */
#define LEARN_VERSION_EVERY_US (86400LL * 1000000) /* model snapshots: every day of stream time */

static const char *const learn_run_names[3] = {"forecast", "failure_risk/a", "failure_risk/b"};

typedef struct learn_robot {
    int32_t id;
    int dirty, risk_new;
    int64_t next_fc;                 /* when the next forecasts are written */
    learn_fc fc;
    learn_risk_robot risk;
} learn_robot;

/* The stage's own state (saved with the checkpoint). */
typedef struct learn_fleet_state {
    uint32_t magic, size;
    int64_t records;                 /* readings taken */
    int64_t first_ts, last_ts;       /* stream span (newest reading's time) */
    int64_t next_metric;             /* records at the next metric log */
    int64_t next_version_ts;         /* stream time of the next model snapshot */
    int64_t event_watermark;         /* maintenance_event.event_id read up to */
    int32_t versions;                /* model versions written */
    int32_t champion_version;        /* the champion's newest version (0: none yet) */
    int32_t manual;                  /* a learner `pgpulse models promote` chose (slot + 1), to
                                        become the champion at the next snapshot; 0: none */
    int32_t pad;
    learn_risk_fleet risk;
} learn_fleet_state;

/* The risk models as they were at a day's end, with their figures. */
typedef struct learn_snapshot {
    int64_t ts;
    int32_t first_version, champion;
    learn_sgd model[LEARN_RISK_MODELS];
    char metrics[LEARN_RISK_MODELS][512];
} learn_snapshot;

typedef struct learn_stage {
    stream_ctx ctx;
    learn_fleet_state st;
    learn_robot **slots;             /* open addressing on robot id */
    size_t cap, count;
    /* What the next commit writes. */
    pgarray p_robot, p_ts, p_kind, p_axis, p_h, p_target, p_value, p_version;
    size_t npred;
    pgarray m_run, m_key, m_step, m_ts, m_value;
    size_t nmetric;
    learn_snapshot *snaps;           /* model snapshots taken since the last commit */
    size_t nsnaps, snaps_cap;
} learn_stage;

/* ---------------------------------------------------------------------------------------- */
/* Robots. */

static learn_robot *learn_robot_get(learn_stage *s, int32_t id)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        learn_robot **ns = xcalloc(ncap, sizeof *ns);
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i]) continue;
            size_t j = util_hash64((uint64_t)(uint32_t)s->slots[i]->id) & (ncap - 1);
            while (ns[j]) j = (j + 1) & (ncap - 1);
            ns[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    size_t j = util_hash64((uint64_t)(uint32_t)id) & (s->cap - 1);
    for (; s->slots[j]; j = (j + 1) & (s->cap - 1))
        if (s->slots[j]->id == id) return s->slots[j];
    learn_robot *r = xcalloc(1, sizeof *r);
    r->id = id;
    learn_fc_init(&r->fc);
    learn_risk_robot_init(&r->risk);
    s->slots[j] = r;
    s->count++;
    return r;
}

static void learn_stage_free(learn_stage *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->cap; i++) free(s->slots[i]);
    free(s->slots);
    pgarray *arrays[] = {&s->p_robot, &s->p_ts, &s->p_kind, &s->p_axis, &s->p_h, &s->p_target,
                         &s->p_value, &s->p_version, &s->m_run, &s->m_key, &s->m_step, &s->m_ts,
                         &s->m_value};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(arrays); i++) pgarray_free(arrays[i]);
    free(s->snaps);
    free(s);
}

/* A robot's block: magic, its size, then the forecaster without its waveform memory (whose
 * slots are rows of learn_robot_waveform) and the risk state, as they are. */
static void learn_robot_save(const learn_robot *r, buf *b)
{
    uint32_t h[2] = {LEARN_STATE_MAGIC, (uint32_t)(sizeof r->next_fc + LEARN_FC_CORE + sizeof r->risk)};
    buf_append(b, h, sizeof h);
    buf_append(b, &r->next_fc, sizeof r->next_fc);
    buf_append(b, &r->fc, LEARN_FC_CORE);
    buf_append(b, &r->risk, sizeof r->risk);
}

/* The block's inverse; the waveform memory is left as it is (learn_robot_load_slot). */
static int learn_robot_load(learn_robot *r, const uint8_t *p, size_t len, char *err, size_t errlen)
{
    uint32_t h[2];
    size_t want = sizeof h + sizeof r->next_fc + LEARN_FC_CORE + sizeof r->risk;
    if (len >= sizeof h) memcpy(h, p, sizeof h);
    if (len != want || h[0] != LEARN_STATE_MAGIC || h[1] != want - sizeof h)
        return util_err(err, errlen, "learn_robot_state of robot %d: %zu bytes, not a state of this "
                        "pgpulse (%zu; drop the consumer to start afresh)", (int)r->id, len, want);
    p += sizeof h;
    memcpy(&r->next_fc, p, sizeof r->next_fc);
    memcpy(&r->fc, p + sizeof r->next_fc, LEARN_FC_CORE);
    memcpy(&r->risk, p + sizeof r->next_fc + LEARN_FC_CORE, sizeof r->risk);
    return 0;
}

/* One slot of the robot's waveform memory, as learn_robot_waveform holds it. */
static int learn_robot_load_slot(learn_fc *fc, int32_t robot, int slot, const uint8_t *p, size_t len,
                                 char *err, size_t errlen)
{
    if (slot < 0 || slot >= LEARN_FC_MAXP || len != LEARN_FC_SLOT_BYTES)
        return util_err(err, errlen, "learn_robot_waveform of robot %d, slot %d: %zu bytes, not a slot "
                        "of this pgpulse (%zu bytes, slots 0-%d; drop the consumer to start afresh)",
                        (int)robot, slot, len, (size_t)LEARN_FC_SLOT_BYTES, LEARN_FC_MAXP - 1);
    memcpy(fc->tpl[slot], p, len);
    return 0;
}

int stage_learn_waveform_load(PGconn *conn, const char *consumer, int32_t robot, learn_fc *fc, char *err,
                              size_t errlen)
{
    char ids[16];
    snprintf(ids, sizeof ids, "%d", (int)robot);
    const char *p[] = {consumer, ids};
    PGresult *r = PQexecParams(conn, "SELECT slot, cells FROM learn_robot_waveform "
                               "WHERE consumer = $1 AND robot_id = $2::int", 2, NULL, p, NULL, NULL, 1);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        uint32_t slot;
        memcpy(&slot, PQgetvalue(r, i, 0), 4);
        rc = learn_robot_load_slot(fc, robot, (int)ntohl(slot), (const uint8_t *)PQgetvalue(r, i, 1),
                                   (size_t)PQgetlength(r, i, 1), err, errlen);
    }
    PQclear(r);
    return rc;
}

void stage_learn_robot_encode(const learn_fc *fc, const learn_risk_robot *risk, buf *b)
{
    learn_robot *r = xcalloc(1, sizeof *r);
    r->fc = *fc;
    r->risk = *risk;
    learn_robot_save(r, b);
    free(r);
}

int stage_learn_robot_decode(const uint8_t *p, size_t len, learn_fc *fc, learn_risk_robot *risk,
                             char *err, size_t errlen)
{
    learn_robot *r = xcalloc(1, sizeof *r);
    int rc = learn_robot_load(r, p, len, err, errlen);
    if (rc == 0) {
        *fc = r->fc;
        *risk = r->risk;
    }
    free(r);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Open. */

/* Failures recorded since the watermark, for this consumer's robots. */
static int learn_read_failures(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    char wm[32], shard[16], shards[16];
    snprintf(wm, sizeof wm, "%lld", (long long)s->st.event_watermark);
    snprintf(shard, sizeof shard, "%d", s->ctx.shard);
    snprintf(shards, sizeof shards, "%d", s->ctx.shards > 0 ? s->ctx.shards : 1);
    const char *p[] = {wm, shard, shards};
    PGresult *r = NULL;
    if (pgconn_query(conn,
                     "SELECT event_id, robot_id, (extract(epoch FROM ts) * 1000000)::int8 "
                     "FROM maintenance_event WHERE event_id > $1::int8 AND kind = 'failure' "
                     "AND robot_id % $3::int = $2::int ORDER BY event_id",
                     3, p, PGRES_TUPLES_OK, &r, err, errlen))
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        learn_robot *rb = learn_robot_get(s, (int32_t)atoi(PQgetvalue(r, i, 1)));
        learn_risk_add_failure(&rb->risk, strtoll(PQgetvalue(r, i, 2), NULL, 10));
        rb->dirty = 1;
        if (id > s->st.event_watermark) s->st.event_watermark = id;
    }
    PQclear(r);
    return 0;
}

/* The experiments and the stage's runs exist (idempotent; ids are md5 of consumer and name). */
static int learn_ensure_runs(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    static const char *const models[3] = {"forecast", "logistic", "logistic"};
    static const char *const params[3] = {
        "{\"horizons\": [1, 10], \"cycles\": 4, \"max_cycle_runs\": 16, \"blend\": \"rls\", \"forgetting\": 0.9995}",
        "{\"learner\": \"adagrad_logistic\", \"lr\": 0.05, \"l2\": 1e-6, \"horizon_h\": 24, \"label_delay_h\": 12}",
        "{\"learner\": \"adagrad_logistic\", \"lr\": 0.2, \"l2\": 1e-4, \"horizon_h\": 24, \"label_delay_h\": 12}"};
    for (int i = 0; i < 3; i++) {
        const char *exp = i == 0 ? "forecast" : "failure_risk";
        const char *p[] = {s->ctx.consumer, exp, learn_run_names[i], models[i], params[i]};
        if (pgconn_query(conn,
                         "WITH e AS (INSERT INTO experiment (name, description) VALUES ($2, "
                         "CASE $2 WHEN 'forecast' THEN 'axis currents 1 and 10 readings ahead' "
                         "ELSE 'probability of a failure within 24 h' END) "
                         "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING experiment_id) "
                         "INSERT INTO run (run_id, experiment_id, consumer, name, model, params, status) "
                         "SELECT md5($1 || '/' || $3), experiment_id, $1, $3, $4, $5::jsonb, 'RUNNING' FROM e "
                         "ON CONFLICT (run_id) DO UPDATE SET status = 'RUNNING', ended_at = NULL",
                         5, p, PGRES_COMMAND_OK, NULL, err, errlen))
            return -1;
    }
    return 0;
}

/* `pgpulse models promote` moves the champion alias to a version: when that version is one of
 * the learner that is not the champion, it is remembered (with the stage's state) and made the
 * champion at the next daily snapshot. Versions alternate between the two learners (version v
 * is slot (v - 1) % 2). Read at open and at each commit before the stage writes its own
 * versions (which move the aliases). */
static int learn_read_promotion(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    if (!s->st.versions) return 0;
    PGresult *r = NULL;
    const char *p[] = {s->ctx.consumer};
    if (pgconn_query(conn, "SELECT version FROM model_version WHERE consumer = $1 AND "
                     "name = 'failure_risk' AND alias = 'champion'",
                     1, p, PGRES_TUPLES_OK, &r, err, errlen))
        return -1;
    /* Before this commit's versions move the aliases (and at open): what the operator set. */
    if (PQntuples(r) == 1) {
        int v = atoi(PQgetvalue(r, 0, 0)), slot = (v - 1) % LEARN_RISK_MODELS;
        if (v >= 1 && slot != s->st.risk.champion) s->st.manual = slot + 1;
    }
    PQclear(r);
    return 0;
}

/* The forecasters' waveform memories, a row per robot and slot. */
static int learn_read_waveforms(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    const char *p[] = {s->ctx.consumer};
    PGresult *r = PQexecParams(conn, "SELECT robot_id, slot, cells FROM learn_robot_waveform WHERE consumer = $1",
                               1, NULL, p, NULL, NULL, 1);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        uint32_t id, slot;
        memcpy(&id, PQgetvalue(r, i, 0), 4);
        memcpy(&slot, PQgetvalue(r, i, 1), 4);
        learn_robot *rb = learn_robot_get(s, (int32_t)ntohl(id));
        rc = learn_robot_load_slot(&rb->fc, rb->id, (int)ntohl(slot), (const uint8_t *)PQgetvalue(r, i, 2),
                                   (size_t)PQgetlength(r, i, 2), err, errlen);
    }
    PQclear(r);
    return rc;
}

static void *learn_open(const uint8_t *state, size_t len, const stream_ctx *ctx, PGconn *conn,
                        char *err, size_t errlen)
{
    learn_stage *s = xcalloc(1, sizeof *s);
    s->ctx = *ctx;
    if (len == 0) {
        s->st.magic = LEARN_STATE_MAGIC;
        s->st.size = sizeof s->st;
        s->st.next_metric = LEARN_METRIC_EVERY;
        learn_risk_fleet_init(&s->st.risk);
    } else {
        uint32_t h[2] = {0, 0};
        if (len >= sizeof h) memcpy(h, state, sizeof h);
        if (len != sizeof s->st || h[0] != LEARN_STATE_MAGIC || h[1] != sizeof s->st) {
            util_err(err, errlen, "learn stage state: %zu bytes, not a state of this pgpulse (%zu; "
                     "drop the consumer to start afresh)", len, sizeof s->st);
            learn_stage_free(s);
            return NULL;
        }
        memcpy(&s->st, state, sizeof s->st);
    }
    const char *p[] = {ctx->consumer};
    PGresult *r = PQexecParams(conn, "SELECT robot_id, state FROM learn_robot_state WHERE consumer = $1",
                               1, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        learn_stage_free(s);
        return NULL;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        uint32_t id;
        memcpy(&id, PQgetvalue(r, i, 0), 4);
        learn_robot *rb = learn_robot_get(s, (int32_t)ntohl(id));
        if (learn_robot_load(rb, (const uint8_t *)PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1),
                             err, errlen)) {
            PQclear(r);
            learn_stage_free(s);
            return NULL;
        }
    }
    PQclear(r);
    if (learn_read_waveforms(s, conn, err, errlen) || learn_ensure_runs(s, conn, err, errlen) ||
        learn_read_promotion(s, conn, err, errlen)) {
        learn_stage_free(s);
        return NULL;
    }
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows. */

static void learn_add_prediction(learn_stage *s, int32_t robot, int64_t ts, const char *kind, int axis,
                                 int horizon, int64_t target, double value, int version)
{
    char t[40];
    pgarray_int(&s->p_robot, robot);
    tstamp_format(ts, t, sizeof t);
    pgarray_str(&s->p_ts, t);
    pgarray_str(&s->p_kind, kind);
    pgarray_int(&s->p_axis, axis);
    pgarray_int(&s->p_h, horizon);
    tstamp_format(target, t, sizeof t);
    pgarray_str(&s->p_target, t);
    pgarray_float(&s->p_value, value);
    if (version > 0) pgarray_int(&s->p_version, version);
    else pgarray_null(&s->p_version);
    s->npred++;
}

static void learn_add_metric(learn_stage *s, int run, const char *key, double value)
{
    if (!isfinite(value)) return;
    char t[40];
    pgarray_str(&s->m_run, learn_run_names[run]);
    pgarray_str(&s->m_key, key);
    pgarray_int(&s->m_step, s->st.records);
    tstamp_format(s->st.last_ts, t, sizeof t);
    pgarray_str(&s->m_ts, t);
    pgarray_float(&s->m_value, value);
    s->nmetric++;
}

/* The metrics of the moment, summed over the robots (forecasts) and from the fleet (risk). */
static void learn_log_metrics(learn_stage *s)
{
    static const char *const method[LEARN_FC_METHODS] = {"", "_last", "_prev_run", "_prev_cycle", "_mean",
                                                         "_median"};
    char key[64];
    for (int h = 0; h < LEARN_FC_HORIZONS; h++)
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            double abs[LEARN_FC_METHODS] = {0}, sq = 0;
            int64_t n = 0;
            for (size_t i = 0; i < s->cap; i++) {
                const learn_robot *r = s->slots[i];
                if (!r) continue;
                const learn_fc_score *sc = &r->fc.score[h][a];
                n += sc->n;
                sq += sc->sq[LEARN_FC_MODEL];
                for (int k = 0; k < LEARN_FC_METHODS; k++) abs[k] += sc->abs[k];
            }
            if (!n) continue;
            for (int k = 0; k < LEARN_FC_METHODS; k++) {
                snprintf(key, sizeof key, "mae%s.h%d.axis%d", method[k], learn_fc_horizon[h], a + 1);
                learn_add_metric(s, 0, key, abs[k] / (double)n);
            }
            snprintf(key, sizeof key, "rmse.h%d.axis%d", learn_fc_horizon[h], a + 1);
            learn_add_metric(s, 0, key, sqrt(sq / (double)n));
        }
    const learn_risk_fleet *f = &s->st.risk;
    for (int m = 0; m < LEARN_RISK_MODELS; m++) {
        learn_add_metric(s, 1 + m, "roc_auc", learn_risk_roc_auc(&f->score[m]));
        learn_add_metric(s, 1 + m, "pr_auc", learn_risk_pr_auc(&f->score[m]));
        learn_add_metric(s, 1 + m, "log_loss", learn_risk_logloss(&f->score[m]));
        learn_add_metric(s, 1 + m, "labels", (double)f->score[m].n);
    }
    int c = 1 + f->champion, k = f->primary;
    learn_add_metric(s, c, "recall", learn_risk_recall(f, k));
    learn_add_metric(s, c, "precision", learn_risk_precision(f, k));
    learn_add_metric(s, c, "lead_h_median", learn_risk_lead_hours(f, k));
    learn_add_metric(s, c, "failures", (double)f->failures);
}

/* Runs the promotion rule and keeps both risk models as new versions. */
static void learn_take_snapshot(learn_stage *s)
{
    learn_fleet_state *st = &s->st;
    const learn_risk_fleet *f = &st->risk;
    if (st->manual) {
        /* An operator's choice wins over the rule, once. */
        if (st->risk.champion != st->manual - 1) st->risk.promotions++;
        st->risk.champion = st->manual - 1;
        st->manual = 0;
    } else {
        learn_risk_promote(&st->risk);
    }
    if (s->nsnaps == s->snaps_cap) {
        s->snaps_cap = s->snaps_cap ? s->snaps_cap * 2 : 4;
        s->snaps = xrealloc(s->snaps, s->snaps_cap * sizeof *s->snaps);
    }
    learn_snapshot *sn = &s->snaps[s->nsnaps++];
    sn->ts = st->last_ts;
    sn->first_version = st->versions + 1;
    sn->champion = f->champion;
    for (int m = 0; m < LEARN_RISK_MODELS; m++) {
        const learn_risk_score *sc = &f->score[m];
        double roc = learn_risk_roc_auc(sc), pr = learn_risk_pr_auc(sc), ll = learn_risk_logloss(sc);
        sn->model[m] = f->model[m];
        snprintf(sn->metrics[m], sizeof sn->metrics[m],
                 "{\"roc_auc\": %.6g, \"pr_auc\": %.6g, \"log_loss\": %.6g, \"labels\": %lld, "
                 "\"window_log_loss\": %.6g}",
                 isfinite(roc) ? roc : 0.0, isfinite(pr) ? pr : 0.0, isfinite(ll) ? ll : 0.0,
                 (long long)sc->n, isfinite(sc->last_win_logloss) ? sc->last_win_logloss : 0.0);
    }
    st->champion_version = st->versions + 1 + f->champion;
    st->versions += LEARN_RISK_MODELS;
}

static void learn_rows(void *stage, const reading *rows, size_t n)
{
    learn_stage *s = stage;
    learn_fleet_state *st = &s->st;
    for (size_t i = 0; i < n; i++) {
        const reading *x = &rows[i];
        learn_robot *r = learn_robot_get(s, x->robot_id);
        r->dirty = 1;
        if (learn_fc_step(&r->fc, x->ts_us, x->axis) && x->ts_us >= r->next_fc && r->fc.runs &&
            learn_fc_interval(&r->fc) > 0) {
            r->next_fc = x->ts_us - x->ts_us % LEARN_FC_EVERY_US + LEARN_FC_EVERY_US;
            double iv = learn_fc_interval(&r->fc), out[LEARN_FC_AXES];
            for (int h = 0; h < LEARN_FC_HORIZONS; h++) {
                int64_t target = x->ts_us + (int64_t)(iv * learn_fc_horizon[h]);
                learn_fc_forecast(&r->fc, target, h, out);
                for (int a = 0; a < LEARN_FC_AXES; a++)
                    if (isfinite(out[a]))
                        learn_add_prediction(s, r->id, x->ts_us, "forecast", a + 1, learn_fc_horizon[h],
                                             target, out[a], 0);
            }
        }
        learn_risk_sample smp;
        if (learn_risk_step(&st->risk, &r->risk, x->ts_us, x->axis, &smp)) {
            learn_add_prediction(s, r->id, smp.ts, "risk", 0, (int)(st->risk.horizon_us / 1000000),
                                 smp.ts + st->risk.horizon_us, smp.p, st->champion_version);
            r->risk_new = 1;
        }
        if (!st->first_ts) {
            st->first_ts = x->ts_us;
            st->next_version_ts = x->ts_us - x->ts_us % LEARN_VERSION_EVERY_US + LEARN_VERSION_EVERY_US;
        }
        if (x->ts_us > st->last_ts) st->last_ts = x->ts_us;
        st->records++;
        if (st->records >= st->next_metric) {
            learn_log_metrics(s);
            st->next_metric += LEARN_METRIC_EVERY;
        }
        /* Model versions are cut in the stream, at the first reading of a new day. */
        if (st->last_ts >= st->next_version_ts) {
            learn_take_snapshot(s);
            st->next_version_ts = st->last_ts - st->last_ts % LEARN_VERSION_EVERY_US + LEARN_VERSION_EVERY_US;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Commit. */

static int learn_write_predictions(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    if (!s->npred) return 0;
    const char *p[] = {s->ctx.consumer, pgarray_end(&s->p_robot), pgarray_end(&s->p_ts),
                       pgarray_end(&s->p_kind), pgarray_end(&s->p_axis), pgarray_end(&s->p_h),
                       pgarray_end(&s->p_target), pgarray_end(&s->p_value), pgarray_end(&s->p_version)};
    return pgconn_query(conn,
                        "INSERT INTO prediction (consumer, robot_id, ts, kind, axis, horizon, "
                        "target_ts, value, model_version) SELECT $1, * FROM unnest($2::int[], "
                        "$3::timestamptz[], $4::text[], $5::smallint[], $6::int[], $7::timestamptz[], "
                        "$8::float8[], $9::int[])",
                        9, p, PGRES_COMMAND_OK, NULL, err, errlen);
}

static int learn_write_metrics(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    if (!s->nmetric) return 0;
    const char *p[] = {s->ctx.consumer, pgarray_end(&s->m_run), pgarray_end(&s->m_key),
                       pgarray_end(&s->m_step), pgarray_end(&s->m_ts), pgarray_end(&s->m_value)};
    return pgconn_query(conn,
                        "INSERT INTO run_metric (run_id, key, step, ts, value) "
                        "SELECT md5($1 || '/' || r), k, st, t, v FROM unnest($2::text[], $3::text[], "
                        "$4::int8[], $5::timestamptz[], $6::float8[]) AS u(r, k, st, t, v)",
                        6, p, PGRES_COMMAND_OK, NULL, err, errlen);
}

/* Each snapshot's models as new versions, in order; the aliases move to the newest ones. */
static int learn_write_versions(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    if (!s->nsnaps) return 0;
    if (pgconn_query(conn, "UPDATE model_version SET alias = NULL WHERE consumer = $1 AND "
                     "name = 'failure_risk' AND alias IS NOT NULL",
                     1, (const char *[]){s->ctx.consumer}, PGRES_COMMAND_OK, NULL, err, errlen))
        return -1;
    for (size_t i = 0; i < s->nsnaps; i++) {
        const learn_snapshot *sn = &s->snaps[i];
        char t[40];
        tstamp_format(sn->ts, t, sizeof t);
        for (int m = 0; m < LEARN_RISK_MODELS; m++) {
            char ver[16];
            snprintf(ver, sizeof ver, "%d", sn->first_version + m);
            const char *alias = i + 1 < s->nsnaps ? NULL : m == sn->champion ? "champion" : "challenger";
            const char *p[] = {s->ctx.consumer, ver, learn_run_names[1 + m], (const char *)&sn->model[m],
                               sn->metrics[m], alias, t};
            int lens[] = {0, 0, 0, (int)sizeof sn->model[m], 0, 0, 0};
            int fmts[] = {0, 0, 0, 1, 0, 0, 0};
            PGresult *r = PQexecParams(conn,
                                       "INSERT INTO model_version (consumer, name, version, run_id, "
                                       "model, state, metrics, alias, stream_ts) VALUES ($1, "
                                       "'failure_risk', $2::int, md5($1 || '/' || $3), 'logistic', $4, "
                                       "$5::jsonb, $6, $7)",
                                       7, NULL, p, lens, fmts, 0);
            int bad = PQresultStatus(r) != PGRES_COMMAND_OK;
            if (bad) pgconn_result_error(r, conn, err, errlen);
            PQclear(r);
            if (bad) return -1;
        }
    }
    return 0;
}

static void learn_save_one(const void *robot, buf *out)
{
    learn_robot_save(robot, out);
}

/* The waveform slots that changed since the last commit, upserted in one statement. Called
 * before the states are saved (their forecasters then say nothing is pending). */
static int learn_write_waveforms(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    uint32_t *dirty = xcalloc(s->cap + 1, sizeof *dirty);
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        learn_robot *rb = s->slots[i];
        dirty[i] = rb && rb->dirty ? learn_fc_tpl_clean(&rb->fc) : 0;
        for (int k = 0; k < LEARN_FC_MAXP; k++) n += (dirty[i] >> k) & 1;
    }
    int rc = 0;
    if (n) {
        buf ids = {0}, slots = {0}, cells = {0};
        pgarray_bin_header(&ids, LEARN_OID_INT4, n);
        pgarray_bin_header(&slots, LEARN_OID_INT4, n);
        pgarray_bin_header(&cells, LEARN_OID_BYTEA, n);
        for (size_t i = 0; i < s->cap; i++)
            for (int k = 0; k < LEARN_FC_MAXP; k++) {
                if (!((dirty[i] >> k) & 1)) continue;
                uint32_t id = htonl((uint32_t)s->slots[i]->id), slot = htonl((uint32_t)k);
                pgarray_bin_elem(&ids, &id, 4);
                pgarray_bin_elem(&slots, &slot, 4);
                pgarray_bin_elem(&cells, s->slots[i]->fc.tpl[k], LEARN_FC_SLOT_BYTES);
            }
        const char *p[] = {s->ctx.consumer, (const char *)ids.data, (const char *)slots.data,
                           (const char *)cells.data};
        int lens[] = {0, (int)ids.len, (int)slots.len, (int)cells.len};
        int fmts[] = {0, 1, 1, 1};
        PGresult *r = PQexecParams(conn,
                                   "INSERT INTO learn_robot_waveform (consumer, robot_id, slot, cells) "
                                   "SELECT $1, i, k, c FROM unnest($2::int[], $3::int[], $4::bytea[]) AS x(i, k, c) "
                                   "ON CONFLICT (consumer, robot_id, slot) DO UPDATE SET cells = EXCLUDED.cells",
                                   4, NULL, p, lens, fmts, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            pgconn_result_error(r, conn, err, errlen);
            rc = -1;
        }
        PQclear(r);
        buf_free(&ids);
        buf_free(&slots);
        buf_free(&cells);
    }
    free(dirty);
    return rc;
}

static int learn_write_states(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) n += s->slots[i] && s->slots[i]->dirty;
    int32_t *ids = xcalloc(n + 1, sizeof *ids);
    const void **robots = xcalloc(n + 1, sizeof *robots);
    n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        const learn_robot *rb = s->slots[i];
        if (!rb || !rb->dirty) continue;
        ids[n] = rb->id;
        robots[n++] = rb;
    }
    int rc = stagestate_write(conn, "learn_robot_state", s->ctx.consumer, ids, robots, n,
                              learn_save_one, err, errlen);
    free(ids);
    free(robots);
    return rc;
}

static int learn_write_runs(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    char recs[32], t0[40], t1[40];
    snprintf(recs, sizeof recs, "%lld", (long long)s->st.records);
    tstamp_format(s->st.first_ts, t0, sizeof t0);
    tstamp_format(s->st.last_ts, t1, sizeof t1);
    const char *p[] = {s->ctx.consumer, recs, t0, t1};
    return pgconn_query(conn,
                        "UPDATE run SET records = $2::int8, stream_start = $3, stream_end = $4, "
                        "updated_at = clock_timestamp() WHERE consumer = $1",
                        4, p, PGRES_COMMAND_OK, NULL, err, errlen);
}

/* One NOTIFY naming the robots with a new risk (at most 50; the dashboard rereads them). */
static int learn_notify(learn_stage *s, PGconn *conn, char *err, size_t errlen)
{
    buf b = {0};
    size_t count = 0;
    buf_printf(&b, "{\"consumer\":\"%s\",\"robots\":[", s->ctx.consumer);
    for (size_t i = 0; i < s->cap; i++) {
        const learn_robot *r = s->slots[i];
        if (!r || !r->risk_new) continue;
        if (count++ < 50) buf_printf(&b, "%s%d", count > 1 ? "," : "", (int)r->id);
    }
    int rc = 0;
    if (count) {
        buf_printf(&b, "],\"count\":%zu}", count);
        buf_append(&b, "", 1);
        const char *p[] = {LEARN_CHANNEL, (const char *)b.data};
        rc = pgconn_query(conn, "SELECT pg_notify($1, $2)", 2, p, PGRES_TUPLES_OK, NULL, err, errlen);
    }
    buf_free(&b);
    return rc;
}

static int learn_commit(void *stage, PGconn *conn, buf *state, char *err, size_t errlen)
{
    learn_stage *s = stage;
    if (learn_read_promotion(s, conn, err, errlen) ||
        learn_write_predictions(s, conn, err, errlen) || learn_write_metrics(s, conn, err, errlen) ||
        learn_write_versions(s, conn, err, errlen) ||
        (s->st.records && learn_write_runs(s, conn, err, errlen)) ||
        learn_notify(s, conn, err, errlen) || learn_read_failures(s, conn, err, errlen) ||
        learn_write_waveforms(s, conn, err, errlen) || learn_write_states(s, conn, err, errlen))
        return -1;
    buf_append(state, &s->st, sizeof s->st);
    /* Written; on failure the consumer reopens the stage from the committed state instead. */
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i]) s->slots[i]->dirty = s->slots[i]->risk_new = 0;
    pgarray *arrays[] = {&s->p_robot, &s->p_ts, &s->p_kind, &s->p_axis, &s->p_h, &s->p_target,
                         &s->p_value, &s->p_version, &s->m_run, &s->m_key, &s->m_step, &s->m_ts,
                         &s->m_value};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(arrays); i++) pgarray_free(arrays[i]);
    s->npred = s->nmetric = 0;
    s->nsnaps = 0;
    return 0;
}

static void learn_free(void *stage)
{
    learn_stage_free(stage);
}

const stream_stage_ops stage_learn_ops = {
    .name = "learn",
    .open = learn_open,
    .rows = learn_rows,
    .commit = learn_commit,
    .free = learn_free,
};
