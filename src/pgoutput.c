/* pgoutput: readers and writers for the walsender's CopyData envelopes and the pgoutput
 * plugin's protocol version 1 messages, byte for byte as PostgreSQL's proto.c and walsender.c
 * build them (see ../shared/reference/LOGICAL_REPLICATION.md). The readers walk a bounds-checked
 * cursor and accept only what a server sends: each message must be consumed exactly, every
 * string must end inside the buffer, and flags and kinds outside the defined sets are errors,
 * so that a message that reads back also writes back to the same bytes. */
#include "pgoutput.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "copybin.h"
#include "util.h"

#define PGOUTPUT_XLOGDATA_HDR 25  /* 'w' + dataStart + walEnd + sendTime */
#define PGOUTPUT_KEEPALIVE_LEN 18 /* 'k' + walEnd + sendTime + replyRequested */
#define PGOUTPUT_STATUS_LEN 34    /* 'r' + written + flushed + applied + clientTime + reply */

/* ----- reading ----- */

/* A read cursor; every read checks that its bytes lie before end. */
typedef struct pgoutput_rd {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
} pgoutput_rd;

static int rd_have(const pgoutput_rd *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static int rd_u8(pgoutput_rd *r, uint8_t *v)
{
    if (!rd_have(r, 1)) return -1;
    *v = *r->p++;
    return 0;
}

static int rd_u16(pgoutput_rd *r, uint16_t *v)
{
    if (!rd_have(r, 2)) return -1;
    *v = copybin_get16(r->p);
    r->p += 2;
    return 0;
}

static int rd_u32(pgoutput_rd *r, uint32_t *v)
{
    if (!rd_have(r, 4)) return -1;
    *v = copybin_get32(r->p);
    r->p += 4;
    return 0;
}

static int rd_u64(pgoutput_rd *r, uint64_t *v)
{
    if (!rd_have(r, 8)) return -1;
    *v = copybin_get64(r->p);
    r->p += 8;
    return 0;
}

static int rd_i64(pgoutput_rd *r, int64_t *v)
{
    uint64_t u;
    if (rd_u64(r, &u) != 0) return -1;
    *v = (int64_t)u;
    return 0;
}

/* A NUL-terminated string: the terminator must lie inside the buffer. */
static int rd_str(pgoutput_rd *r, const char **s)
{
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul) return -1;
    *s = (const char *)r->p;
    r->p = nul + 1;
    return 0;
}

const char *pgoutput_kind_name(char kind)
{
    switch (kind) {
    case 'B':
        return "Begin";
    case 'C':
        return "Commit";
    case 'R':
        return "Relation";
    case 'Y':
        return "Type";
    case 'I':
        return "Insert";
    case 'U':
        return "Update";
    case 'D':
        return "Delete";
    case 'T':
        return "Truncate";
    case 'O':
        return "Origin";
    case 'M':
        return "Message";
    default:
        return NULL;
    }
}

/* Reads TupleData. Returns 0, or -1 with the problem in why (a static string). */
static int rd_tuple(pgoutput_rd *r, pgoutput_tuple *t, const char **why)
{
    if (rd_u16(r, &t->ncols) != 0) {
        *why = "short tuple column count";
        return -1;
    }
    if (t->ncols > PGOUTPUT_MAX_COLS) {
        *why = "too many tuple columns";
        return -1;
    }
    for (uint16_t i = 0; i < t->ncols; i++) {
        pgoutput_value *v = &t->cols[i];
        uint8_t kind;
        if (rd_u8(r, &kind) != 0) {
            *why = "short tuple value";
            return -1;
        }
        v->kind = (char)kind;
        v->data = NULL;
        v->len = 0;
        switch (kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b':
            if (rd_u32(r, &v->len) != 0) {
                *why = "short tuple value length";
                return -1;
            }
            if (v->len > INT32_MAX) {
                *why = "negative tuple value length";
                return -1;
            }
            if (!rd_have(r, v->len)) {
                *why = "tuple value past the end";
                return -1;
            }
            v->data = r->p;
            r->p += v->len;
            break;
        default:
            *why = "bad tuple value kind";
            return -1;
        }
    }
    return 0;
}

