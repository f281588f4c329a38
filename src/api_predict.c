/* api_predict: POST /api/predict (docs/api.md) — a prediction from the learn stage's models on
 * request.
 *
 *   {"features": [8 numbers]}                  the failure-risk champion's probability for
 *                                              those features (learn_risk.h lists them)
 *   {"robot_id": N, "readings": [{"ts": T, "axis": [8 numbers]}, ...]}
 *                                              the robot's forecasters and risk state as the
 *                                              stage last committed them, taken through the
 *                                              given readings (newer than its last; older ones
 *                                              are skipped, up to 1,000): the forecast 1 and 10
 *                                              readings after the last, and the risk
 *   optional "consumer": whose models (default: the server's --consumer)
 *
 * The answer names the model version and the server's latency. Nothing is written: the stage's
 * state is copied, never updated. Bad bodies are 400s naming the field. */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_int.h"
#include "learn_sgd.h"
#include "stage_learn.h"
#include "tstamp.h"
#include "util.h"

#define API_PREDICT_MAX_READINGS 1000

/* The champion of failure_risk for consumer: its learn_sgd state and version. 1 found, 0 none,
 * -1 database error (resp set). */
static int api_champion(const api_ctx *ctx, const char *consumer, learn_sgd *m, int *version,
                        http_response *resp)
{
    const char *p[] = {consumer};
    PGresult *r = PQexecParams(ctx->conn,
                               "SELECT version, state FROM model_version WHERE consumer = $1 AND "
                               "name = 'failure_risk' AND alias = 'champion'",
                               1, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        http_response_error(resp, 503, "database: %s", PQerrorMessage(ctx->conn));
        PQclear(r);
        return -1;
    }
    int found = PQntuples(r) == 1 && PQgetlength(r, 0, 1) == (int)sizeof *m;
    if (found) {
        uint32_t v;
        memcpy(&v, PQgetvalue(r, 0, 0), 4);
        *version = (int)ntohl(v);
        memcpy(m, PQgetvalue(r, 0, 1), sizeof *m);
        found = m->d == LEARN_RISK_D;
    }
    PQclear(r);
    return found;
}

/* An array of exactly n finite numbers from json into out; -1 with the 400 naming field. */
static int api_numbers(json_t *a, int n, double *out, const char *field, http_response *resp)
{
    if (!json_is_array(a) || (int)json_array_size(a) != n) {
        http_response_error(resp, 400, "body: %s: expected an array of %d numbers", field, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            http_response_error(resp, 400, "body: %s[%d]: expected a finite number", field, i);
            return -1;
        }
        out[i] = json_number_value(v);
    }
    return 0;
}

