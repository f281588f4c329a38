/* libFuzzer target: the pgoutput readers over arbitrary bytes (an exact-size heap copy, so ASan
 * sees any read past the end). The input is read as a CopyData envelope, as a standby status
 * update and as a bare pgoutput message, and the data of an XLogData envelope as a message too.
 * Whatever reads back must re-encode with the matching writer to exactly the bytes it came
 * from; a mismatch aborts. The input as a C string also goes to the LSN parser. Seeds are
 * payloads captured from PostgreSQL 15 (see tests/unit/test_pgoutput.c) and a few synthetic
 * ones (old-key Update/Delete, a status update, an LSN). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_bytes(const uint8_t *in, size_t len, buf *b)
{
    if (b->len != len || (len && memcmp(in, b->data, len) != 0)) abort();
    buf_reset(b);
}

/* Touches every byte of a decoded string, so a string that ran past the input shows. */
static void check_str(const char *s, const uint8_t *in, size_t len)
{
    size_t n = strlen(s);
    if ((const uint8_t *)s < in || (const uint8_t *)s + n >= in + len) abort();
}

static void check_message(const uint8_t *in, size_t len, buf *b)
{
    pgoutput_msg m;
    char err[256];
    err[0] = '\0';
    if (pgoutput_read(in, len, &m, err, sizeof err) != 0) {
        if (err[0] == '\0') abort(); /* every rejection says why */
        return;
    }
    switch (m.kind) {
    case 'B':
        pgoutput_write_begin(b, m.u.begin.final_lsn, m.u.begin.commit_time, m.u.begin.xid);
        break;
    case 'C':
        pgoutput_write_commit(b, m.u.commit.commit_lsn, m.u.commit.end_lsn, m.u.commit.commit_time);
        break;
    case 'R':
        check_str(m.u.relation.nspname, in, len);
        check_str(m.u.relation.relname, in, len);
        if (m.u.relation.ncols > PGOUTPUT_MAX_COLS) abort();
        for (uint16_t i = 0; i < m.u.relation.ncols; i++)
            check_str(m.u.relation.cols[i].name, in, len);
        pgoutput_write_relation(b, m.u.relation.relid, m.u.relation.nspname, m.u.relation.relname,
                                m.u.relation.replident, m.u.relation.ncols, m.u.relation.cols);
        break;
    case 'Y':
        check_str(m.u.type.nspname, in, len);
        check_str(m.u.type.typname, in, len);
        pgoutput_write_type(b, m.u.type.type_oid, m.u.type.nspname, m.u.type.typname);
        break;
    case 'I':
        pgoutput_write_insert(b, m.u.insert.relid, &m.u.insert.newtup);
        break;
    case 'U':
        pgoutput_write_update(b, m.u.update.relid, m.u.update.oldkind, &m.u.update.oldtup,
                              &m.u.update.newtup);
        break;
    case 'D':
        pgoutput_write_delete(b, m.u.del.relid, m.u.del.oldkind, &m.u.del.oldtup);
        break;
    case 'T': {
        /* A valid Truncate holds 4 bytes per relid, so nrelids < len / 4 + 1. */
        if (m.u.truncate.nrelids > len / 4) abort();
        uint32_t *ids = malloc(((size_t)m.u.truncate.nrelids + 1) * sizeof *ids);
        if (!ids) abort();
        for (uint32_t i = 0; i < m.u.truncate.nrelids; i++)
            ids[i] = pgoutput_truncate_relid(&m, i);
        pgoutput_write_truncate(b, m.u.truncate.nrelids, m.u.truncate.flags, ids);
        free(ids);
        break;
    }
    case 'O':
        check_str(m.u.origin.name, in, len);
        pgoutput_write_origin(b, m.u.origin.lsn, m.u.origin.name);
        break;
    case 'M':
        check_str(m.u.message.prefix, in, len);
        pgoutput_write_message(b, m.u.message.flags, m.u.message.lsn, m.u.message.prefix,
                               m.u.message.content, m.u.message.len);
        break;
    default:
        abort(); /* the reader accepted a kind it does not define */
    }
    same_bytes(in, len, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (!p) return 0;
    if (size) memcpy(p, data, size);
    buf b = {0};
    char err[256];

    pgoutput_envelope e;
    if (pgoutput_read_envelope(p, size, &e, err, sizeof err) == 0) {
        if (e.kind == 'w') {
            if (e.data != p + 25 || e.data_len != size - 25) abort();
            pgoutput_write_xlogdata(&b, e.wal_start, e.wal_end, e.send_time, e.data, e.data_len);
            same_bytes(p, size, &b);
            check_message(e.data, e.data_len, &b);
        } else if (e.kind == 'k') {
            pgoutput_write_keepalive(&b, e.wal_end, e.send_time, e.reply_requested);
            same_bytes(p, size, &b);
        } else {
            abort();
        }
    }

    uint64_t w, f, a;
    int64_t t;
    int reply;
    if (pgoutput_read_status(p, size, &w, &f, &a, &t, &reply) == 0) {
        pgoutput_write_status(&b, w, f, a, t, reply);
        same_bytes(p, size, &b);
    }

    check_message(p, size, &b);

    /* The same bytes as an LSN in text: a value that parses formats and parses back to itself. */
    char *text = malloc(size + 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    uint64_t lsn, again;
    char out[24];
    if (pgoutput_lsn_parse(text, &lsn) == 0) {
        if (strlen(text) > 17) abort();
        pgoutput_lsn_format(lsn, out, sizeof out);
        if (pgoutput_lsn_parse(out, &again) != 0 || again != lsn) abort();
    }
    free(text);

    buf_free(&b);
    free(p);
    return 0;
}