/* The fields of each kind; "short" covers every read past the end. */
static int rd_body(pgoutput_rd *r, pgoutput_msg *m, const char **why)
{
    *why = "short";
    switch (m->kind) {
    case 'B':
        if (rd_u64(r, &m->u.begin.final_lsn) || rd_i64(r, &m->u.begin.commit_time) ||
            rd_u32(r, &m->u.begin.xid))
            return -1;
        return 0;
    case 'C':
        if (rd_u8(r, &m->u.commit.flags) || rd_u64(r, &m->u.commit.commit_lsn) ||
            rd_u64(r, &m->u.commit.end_lsn) || rd_i64(r, &m->u.commit.commit_time))
            return -1;
        if (m->u.commit.flags != 0) { /* unused, must be 0 (proto.c checks the same) */
            *why = "nonzero flags";
            return -1;
        }
        return 0;
    case 'R': {
        uint8_t replident;
        if (rd_u32(r, &m->u.relation.relid) || rd_str(r, &m->u.relation.nspname) ||
            rd_str(r, &m->u.relation.relname) || rd_u8(r, &replident) ||
            rd_u16(r, &m->u.relation.ncols))
            return -1;
        m->u.relation.replident = (char)replident;
        if (!memchr("dnfi", replident, 4)) {
            *why = "bad replica identity";
            return -1;
        }
        if (m->u.relation.ncols > PGOUTPUT_MAX_COLS) {
            *why = "too many columns";
            return -1;
        }
        for (uint16_t i = 0; i < m->u.relation.ncols; i++) {
            pgoutput_column *c = &m->u.relation.cols[i];
            uint32_t typmod;
            if (rd_u8(r, &c->flags) || rd_str(r, &c->name) || rd_u32(r, &c->type_oid) ||
                rd_u32(r, &typmod))
                return -1;
            c->typmod = (int32_t)typmod;
            if (c->flags > 1) {
                *why = "bad column flags";
                return -1;
            }
        }
        return 0;
    }
    case 'Y':
        if (rd_u32(r, &m->u.type.type_oid) || rd_str(r, &m->u.type.nspname) ||
            rd_str(r, &m->u.type.typname))
            return -1;
        return 0;
    case 'I': {
        uint8_t n;
        if (rd_u32(r, &m->u.insert.relid) || rd_u8(r, &n)) return -1;
        if (n != 'N') {
            *why = "expected 'N'";
            return -1;
        }
        return rd_tuple(r, &m->u.insert.newtup, why);
    }
    case 'U': {
        uint8_t k;
        if (rd_u32(r, &m->u.update.relid) || rd_u8(r, &k)) return -1;
        m->u.update.oldkind = 0;
        m->u.update.oldtup.ncols = 0;
        if (k == 'K' || k == 'O') {
            m->u.update.oldkind = (char)k;
            if (rd_tuple(r, &m->u.update.oldtup, why) != 0) return -1;
            *why = "short";
            if (rd_u8(r, &k) != 0) return -1;
        }
        if (k != 'N') {
            *why = "expected 'K', 'O' or 'N'";
            return -1;
        }
        return rd_tuple(r, &m->u.update.newtup, why);
    }
    case 'D': {
        uint8_t k;
        if (rd_u32(r, &m->u.del.relid) || rd_u8(r, &k)) return -1;
        if (k != 'K' && k != 'O') {
            *why = "expected 'K' or 'O'";
            return -1;
        }
        m->u.del.oldkind = (char)k;
        return rd_tuple(r, &m->u.del.oldtup, why);
    }
    case 'T':
        if (rd_u32(r, &m->u.truncate.nrelids) || rd_u8(r, &m->u.truncate.flags)) return -1;
        if (m->u.truncate.nrelids > INT32_MAX) {
            *why = "negative relation count";
            return -1;
        }
        if (m->u.truncate.flags & ~3u) {
            *why = "bad flags";
            return -1;
        }
        /* Compared by division, so that nrelids * 4 cannot overflow a 32-bit size_t. */
        if ((size_t)(r->end - r->p) / 4 < m->u.truncate.nrelids) {
            *why = "relation ids past the end";
            return -1;
        }
        m->u.truncate.relids = r->p;
        r->p += (size_t)m->u.truncate.nrelids * 4;
        return 0;
    case 'O':
        if (rd_u64(r, &m->u.origin.lsn) || rd_str(r, &m->u.origin.name)) return -1;
        return 0;
    case 'M':
        if (rd_u8(r, &m->u.message.flags) || rd_u64(r, &m->u.message.lsn) ||
            rd_str(r, &m->u.message.prefix) || rd_u32(r, &m->u.message.len))
            return -1;
        if (m->u.message.flags > 1) {
            *why = "bad flags";
            return -1;
        }
        if (m->u.message.len > INT32_MAX) {
            *why = "negative content length";
            return -1;
        }
        if (!rd_have(r, m->u.message.len)) {
            *why = "content past the end";
            return -1;
        }
        m->u.message.content = r->p;
        r->p += m->u.message.len;
        return 0;
    default: /* not reached: pgoutput_read checks the kind first */
        *why = "unknown message kind";
        return -1;
    }
}

