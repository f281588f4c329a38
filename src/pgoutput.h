/* pgoutput: the logical replication wire format — the walsender's CopyData envelopes
 * (XLogData 'w', primary keepalive 'k', standby status update 'r') and the pgoutput plugin's
 * messages inside XLogData (protocol version 1: Begin, Commit, Relation, Type, Insert, Update,
 * Delete, Truncate, Origin, Message), with values as the types' binary send format
 * (`binary 'true'`) or text.
 *
 * Readers are pure functions over (const uint8_t *, size_t): they never read past the end, and
 * reject malformed input (short buffers, unterminated strings, bad tuple kinds, column counts
 * over PGOUTPUT_MAX_COLS, trailing bytes) with -1 and a message. Decoded strings and values
 * point into the input buffer, which must outlive the decoded message. Writers append to a buf;
 * they exist for the standby status update (sent to the server) and for tests (building
 * messages the server would send). See ../shared/reference/LOGICAL_REPLICATION.md. */
#ifndef PGPULSE_PGOUTPUT_H
#define PGPULSE_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PGOUTPUT_MAX_COLS 64 /* more columns in a relation or tuple is an error */

/* ----- CopyData envelopes ----- */

typedef struct pgoutput_envelope {
    char kind;            /* 'w' XLogData or 'k' keepalive */
    uint64_t wal_start;   /* 'w': LSN of the data */
    uint64_t wal_end;     /* current end of WAL on the server */
    int64_t send_time;    /* server clock, µs since 2000-01-01 */
    int reply_requested;  /* 'k': the server wants a status update now */
    const uint8_t *data;  /* 'w': the pgoutput message */
    size_t data_len;
} pgoutput_envelope;

/* Reads one CopyData payload from the walsender: 'w' (at least the 25-byte header; data may be
 * empty) or 'k' (exactly 18 bytes, reply flag 0 or 1). Returns 0, or -1 with a message (empty,
 * unknown kind, short, wrong size). out->data points into data. */
int pgoutput_read_envelope(const uint8_t *data, size_t len, pgoutput_envelope *out, char *err,
                           size_t errlen);

/* Appends an XLogData or keepalive envelope (tests), and the 34-byte standby status update. */
void pgoutput_write_xlogdata(buf *b, uint64_t wal_start, uint64_t wal_end, int64_t send_time,
                             const uint8_t *data, size_t len);
void pgoutput_write_keepalive(buf *b, uint64_t wal_end, int64_t send_time, int reply_requested);
void pgoutput_write_status(buf *b, uint64_t written, uint64_t flushed, uint64_t applied,
                           int64_t client_time, int reply_requested);

/* Reads a standby status update (tests): exactly 34 bytes starting 'r', reply flag 0 or 1.
 * Returns 0 or -1. */
int pgoutput_read_status(const uint8_t *data, size_t len, uint64_t *written, uint64_t *flushed,
                         uint64_t *applied, int64_t *client_time, int *reply_requested);

/* ----- pgoutput messages ----- */

typedef struct pgoutput_value {
    char kind;             /* 'n' NULL, 'u' unchanged TOAST, 't' text, 'b' binary */
    const uint8_t *data;   /* 't', 'b': the bytes (NULL for 'n', 'u') */
    uint32_t len;
} pgoutput_value;

typedef struct pgoutput_tuple {
    uint16_t ncols;
    pgoutput_value cols[PGOUTPUT_MAX_COLS];
} pgoutput_tuple;

typedef struct pgoutput_column {
    uint8_t flags;          /* 1: part of the replica identity key */
    const char *name;       /* NUL-terminated, inside the input */
    uint32_t type_oid;
    int32_t typmod;
} pgoutput_column;

