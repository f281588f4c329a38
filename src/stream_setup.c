/* stream_setup: what a consumer does before it reads — registers itself and its checkpoint,
 * finds its publication, and makes sure it has a slot to read: a new consumer creates one; a
 * consumer whose slot was lost (invalidated past max_slot_wal_keep_size, or dropped) replaces it
 * and is left in catch-up mode, its table read (stream_catchup.c) holding the new slot's exported
 * snapshot. Each step is written to the checkpoint before the next, so a consumer killed at any
 * point redoes or resumes it (docs/streaming.md, "A lost slot"). stream_prepare does the first
 * steps alone, for a consumer that starts later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "pgoutput.h"
#include "stream_int.h"
#include "util.h"

#define STREAM_SLOT_SAY_US (30 * INT64_C(1000000)) /* repeat a message this often */
#define STREAM_LOCK_WAIT_MS 200                     /* between attempts at the consumer lock */

/* Takes the consumer's lock: a session advisory lock on (hashtext('pgpulse.consumer'),
 * hashtext(name)) in its database, held by c->db for as long as it is open. One process at a
 * time runs a consumer: a second `pgpulse live` (or poller, which no slot would stop) waits
 * instead of applying the stream twice; and a connection of this same consumer that was cut
 * while the server still ran its last statement holds the lock until that backend has ended,
 * so no statement of the old connection can land after the new one has read the checkpoint.
 * With wait 0 returns 1 at once when another session holds it. Returns 0 (taken), 1 (not taken:
 * wait 0, or *stop set), or an error (PGCONN_LOST to retry). */