static json_t *api_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The robot's state as the stage committed it, taken through the readings. */
static int api_predict_robot(const api_ctx *ctx, const char *consumer, json_t *root, json_t *out,
                             http_response *resp)
{
    json_t *id = json_object_get(root, "robot_id"), *rd = json_object_get(root, "readings");
    if (!json_is_integer(id) || json_integer_value(id) < 1 || json_integer_value(id) > INT32_MAX) {
        http_response_error(resp, 400, "body: robot_id: expected a positive integer");
        return -1;
    }
    if (rd && (!json_is_array(rd) || json_array_size(rd) > API_PREDICT_MAX_READINGS)) {
        http_response_error(resp, 400, "body: readings: expected an array of at most %d readings",
                            API_PREDICT_MAX_READINGS);
        return -1;
    }
    char ids[16];
    snprintf(ids, sizeof ids, "%d", (int)json_integer_value(id));
    const char *p[] = {consumer, ids};
    PGresult *r = PQexecParams(ctx->conn,
                               "SELECT state FROM learn_robot_state WHERE consumer = $1 AND robot_id = $2::int",
                               2, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        http_response_error(resp, 503, "database: %s", PQerrorMessage(ctx->conn));
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        http_response_error(resp, 404, "robot %s: the learn stage of consumer %s has no state for it",
                            ids, consumer);
        return -1;
    }
    learn_fc *fc = xmalloc(sizeof *fc);
    learn_risk_robot *risk = xmalloc(sizeof *risk);
    learn_risk_fleet *scratch = xmalloc(sizeof *scratch);
    char err[256];
    int rc = stage_learn_robot_decode((const uint8_t *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                                      fc, risk, err, sizeof err);
    PQclear(r);
    if (rc == 0) rc = stage_learn_waveform_load(ctx->conn, consumer, (int32_t)json_integer_value(id), fc, err,
                                                sizeof err);
    if (rc) {
        http_response_error(resp, 503, "robot %s: %s", ids, err);
        goto done;
    }
    /* The risk step also resolves labels against a fleet: a scratch one, thrown away. */
    learn_risk_fleet_init(scratch);
    size_t used = 0;
    for (size_t i = 0; rd && i < json_array_size(rd); i++) {
        json_t *e = json_array_get(rd, i), *ts = json_object_get(e, "ts");
        char field[48];
        double axis[LEARN_FC_AXES];
        int64_t us;
        snprintf(field, sizeof field, "readings[%zu].axis", i);
        if (!json_is_object(e) || !json_is_string(ts) ||
            tstamp_parse(json_string_value(ts), json_string_length(ts), TSTAMP_EPOCH_OK, &us) != TSTAMP_OK) {
            http_response_error(resp, 400, "body: readings[%zu].ts: expected an ISO 8601 time or epoch "
                                "seconds as a string", i);
            rc = -1;
            goto done;
        }
        if (api_numbers(json_object_get(e, "axis"), LEARN_FC_AXES, axis, field, resp)) {
            rc = -1;
            goto done;
        }
        learn_risk_sample smp;
        used += learn_fc_step(fc, us, axis);
        learn_risk_step(scratch, risk, us, axis, &smp);
    }
    json_object_set_new(out, "robot_id", json_integer(json_integer_value(id)));
    json_object_set_new(out, "readings_used", json_integer((json_int_t)used));
    double iv = learn_fc_interval(fc);
    json_t *fj = json_object();
    for (int h = 0; h < LEARN_FC_HORIZONS; h++) {
        double v[LEARN_FC_AXES];
        int64_t target = fc->last_ts + (int64_t)(iv * learn_fc_horizon[h]);
        learn_fc_forecast(fc, target, h, v);
        json_t *o = json_object(), *a = json_array();
        char t[40];
        tstamp_format(target, t, sizeof t);
        for (int k = 0; k < LEARN_FC_AXES; k++) json_array_append_new(a, api_num(v[k]));
        json_object_set_new(o, "target_ts", json_string(t));
        json_object_set_new(o, "axis", a);
        char key[8];
        snprintf(key, sizeof key, "h%d", learn_fc_horizon[h]);
        json_object_set_new(fj, key, o);
    }
    json_object_set_new(out, "forecast", fj);
    double x[LEARN_RISK_D];
    if (learn_risk_features(risk, x)) {
        json_t *xa = json_array();
        for (int k = 0; k < LEARN_RISK_D; k++) json_array_append_new(xa, api_num(x[k]));
        json_object_set_new(out, "features", xa);
    }
done:
    free(fc);
    free(risk);
    free(scratch);
    return rc;
}

int api_predict(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (api_only(req, NULL, 0, resp)) return 0;
    if (!ctx->conn || PQstatus(ctx->conn) != CONNECTION_OK) {
        http_response_error(resp, 503, "database: not connected");
        return 0;
    }
    int64_t t0 = util_mono_us();
    json_error_t je;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        http_response_error(resp, 400, "body: expected a JSON object with \"features\" or \"robot_id\" "
                            "(%s)", root ? "not an object" : je.text);
        json_decref(root);
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "features") && strcmp(k, "robot_id") && strcmp(k, "readings") && strcmp(k, "consumer")) {
            http_response_error(resp, 400, "body: unknown field '%s' (features, robot_id, readings, consumer)", k);
            json_decref(root);
            return 0;
        }
    }
    json_t *cj = json_object_get(root, "consumer");
    if (cj && !json_is_string(cj)) {
        http_response_error(resp, 400, "body: consumer: expected a string");
        json_decref(root);
        return 0;
    }
    const char *consumer = cj ? json_string_value(cj) : ctx->consumer;
    json_t *feat = json_object_get(root, "features");
    if (!feat == !json_object_get(root, "robot_id")) {
        http_response_error(resp, 400, "body: give either features or robot_id (with readings)");
        json_decref(root);
        return 0;
    }
    json_t *out = json_object();
    double x[LEARN_RISK_D];
    int have_x = 0;
    if (feat) {
        if (api_numbers(feat, LEARN_RISK_D, x, "features", resp)) goto done;
        have_x = 1;
    } else {
        if (api_predict_robot(ctx, consumer, root, out, resp)) goto done;
        json_t *xa = json_object_get(out, "features");
        if (xa) {
            for (int i = 0; i < LEARN_RISK_D; i++) x[i] = json_number_value(json_array_get(xa, (size_t)i));
            have_x = 1;
        }
    }
    json_object_set_new(out, "consumer", json_string(consumer));
    if (have_x) {
        learn_sgd m;
        int version = 0;
        int got = api_champion(ctx, consumer, &m, &version, resp);
        if (got < 0) goto done;
        if (got == 0 && feat) {
            http_response_error(resp, 404, "consumer %s: no failure_risk champion yet (the learn stage "
                                "writes one after its first day of stream time)", consumer);
            goto done;
        }
        if (got) {
            json_t *rj = json_object();
            json_object_set_new(rj, "probability", api_num(learn_sgd_predict(&m, x)));
            json_object_set_new(rj, "model", json_string("failure_risk"));
            json_object_set_new(rj, "version", json_integer(version));
            json_object_set_new(rj, "horizon_s", json_integer(86400));
            json_object_set_new(out, "risk", rj);
        }
    }
    json_object_set_new(out, "latency_ms", json_real((double)(util_mono_us() - t0) / 1000.0));
    char *body = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6));
    buf_puts(&resp->body, body);
    free(body);
done:
    json_decref(out);
    json_decref(root);
    return 0;
}