int pgoutput_read(const uint8_t *data, size_t len, pgoutput_msg *out, char *err, size_t errlen)
{
    if (len == 0) return util_err(err, errlen, "pgoutput: empty message");
    pgoutput_rd r = {data + 1, data + len};
    out->kind = (char)data[0];
    const char *name = pgoutput_kind_name(out->kind);
    const char *why = NULL;
    if (!name) return util_err(err, errlen, "pgoutput: unknown message kind 0x%02x", data[0]);
    if (rd_body(&r, out, &why) != 0)
        return util_err(err, errlen, "pgoutput %s: %s (%zu bytes)", name, why, len);
    if (r.p != r.end)
        return util_err(err, errlen, "pgoutput %s: %zu trailing bytes", name,
                        (size_t)(r.end - r.p));
    return 0;
}

uint32_t pgoutput_truncate_relid(const pgoutput_msg *m, uint32_t i)
{
    assert(m->kind == 'T' && i < m->u.truncate.nrelids);
    return copybin_get32(m->u.truncate.relids + (size_t)i * 4);
}

/* ----- envelopes ----- */

int pgoutput_read_envelope(const uint8_t *data, size_t len, pgoutput_envelope *out, char *err,
                           size_t errlen)
{
    if (len == 0) return util_err(err, errlen, "replication: empty CopyData");
    memset(out, 0, sizeof *out);
    out->kind = (char)data[0];
    switch (data[0]) {
    case 'w':
        if (len < PGOUTPUT_XLOGDATA_HDR)
            return util_err(err, errlen, "replication XLogData: short header (%zu bytes)", len);
        out->wal_start = copybin_get64(data + 1);
        out->wal_end = copybin_get64(data + 9);
        out->send_time = (int64_t)copybin_get64(data + 17);
        out->data = data + PGOUTPUT_XLOGDATA_HDR;
        out->data_len = len - PGOUTPUT_XLOGDATA_HDR;
        return 0;
    case 'k':
        if (len != PGOUTPUT_KEEPALIVE_LEN)
            return util_err(err, errlen, "replication keepalive: %zu bytes, expected %d", len,
                            PGOUTPUT_KEEPALIVE_LEN);
        out->wal_end = copybin_get64(data + 1);
        out->send_time = (int64_t)copybin_get64(data + 9);
        if (data[17] > 1)
            return util_err(err, errlen, "replication keepalive: bad reply flag %u", data[17]);
        out->reply_requested = data[17];
        return 0;
    default:
        return util_err(err, errlen, "replication: unknown CopyData kind 0x%02x", data[0]);
    }
}