static int stream_lock(consumer *c, int wait, volatile sig_atomic_t *stop, char *err,
                       size_t errlen)
{
    const char *p[] = {c->o->consumer};
    int64_t said = 0;
    while (!*stop) {
        PGresult *r = NULL;
        int rc = pgconn_query(c->db,
                              "SELECT pg_try_advisory_lock(hashtext('pgpulse.consumer'), "
                              "hashtext($1))",
                              1, p, PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return rc;
        int got = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (got) return 0;
        if (!wait) return 1;
        int64_t now = util_mono_us();
        if (!said || now - said >= STREAM_SLOT_SAY_US) {
            stream_log(c, "another process runs consumer '%s' (or a connection of it that was "
                          "cut is still ending): waiting for it",
                       c->o->consumer);
            said = now;
        }
        util_sleep_ms(STREAM_LOCK_WAIT_MS);
    }
    return 1;
}

/* Registers the consumer and its checkpoint row, and reads the checkpoint. */
static int stream_register(consumer *c, char *err, size_t errlen)
{
    const stream_opts *o = c->o;
    char shard[16], shards[16];
    snprintf(shard, sizeof shard, "%d", o->shard);
    snprintf(shards, sizeof shards, "%d", o->shards);
    buf stages = {0};
    buf_puts(&stages, "{");
    for (int i = 0; i < o->nstages; i++)
        buf_printf(&stages, "%s%s", i ? "," : "", o->stages[i]->name);
    buf_append(&stages, "}", 2);
    const char *kind = o->poll ? "poll" : "cdc";
    /* A new consumer's slot is named after its database too (slot names are cluster-wide); an
     * existing one keeps the name it registered with. */
    char slot[STREAM_SLOT_NAME_MAX + 1];
    stream_slot_name(PQdb(c->db), o->consumer, slot, sizeof slot);
    const char *p1[] = {o->consumer, (const char *)stages.data, kind, slot, shard, shards};
    PGresult *r = NULL;
    int rc = pgconn_query(c->db,
                          "INSERT INTO stream_consumer (consumer, stages, source_kind, slot_name, "
                          "shard, shards) VALUES ($1, $2, $3, CASE WHEN $3 = 'cdc' THEN $4 END, "
                          "$5, $6) ON CONFLICT (consumer) DO UPDATE SET stages = EXCLUDED.stages "
                          "RETURNING source_kind, shard, shards, publication, slot_name",
                          6, p1, PGRES_TUPLES_OK, &r, err, errlen);
    buf_free(&stages);
    if (rc) return rc;
    int same = !strcmp(PQgetvalue(r, 0, 0), kind) && atoi(PQgetvalue(r, 0, 1)) == o->shard &&
               atoi(PQgetvalue(r, 0, 2)) == o->shards;
    if (!same) {
        util_err(err, errlen,
                 "consumer '%s' exists reading by %s as shard %s/%s; drop it first (pgpulse slots "
                 "drop %s) to change how it reads",
                 o->consumer, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                 o->consumer);
        PQclear(r);
        return -1;
    }
    snprintf(c->pub, sizeof c->pub, "%s", PQgetisnull(r, 0, 3) ? "" : PQgetvalue(r, 0, 3));
    snprintf(c->slot, sizeof c->slot, "%s", PQgetisnull(r, 0, 4) ? "" : PQgetvalue(r, 0, 4));
    PQclear(r);
    /* The replication protocol takes no parameters: the name goes into its commands as it is,
     * so only a name pgpulse could have made is used. */
    size_t n = strlen(c->slot);
    if (!o->poll && (n == 0 || n > STREAM_SLOT_NAME_MAX ||
                     strspn(c->slot, "abcdefghijklmnopqrstuvwxyz0123456789_") != n))
        return util_err(err, errlen,
                        "consumer '%s': the slot name recorded in stream_consumer ('%s') is not "
                        "one pgpulse makes ([a-z0-9_], at most %d bytes)",
                        o->consumer, c->slot, STREAM_SLOT_NAME_MAX);

    /* The checkpoint row: a new cdc consumer has no slot yet; a new poller starts at the
     * current end of the stream. For an existing row the insert also waits for a transaction of
     * an earlier connection of this consumer that is still in flight (its checkpoint update
     * holds the row: a COMMIT sent just before that connection was lost may still commit), so
     * that the checkpoint read next is the one that stands. */
    const char *p2[] = {o->consumer, STREAM_SOURCE_LOCAL, o->poll ? "stream" : "new"};
    rc =
        pgconn_query(c->db,
                     "INSERT INTO stream_checkpoint (consumer, source, poll_xid, mode) VALUES ($1, "
                     "$2, txid_snapshot_xmin(txid_current_snapshot()), $3) ON CONFLICT DO NOTHING",
                     3, p2, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc) return rc;
    return stream_ckpt_read(c, err, errlen);
}

/* The consumer's publication: the one it recorded if it still exists (a consumer of an older
 * pgpulse has its own), else the shared one for its shard (reading_publication). */
static int stream_publication(consumer *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc;
    if (c->pub[0]) {
        const char *p[] = {c->pub};
        rc = pgconn_query(c->db, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, p,
                          PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return rc;
        int have = PQntuples(r) == 1;
        PQclear(r);
        if (have) return 0;
    }
    char shard[16], shards[16];
    snprintf(shard, sizeof shard, "%d", c->o->shard);
    snprintf(shards, sizeof shards, "%d", c->o->shards);
    const char *p[] = {shard, shards};
    rc = pgconn_query(c->db, "SELECT reading_publication($1, $2)", 2, p, PGRES_TUPLES_OK, &r, err,
                      errlen);
    if (rc) return rc;
    snprintf(c->pub, sizeof c->pub, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *p2[] = {c->o->consumer, c->pub};
    return pgconn_query(c->db, "UPDATE stream_consumer SET publication = $2 WHERE consumer = $1", 2,
                        p2, PGRES_COMMAND_OK, NULL, err, errlen);
}

/* The slot's wal_status into status ("" when there is no slot). */
static int stream_slot_status(consumer *c, char *status, size_t len, char *err, size_t errlen)
{
    const char *p[] = {c->slot};
    PGresult *r = NULL;
    int rc = pgconn_query(c->db,
                          "SELECT coalesce(wal_status, 'unknown') FROM pg_replication_slots WHERE "
                          "slot_name = $1",
                          1, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    snprintf(status, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

/* Drops the slot if it exists. The slot is to be replaced (a new consumer's leftover, or a lost
 * one): a process that still holds it — a walsender whose consumer was killed while it created
 * the slot keeps it until the transactions it waits for end — is waited for, as long as it takes
 * (until *stop). */
static int stream_slot_drop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    const char *p[] = {c->slot};
    for (int64_t said = 0;;) {
        PGresult *r = PQexecParams(c->db,
                                   "SELECT pg_drop_replication_slot(slot_name) FROM "
                                   "pg_replication_slots WHERE slot_name = $1",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            PQclear(r);
            return 0;
        }
        pgconn_result_error(r, c->db, err, errlen);
        int lost = pgconn_result_lost(c->db, r), busy = pgconn_is_sqlstate(r, "55006");
        int gone = pgconn_is_sqlstate(r, "42704"); /* dropped since it was listed */
        PQclear(r);
        if (gone) return 0;
        if (lost) return PGCONN_LOST;
        if (!busy || *stop) return -1;
        int64_t now = util_mono_us();
        if (!said || now - said > STREAM_SLOT_SAY_US) {
            stream_log(c, "waiting for the process that holds slot %s to let go of it (%s)",
                       c->slot, err);
            said = now;
        }
        util_sleep_ms(200);
    }
}

/* Creates the slot on a replication connection with an exported snapshot and imports that
 * snapshot into a REPEATABLE READ transaction on `into`, which stays open (the caller commits
 * it, or reads the table in it). Returns the slot's consistent point and the snapshot. */
static int stream_slot_create(consumer *c, volatile sig_atomic_t *stop, PGconn *into,
                              uint64_t *consistent, xidset_snap *snap, char *err, size_t errlen)
{
    int rc = stream_slot_drop(c, stop, err, errlen);
    if (rc) return rc;
    const char *kw[] = {"dbname", "replication", NULL};
    const char *val[] = {c->o->conninfo, "database", NULL};
    PGconn *repl = PQconnectdbParams(kw, val, 1);
    PGresult *r = NULL;
    if (PQstatus(repl) != CONNECTION_OK) {
        pgconn_result_error(NULL, repl, err, errlen);
        rc = PGCONN_LOST;
        goto done;
    }
    stream_log(c, "creating replication slot %s (it waits for the transactions open now to end)",
               c->slot);
    /* The name was checked (stream_register): safe as an identifier here, where the
     * replication protocol takes no parameters. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput EXPORT_SNAPSHOT",
             c->slot);
    r = stream_exec_interruptible(repl, cmd, stop);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 3) {
        pgconn_result_error(r, repl, err, errlen);
        /* 42710: a slot of that name appeared since it was dropped: setup again. */
        rc = *stop                                                          ? -1
             : pgconn_result_lost(repl, r) || pgconn_is_sqlstate(r, "42710") ? PGCONN_LOST
                                                                             : -1;
        goto done;
    }
    if (pgoutput_lsn_parse(PQgetvalue(r, 0, 1), consistent) != 0) {
        rc = util_err(err, errlen, "slot %s: bad consistent point '%s'", c->slot,
                      PQgetvalue(r, 0, 1));
        goto done;
    }
    const char *name = PQgetvalue(r, 0, 2);
    if (!*name || strspn(name, "0123456789ABCDEFabcdef-") != strlen(name) || strlen(name) > 64) {
        rc = util_err(err, errlen, "slot %s: unexpected snapshot name '%s'", c->slot, name);
        goto done;
    }
    /* SET TRANSACTION SNAPSHOT takes no parameters: the name was checked just above. */
    char set[128];
    snprintf(set, sizeof set, "SET TRANSACTION SNAPSHOT '%s'", name);
    if ((rc = pgconn_exec(into, "BEGIN ISOLATION LEVEL REPEATABLE READ", err, errlen)))
        goto done;
    if ((rc = pgconn_exec(into, set, err, errlen))) {
        /* The name was checked: the export ended with its walsender (killed, or its connection
         * lost). The slot stays unrecorded, so setup drops it and starts over. */
        if (rc != PGCONN_LOST) rc = PGCONN_LOST;
        goto done;
    }
    PQclear(r);
    r = NULL;
    rc = pgconn_query(into, "SELECT pg_current_snapshot()::text", 0, NULL, PGRES_TUPLES_OK, &r, err,
                      errlen);
    if (rc) goto done;
    char msg[256];
    if (xidset_snap_parse(PQgetvalue(r, 0, 0), snap, msg, sizeof msg) != 0)
        rc = util_err(err, errlen, "slot %s: %s", c->slot, msg);
done:
    PQclear(r);
    PQfinish(repl); /* the export ends; the importing transaction keeps its snapshot */
    return rc;
}

/* A new consumer: a slot, and everything its snapshot shows as committed counts as before the
 * consumer began. */
static int stream_start_new(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    uint64_t consistent = 0;
    xidset_snap snap = {0};
    int rc = stream_slot_create(c, stop, c->db, &consistent, &snap, err, errlen);
    if (rc == 0) rc = pgconn_exec(c->db, "COMMIT", err, errlen);
    if (rc == 0) {
        stream_ckpt k = {0};
        stream_ckpt_copy(&k, &c->ck);
        k.mode = STREAM_MODE_STREAM;
        xidset_snap_copy(&k.covered, &snap);
        k.has_covered = 1;
        k.commit_lsn = 0;
        k.end_lsn = consistent;
        rc = pgconn_exec(c->db, "BEGIN", err, errlen);
        if (rc == 0) rc = stream_applied_update(c, NULL, 1, &k.napplied, err, errlen);
        if (rc == 0) rc = stream_ckpt_write(c, &k, 0, 0, NULL, err, errlen);
        if (rc == 0) rc = pgconn_exec(c->db, "COMMIT", err, errlen);
        if (rc == 0) stream_ckpt_copy(&c->ck, &k);
        stream_ckpt_free(&k);
    }
    if (rc) PQclear(PQexec(c->db, "ROLLBACK"));
    xidset_snap_free(&snap);
    return rc;
}

/* A lost slot: a new one, whose exported snapshot says what the table read must cover; the
 * read's transaction is left open on c->reader. */
static int stream_replace_slot(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    c->reader = pgconn_connect(c->o->conninfo, c->o->consumer, err, errlen);
    if (!c->reader) return PGCONN_LOST;
    uint64_t consistent = 0;
    xidset_snap snap = {0};
    int rc = stream_slot_create(c, stop, c->reader, &consistent, &snap, err, errlen);
    if (rc == 0) {
        stream_ckpt k = {0};
        stream_ckpt_copy(&k, &c->ck);
        k.mode = STREAM_MODE_CATCHUP;
        xidset_snap_copy(&k.catchup, &snap);
        k.catchup_lsn = consistent;
        k.has_cursor = 0;
        rc = stream_ckpt_write(c, &k, 0, 0, NULL, err, errlen);
        if (rc == 0) stream_ckpt_copy(&c->ck, &k);
        stream_ckpt_free(&k);
    }
    xidset_snap_free(&snap);
    return rc;
}

/* The slot is gone or invalidated: can the checkpoint say what was applied? Then recovery
 * begins (mode recovering, written before the old slot is dropped). */
static int stream_begin_recovery(consumer *c, const char *status, char *err, size_t errlen)
{
    const stream_ckpt *k = &c->ck;
    char at[32];
    pgoutput_lsn_format(k->end_lsn ? k->end_lsn : k->partial_lsn, at, sizeof at);
    const char *what = *status ? "was invalidated (wal_status lost: it held more WAL than "
                                 "max_slot_wal_keep_size allows)"
                               : "was dropped";
    if (!k->has_covered || (k->partial_lsn && !k->partial_xid))
        return util_err(err, errlen,
                        "the replication slot %s of consumer '%s' %s, and its checkpoint (at %s) "
                        "was written by an older pgpulse that did not record which transactions "
                        "it applied: rows committed since cannot be told apart. `pgpulse slots "
                        "drop %s` removes the consumer so that it starts afresh",
                        c->slot, c->o->consumer, what, at, c->o->consumer);
    stream_log(c,
               "the replication slot %s %s; its checkpoint is at %s: reading what it missed "
               "from the table, then streaming from a new slot",
               c->slot, what, at);
    const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL};
    int rc = pgconn_query(c->db,
                          "UPDATE stream_checkpoint SET mode = 'recovering', recoveries = "
                          "recoveries + 1, recovered_at = now(), updated_at = now() WHERE "
                          "consumer = $1 AND source = $2",
                          2, p, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc == 0) c->ck.mode = STREAM_MODE_RECOVERING;
    return rc;
}

/* A snapshot and the WAL insert position after it, to become the covered snapshot once the
 * stream passes that position (a consumer of an older pgpulse gets its first this way). */
static int stream_take_pending(consumer *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc =
        pgconn_query(c->db, "SELECT pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text",
                     0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    stream_pending *s = &c->pending[0];
    char msg[256];
    if (c->npending == 0 &&
        xidset_snap_parse(PQgetvalue(r, 0, 0), &s->snap, msg, sizeof msg) == 0 &&
        pgoutput_lsn_parse(PQgetvalue(r, 0, 1), &s->lsn) == 0)
        c->npending = 1;
    PQclear(r);
    return 0;
}

/* A consumer of an older pgpulse that never committed has applied nothing: it is new. */
static void stream_new_if_untouched(stream_ckpt *k)
{
    if (k->mode == STREAM_MODE_STREAM && !k->has_covered && !k->end_lsn && !k->commit_lsn &&
        !k->partial_lsn)
        k->mode = STREAM_MODE_NEW;
}

int stream_setup(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    int rc = stream_lock(c, 1, stop, err, errlen);
    if (rc) return rc == 1 ? 0 : rc; /* 1: stopped while waiting */
    rc = stream_register(c, err, errlen);
    int citus = 0;
    if (rc == 0) rc = stream_citus_detect(c, &citus, err, errlen);
    if (rc || c->o->poll) return rc;
    if ((rc = stream_publication(c, err, errlen))) return rc;
    if (citus) {
        stream_citus_open(c);
        return stream_citus_setup(c, stop, err, errlen);
    }
    stream_ckpt *k = &c->ck;
    stream_new_if_untouched(k);
    if (k->mode == STREAM_MODE_NEW) return stream_start_new(c, stop, err, errlen);
    if (k->mode == STREAM_MODE_STREAM) {
        char status[32];
        if ((rc = stream_slot_status(c, status, sizeof status, err, errlen))) return rc;
        if (*status && strcmp(status, "lost") != 0) return stream_take_pending(c, err, errlen);
        if ((rc = stream_begin_recovery(c, status, err, errlen))) return rc;
    }
    if (k->mode == STREAM_MODE_RECOVERING) return stream_replace_slot(c, stop, err, errlen);
    return 0; /* catching up: stream_catchup resumes from the cursor */
}

int stream_prepare(const stream_opts *o, char *err, size_t errlen)
{
    consumer c;
    if (stream_consumer_init(&c, o, err, errlen)) return -1;
    volatile sig_atomic_t never = 0; /* the caller's signals end the process meanwhile */
    c.db = pgconn_connect(o->conninfo, o->consumer, err, errlen);
    /* A consumer that runs already is ready. */
    int rc = c.db ? stream_lock(&c, 0, &never, err, errlen) : -1;
    if (rc == 1) {
        stream_consumer_free(&c);
        return 0;
    }
    if (rc == 0) rc = stream_register(&c, err, errlen);
    int citus = 0;
    if (rc == 0) rc = stream_citus_detect(&c, &citus, err, errlen);
    if (rc == 0 && !o->poll) rc = stream_publication(&c, err, errlen);
    if (rc == 0 && citus) {
        /* Every node's slot now (a node's own setup is the same as when the consumer runs). */
        stream_citus_open(&c);
        rc = stream_citus_setup(&c, &never, err, errlen);
    } else if (rc == 0 && !o->poll) {
        /* Only a new consumer gets its slot here; anything else (a lost slot, a catch-up) is
         * for the consumer itself to handle when it runs. */
        stream_new_if_untouched(&c.ck);
        if (c.ck.mode == STREAM_MODE_NEW) rc = stream_start_new(&c, &never, err, errlen);
    }
    stream_consumer_free(&c);
    return rc ? -1 : 0;
}
