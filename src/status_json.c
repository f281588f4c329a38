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

int status_slot(PGresult *r, int i, slotbound_slot *s)
{
    if (PQgetisnull(r, i, 11)) return 0;
    const char *st = PQgetvalue(r, i, 11);
    s->wal_status = strcmp(st, "missing") ? st : NULL;
    s->has_safe = !PQgetisnull(r, i, 14);
    s->safe_wal_bytes = s->has_safe ? strtoll(PQgetvalue(r, i, 14), NULL, 10) : 0;
    s->max_bytes = PQgetisnull(r, i, 15) ? -1 : strtoll(PQgetvalue(r, i, 15), NULL, 10);
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
        slotbound_slot sl;
        double left = -1;
        char msg[512] = "";
        if (status_slot(r, i, &sl)) slotbound_assess(&sl, &left, msg, sizeof msg);
        json_object_set_new(o, "slot_wal_left", left >= 0 ? json_real(left) : json_null());
        json_object_set_new(o, "warning", msg[0] ? json_string(msg) : json_null());
        json_array_append_new(stages, o);
    }
    return json_pack("{s:o}", "stages", stages);
}