void pgoutput_write_xlogdata(buf *b, uint64_t wal_start, uint64_t wal_end, int64_t send_time,
                             const uint8_t *data, size_t len)
{
    uint8_t *p = buf_reserve(b, PGOUTPUT_XLOGDATA_HDR + len);
    p[0] = 'w';
    copybin_put64(p + 1, wal_start);
    copybin_put64(p + 9, wal_end);
    copybin_put64(p + 17, (uint64_t)send_time);
    if (len) memcpy(p + PGOUTPUT_XLOGDATA_HDR, data, len);
    buf_commit(b, PGOUTPUT_XLOGDATA_HDR + len);
}

void pgoutput_write_keepalive(buf *b, uint64_t wal_end, int64_t send_time, int reply_requested)
{
    uint8_t *p = buf_reserve(b, PGOUTPUT_KEEPALIVE_LEN);
    p[0] = 'k';
    copybin_put64(p + 1, wal_end);
    copybin_put64(p + 9, (uint64_t)send_time);
    p[17] = reply_requested ? 1 : 0;
    buf_commit(b, PGOUTPUT_KEEPALIVE_LEN);
}

void pgoutput_write_status(buf *b, uint64_t written, uint64_t flushed, uint64_t applied,
                           int64_t client_time, int reply_requested)
{
    uint8_t *p = buf_reserve(b, PGOUTPUT_STATUS_LEN);
    p[0] = 'r';
    copybin_put64(p + 1, written);
    copybin_put64(p + 9, flushed);
    copybin_put64(p + 17, applied);
    copybin_put64(p + 25, (uint64_t)client_time);
    p[33] = reply_requested ? 1 : 0;
    buf_commit(b, PGOUTPUT_STATUS_LEN);
}

int pgoutput_read_status(const uint8_t *data, size_t len, uint64_t *written, uint64_t *flushed,
                         uint64_t *applied, int64_t *client_time, int *reply_requested)
{
    if (len != PGOUTPUT_STATUS_LEN || data[0] != 'r' || data[33] > 1) return -1;
    *written = copybin_get64(data + 1);
    *flushed = copybin_get64(data + 9);
    *applied = copybin_get64(data + 17);
    *client_time = (int64_t)copybin_get64(data + 25);
    *reply_requested = data[33];
    return 0;
}

/* ----- writing messages ----- */

static void wr_u8(buf *b, uint8_t v)
{
    buf_append(b, &v, 1);
}

static void wr_u16(buf *b, uint16_t v)
{
    copybin_put16(buf_reserve(b, 2), v);
    buf_commit(b, 2);
}

static void wr_u32(buf *b, uint32_t v)
{
    copybin_put32(buf_reserve(b, 4), v);
    buf_commit(b, 4);
}

static void wr_u64(buf *b, uint64_t v)
{
    copybin_put64(buf_reserve(b, 8), v);
    buf_commit(b, 8);
}

/* A string with its terminator. */
static void wr_str(buf *b, const char *s)
{
    buf_append(b, s, strlen(s) + 1);
}

static void wr_tuple(buf *b, const pgoutput_tuple *t)
{
    assert(t->ncols <= PGOUTPUT_MAX_COLS);
    wr_u16(b, t->ncols);
    for (uint16_t i = 0; i < t->ncols; i++) {
        const pgoutput_value *v = &t->cols[i];
        assert(v->kind == 'n' || v->kind == 'u' || v->kind == 't' || v->kind == 'b');
        wr_u8(b, (uint8_t)v->kind);
        if (v->kind == 't' || v->kind == 'b') {
            assert(v->len <= INT32_MAX);
            wr_u32(b, v->len);
            if (v->len) buf_append(b, v->data, v->len);
        }
    }
}

void pgoutput_write_begin(buf *b, uint64_t final_lsn, int64_t commit_time, uint32_t xid)
{
    wr_u8(b, 'B');
    wr_u64(b, final_lsn);
    wr_u64(b, (uint64_t)commit_time);
    wr_u32(b, xid);
}

void pgoutput_write_commit(buf *b, uint64_t commit_lsn, uint64_t end_lsn, int64_t commit_time)
{
    wr_u8(b, 'C');
    wr_u8(b, 0); /* flags: unused */
    wr_u64(b, commit_lsn);
    wr_u64(b, end_lsn);
    wr_u64(b, (uint64_t)commit_time);
}