typedef struct pgoutput_msg {
    char kind; /* 'B', 'C', 'R', 'Y', 'I', 'U', 'D', 'T', 'O', 'M' */
    union {
        struct {
            uint64_t final_lsn;
            int64_t commit_time;
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            uint64_t commit_lsn;
            uint64_t end_lsn;
            int64_t commit_time;
        } commit;
        struct {
            uint32_t relid;
            const char *nspname; /* "" for pg_catalog */
            const char *relname;
            char replident;      /* 'd', 'n', 'f', 'i' */
            uint16_t ncols;
            pgoutput_column cols[PGOUTPUT_MAX_COLS];
        } relation;
        struct {
            uint32_t type_oid;
            const char *nspname;
            const char *typname;
        } type;
        struct {
            uint32_t relid;
            pgoutput_tuple newtup;
        } insert;
        struct {
            uint32_t relid;
            char oldkind;        /* 'K' old key, 'O' old row, 0 none */
            pgoutput_tuple oldtup;
            pgoutput_tuple newtup;
        } update;
        struct {
            uint32_t relid;
            char oldkind;        /* 'K' or 'O' */
            pgoutput_tuple oldtup;
        } del;
        struct {
            uint32_t nrelids;
            uint8_t flags;       /* 1 cascade, 2 restart identity */
            const uint8_t *relids; /* nrelids big-endian Int32, read with pgoutput_truncate_relid */
        } truncate;
        struct {
            uint64_t lsn;
            const char *name;
        } origin;
        struct {
            uint8_t flags;       /* 1 transactional */
            uint64_t lsn;
            const char *prefix;
            uint32_t len;
            const uint8_t *content;
        } message;
    } u;
} pgoutput_msg;

/* Decodes one pgoutput message (protocol version 1), which must fill len exactly. Returns 0, or
 * -1 with a message naming the message kind and what is wrong. Besides the bounds, it rejects
 * what no server sends: other kinds (including the streaming and two-phase ones), a nonzero
 * Commit flags byte, a replica identity outside d/n/f/i, column flags over 1, Truncate flags
 * outside 1|2, Message flags over 1, and negative counts and lengths. So any message it accepts
 * is written back to the same bytes by the writer of its kind. */
int pgoutput_read(const uint8_t *data, size_t len, pgoutput_msg *out, char *err, size_t errlen);

/* The i-th relation id of a decoded Truncate (i < nrelids). */
uint32_t pgoutput_truncate_relid(const pgoutput_msg *m, uint32_t i);

/* Writers of every message kind, the inverse of pgoutput_read (for tests and fuzz seeds).
 * Commit writes flags 0; Update writes no old tuple when oldkind is 0. */
void pgoutput_write_begin(buf *b, uint64_t final_lsn, int64_t commit_time, uint32_t xid);
void pgoutput_write_commit(buf *b, uint64_t commit_lsn, uint64_t end_lsn, int64_t commit_time);
void pgoutput_write_relation(buf *b, uint32_t relid, const char *nspname, const char *relname,
                             char replident, uint16_t ncols, const pgoutput_column *cols);
void pgoutput_write_type(buf *b, uint32_t type_oid, const char *nspname, const char *typname);
void pgoutput_write_insert(buf *b, uint32_t relid, const pgoutput_tuple *newtup);
void pgoutput_write_update(buf *b, uint32_t relid, char oldkind, const pgoutput_tuple *oldtup,
                           const pgoutput_tuple *newtup);
void pgoutput_write_delete(buf *b, uint32_t relid, char oldkind, const pgoutput_tuple *oldtup);
void pgoutput_write_truncate(buf *b, uint32_t nrelids, uint8_t flags, const uint32_t *relids);
void pgoutput_write_origin(buf *b, uint64_t lsn, const char *name);
void pgoutput_write_message(buf *b, uint8_t flags, uint64_t lsn, const char *prefix,
                            const uint8_t *content, uint32_t len);

/* LSN text form "X/X" (PostgreSQL's %X/%X, "16/B374D848"): format into out (>= 24 bytes), and
 * parse: two halves of 1 to 8 hex digits (either case) around one '/', nothing else, not even
 * spaces. parse returns 0, or -1 and leaves *lsn alone. */
void pgoutput_lsn_format(uint64_t lsn, char *out, size_t len);
int pgoutput_lsn_parse(const char *s, uint64_t *lsn);

/* The name of a protocol version 1 message kind ("Begin", "Insert", ...), or NULL for any
 * other byte. */
const char *pgoutput_kind_name(char kind);

#endif
