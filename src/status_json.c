/* status_json: what `pgpulse status --json` prints and /api/pipeline serves (status_json.h). */
#include "status_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *status_num(PGresult *r, int row, int col, int integer)
{
    if (PQgetisnull(r, row, col)) return json_null();
    return integer ? json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10))
                   : json_real(strtod(PQgetvalue(r, row, col), NULL));
}

/* The slot of row i of r, as slotbound sees it; 0 for a consumer without a slot (poll). */
static int status_slot(PGresult *r, int i, slotbound_slot *s)
{
    if (PQgetisnull(r, i, 11)) return 0;
    const char *st = PQgetvalue(r, i, 11);
    s->wal_status = strcmp(st, "missing") ? st : NULL;
    s->has_safe = !PQgetisnull(r, i, 14);
    s->safe_wal_bytes = s->has_safe ? strtoll(PQgetvalue(r, i, 14), NULL, 10) : 0;
    s->max_bytes = PQgetisnull(r, i, 15) ? -1 : strtoll(PQgetvalue(r, i, 15), NULL, 10);
    return 1;
}

/* Assesses one node of a consumer on Citus: a warning naming the node into msg (empty when all
 * is well) and its share of the bound left into *left (-1: unknown or unbounded). */
static void status_assess_node(json_t *node, const char *consumer, int64_t max_bytes, double *left,
                               char *msg, size_t len)
{
    const char *name = json_string_value(json_object_get(node, "node"));
    const char *st = json_string_value(json_object_get(node, "slot_status"));
    json_t *safe = json_object_get(node, "slot_safe_wal_bytes");
    *left = -1;
    msg[0] = '\0';
    if (!st || !strcmp(st, "missing") || !strcmp(st, "lost")) {
        /* No recovery from the table on Citus (docs/scaling.md). */
        snprintf(msg, len,
                 "node %s: the consumer's replication slot there is %s: it cannot go on "
                 "(`pgpulse slots drop %s` starts it afresh)",
                 name, st && !strcmp(st, "lost") ? "invalidated (wal_status lost)" : "missing",
                 consumer);
        if (st && !strcmp(st, "lost")) *left = 0;
    } else if (!strcmp(st, "unreachable")) {
        snprintf(msg, len, "node %s did not answer: the state of its slot is unknown", name);
    } else if (!strcmp(st, "not in the cluster")) {
        snprintf(msg, len, "node %s is no longer in the cluster (pg_dist_node)", name);
    } else {
        slotbound_slot sl = {.wal_status = st,
                             .has_safe = json_is_integer(safe),
                             .safe_wal_bytes = json_integer_value(safe),
                             .max_bytes = max_bytes};
        char one[400];
        if (slotbound_assess(&sl, left, one, sizeof one) != SLOTBOUND_OK)
            snprintf(msg, len, "node %s: %s", name, one);
    }
}

json_t *status_nodes(PGresult *r, int i)
{
    if (PQnfields(r) < 19 || PQgetisnull(r, i, 18)) return NULL;
    json_t *nodes = json_loads(PQgetvalue(r, i, 18), 0, NULL);
    if (!json_is_array(nodes)) {
        json_decref(nodes);
        return NULL;
    }
    int64_t max_bytes = PQgetisnull(r, i, 15) ? -1 : strtoll(PQgetvalue(r, i, 15), NULL, 10);
    size_t k;
    json_t *node;
    json_array_foreach(nodes, k, node)
    {
        double left;
        char msg[512];
        status_assess_node(node, PQgetvalue(r, i, 0), max_bytes, &left, msg, sizeof msg);
        json_object_set_new(node, "slot_wal_left", left >= 0 ? json_real(left) : json_null());
        json_object_set_new(node, "warning", msg[0] ? json_string(msg) : json_null());
    }
    return nodes;
}

int status_assess(PGresult *r, int i, json_t *nodes, double *left, char *msg, size_t len)
{
    slotbound_slot sl;
    *left = -1;
    msg[0] = '\0';
    if (!status_slot(r, i, &sl)) return 0;
    if (!nodes) {
        slotbound_assess(&sl, left, msg, len);
        return 1;
    }
    size_t k, used = 0;
    json_t *node;
    json_array_foreach(nodes, k, node)
    {
        json_t *l = json_object_get(node, "slot_wal_left");
        const char *w = json_string_value(json_object_get(node, "warning"));
        if (json_is_number(l) && (*left < 0 || json_number_value(l) < *left))
            *left = json_number_value(l);
        if (w && used + 3 < len) {
            used += (size_t)snprintf(msg + used, len - used, "%s%s", used ? "; " : "", w);
            if (used >= len) used = len - 1;
        }
    }
    return 1;
}

json_t *status_json(PGresult *r)
{
    json_t *stages = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        char shard[32];
        snprintf(shard, sizeof shard, "%s/%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
        json_object_set_new(o, "name", json_string(PQgetvalue(r, i, 0)));
        json_object_set_new(o, "stages", json_string(PQgetvalue(r, i, 12)));
        json_object_set_new(o, "source", json_string(PQgetvalue(r, i, 1)));
        json_object_set_new(o, "shard", json_string(shard));
        json_object_set_new(o, "rows", status_num(r, i, 4, 1));
        json_object_set_new(o, "lsn", PQgetisnull(r, i, 5) ? json_null()
                                                           : json_string(PQgetvalue(r, i, 5)));
        json_object_set_new(o, "lag_bytes", status_num(r, i, 6, 1));
        json_object_set_new(o, "lag_seconds", status_num(r, i, 7, 0));
        json_object_set_new(o, "checkpoint_age_seconds", status_num(r, i, 8, 0));
        json_object_set_new(o, "active", json_boolean(PQgetvalue(r, i, 9)[0] == 't'));
        json_object_set_new(o, "slot", PQgetisnull(r, i, 10) ? json_null()
                                                             : json_string(PQgetvalue(r, i, 10)));
        json_object_set_new(o, "slot_status", PQgetisnull(r, i, 11)
                                                  ? json_null()
                                                  : json_string(PQgetvalue(r, i, 11)));
        json_object_set_new(o, "mode", PQgetisnull(r, i, 13) ? json_null()
                                                             : json_string(PQgetvalue(r, i, 13)));
        json_object_set_new(o, "recoveries", status_num(r, i, 16, 1));
        json_object_set_new(o, "applied_xids", status_num(r, i, 17, 1));
        json_object_set_new(o, "slot_safe_wal_bytes", status_num(r, i, 14, 1));
        json_object_set_new(o, "max_slot_wal_keep_bytes", status_num(r, i, 15, 1));
        json_t *nodes = status_nodes(r, i);
        double left = -1;
        char msg[2048] = "";
        status_assess(r, i, nodes, &left, msg, sizeof msg);
        json_object_set_new(o, "slot_wal_left", left >= 0 ? json_real(left) : json_null());
        json_object_set_new(o, "warning", msg[0] ? json_string(msg) : json_null());
        json_object_set_new(o, "nodes", nodes ? nodes : json_null());
        json_array_append_new(stages, o);
    }
    return json_pack("{s:o}", "stages", stages);
}