void pgoutput_write_relation(buf *b, uint32_t relid, const char *nspname, const char *relname,
                             char replident, uint16_t ncols, const pgoutput_column *cols)
{
    assert(ncols <= PGOUTPUT_MAX_COLS);
    wr_u8(b, 'R');
    wr_u32(b, relid);
    wr_str(b, nspname);
    wr_str(b, relname);
    wr_u8(b, (uint8_t)replident);
    wr_u16(b, ncols);
    for (uint16_t i = 0; i < ncols; i++) {
        wr_u8(b, cols[i].flags);
        wr_str(b, cols[i].name);
        wr_u32(b, cols[i].type_oid);
        wr_u32(b, (uint32_t)cols[i].typmod);
    }
}

void pgoutput_write_type(buf *b, uint32_t type_oid, const char *nspname, const char *typname)
{
    wr_u8(b, 'Y');
    wr_u32(b, type_oid);
    wr_str(b, nspname);
    wr_str(b, typname);
}

void pgoutput_write_insert(buf *b, uint32_t relid, const pgoutput_tuple *newtup)
{
    wr_u8(b, 'I');
    wr_u32(b, relid);
    wr_u8(b, 'N');
    wr_tuple(b, newtup);
}

void pgoutput_write_update(buf *b, uint32_t relid, char oldkind, const pgoutput_tuple *oldtup,
                           const pgoutput_tuple *newtup)
{
    assert(oldkind == 0 || oldkind == 'K' || oldkind == 'O');
    wr_u8(b, 'U');
    wr_u32(b, relid);
    if (oldkind) {
        wr_u8(b, (uint8_t)oldkind);
        wr_tuple(b, oldtup);
    }
    wr_u8(b, 'N');
    wr_tuple(b, newtup);
}

void pgoutput_write_delete(buf *b, uint32_t relid, char oldkind, const pgoutput_tuple *oldtup)
{
    assert(oldkind == 'K' || oldkind == 'O');
    wr_u8(b, 'D');
    wr_u32(b, relid);
    wr_u8(b, (uint8_t)oldkind);
    wr_tuple(b, oldtup);
}

void pgoutput_write_truncate(buf *b, uint32_t nrelids, uint8_t flags, const uint32_t *relids)
{
    wr_u8(b, 'T');
    wr_u32(b, nrelids);
    wr_u8(b, flags);
    for (uint32_t i = 0; i < nrelids; i++)
        wr_u32(b, relids[i]);
}

void pgoutput_write_origin(buf *b, uint64_t lsn, const char *name)
{
    wr_u8(b, 'O');
    wr_u64(b, lsn);
    wr_str(b, name);
}

void pgoutput_write_message(buf *b, uint8_t flags, uint64_t lsn, const char *prefix,
                            const uint8_t *content, uint32_t len)
{
    assert(len <= INT32_MAX);
    wr_u8(b, 'M');
    wr_u8(b, flags);
    wr_u64(b, lsn);
    wr_str(b, prefix);
    wr_u32(b, len);
    if (len) buf_append(b, content, len);
}

/* ----- LSN text ----- */

void pgoutput_lsn_format(uint64_t lsn, char *out, size_t len)
{
    snprintf(out, len, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

/* One half of an LSN: 1 to 8 hex digits. Returns the first byte after them, or NULL. */
static const char *lsn_half(const char *s, uint32_t *v)
{
    uint32_t x = 0;
    int n = 0;
    for (;; s++, n++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            break;
        if (n == 8) return NULL;
        x = x << 4 | (uint32_t)d;
    }
    if (n == 0) return NULL;
    *v = x;
    return s;
}

int pgoutput_lsn_parse(const char *s, uint64_t *lsn)
{
    uint32_t hi, lo;
    s = lsn_half(s, &hi);
    if (!s || *s != '/') return -1;
    s = lsn_half(s + 1, &lo);
    if (!s || *s != '\0') return -1;
    *lsn = (uint64_t)hi << 32 | lo;
    return 0;
}
