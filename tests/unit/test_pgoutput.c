/* Unit tests for pgoutput: every message kind and envelope round-trips through its writer and
 * the reader, every truncation and trailing garbage is rejected without reading past the end
 * (each input is an exact-size heap copy, so ASan or valgrind sees any overrun), malformed
 * fields are rejected with a message naming the kind, bytes captured from a real server decode
 * to the rows that were inserted, and LSNs format and parse as PostgreSQL's %X/%X. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "copybin.h"
#include "pgoutput.h"

/* ----- bytes captured from a real server -----
 *
 * Captured on 2026-11-23 by a throwaway libpq program (not kept) against PostgreSQL 15.18
 * (Debian 15.18-0+deb12u1, x86_64), a private cluster from `pgpulse db start` with the schema
 * of `pgpulse init` (migrations 001-003, so reading has an 11th column txid bigint). Setup on a
 * normal connection: robot 1; reading_ensure_partitions('2024-03-01', '2024-03-01');
 *   CREATE PUBLICATION cap FOR TABLE reading
 *       WITH (publish = 'insert', publish_via_partition_root = true);
 *   CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
 *   CREATE TABLE small (id int, note text, mood mood);  -- REPLICA IDENTITY FULL
 *   CREATE PUBLICATION cap2 FOR TABLE small;             -- every operation
 *   CREATE TABLE toasty (id int PRIMARY KEY, n int, big text);  -- big SET STORAGE EXTERNAL
 *   CREATE PUBLICATION cap3 FOR TABLE toasty WITH (publish = 'update');
 * Two replication=database connections each made a TEMPORARY pgoutput slot (consistent point
 * 0/19F6EF0 for the first), then these transactions ran, one per line:
 *   INSERT INTO reading VALUES
 *     (1, '2024-03-01 12:00:00+00', 1.5, -2.25, 0, 100.125, -0.5, 3.75, 0.001, -1000000),
 *     (1, '2024-03-01 12:00:00.25+00', 2, 4, 8, 16, 32, 64, 128, 256);         -- xid 748
 *   SELECT pg_logical_emit_message(true, 'pgpulse', 'hello');
 *   INSERT INTO small VALUES (1, 'one', 'happy'), (2, NULL, 'sad');
 *   UPDATE small SET note = 'uno', mood = 'ok' WHERE id = 1;
 *   DELETE FROM small WHERE id = 2;
 *   TRUNCATE small RESTART IDENTITY CASCADE;
 *   INSERT INTO toasty SELECT 1, 1, <3200 bytes>;  UPDATE toasty SET n = 2;  -- insert unpublished
 *   (under replication origin 'capsrc', pg_replication_origin_xact_setup('0/ABCDEF',
 *    '2024-03-01 00:00:00+00')) INSERT INTO small VALUES (3, 'o', 'ok');
 *   SELECT pg_logical_emit_message(false, 'pgpulse', 'end');
 * Then each slot streamed with START_REPLICATION SLOT ... LOGICAL 0/0 (proto_version '1',
 * publication_names 'cap,cap2,cap3', messages 'true'), the first with binary 'true'. Each array
 * is one whole CopyData payload from PQgetCopyData (envelope included). cap_bin is the binary
 * stream in full, cap_txt the text-mode payloads that differ from it (those with tuple data). */
typedef struct captured {
    const uint8_t *bytes;
    size_t len;
} captured;

static const uint8_t cap_bin_00[] = {
    /* keepalive: wal_end 0/19F6EF0, the slot's consistent point */
    0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6e, 0xf0,
    0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x6e, 0x00, 0x00,
};
static const uint8_t cap_bin_01[] = {
    /* Begin xid 748 */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6f, 0x28, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6f,
    0x28, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x79, 0x2d, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x71, 0x80, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x37, 0xc9, 0x00, 0x00, 0x02, 0xec,
};
static const uint8_t cap_bin_02[] = {
    /* Relation public.reading (the partitioned root) */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x79, 0x9b, 0x52, 0x00, 0x00, 0x40, 0x75, 0x70, 0x75,
    0x62, 0x6c, 0x69, 0x63, 0x00, 0x72, 0x65, 0x61, 0x64, 0x69, 0x6e, 0x67, 0x00, 0x64, 0x00, 0x0b,
    0x01, 0x72, 0x6f, 0x62, 0x6f, 0x74, 0x5f, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff,
    0xff, 0xff, 0x01, 0x74, 0x73, 0x00, 0x00, 0x00, 0x04, 0xa0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61,
    0x78, 0x69, 0x73, 0x31, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78,
    0x69, 0x73, 0x32, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69,
    0x73, 0x33, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73,
    0x34, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x35,
    0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x36, 0x00,
    0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x37, 0x00, 0x00,
    0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x38, 0x00, 0x00, 0x00,
    0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x74, 0x78, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x14,
    0xff, 0xff, 0xff, 0xff,
};
static const uint8_t cap_bin_03[] = {
    /* Relation public.reading_p20240301 (the partition, sent too) */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x79, 0xc9, 0x52, 0x00, 0x00, 0x41, 0x36, 0x70, 0x75,
    0x62, 0x6c, 0x69, 0x63, 0x00, 0x72, 0x65, 0x61, 0x64, 0x69, 0x6e, 0x67, 0x5f, 0x70, 0x32, 0x30,
    0x32, 0x34, 0x30, 0x33, 0x30, 0x31, 0x00, 0x64, 0x00, 0x0b, 0x01, 0x72, 0x6f, 0x62, 0x6f, 0x74,
    0x5f, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x01, 0x74, 0x73, 0x00,
    0x00, 0x00, 0x04, 0xa0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x31, 0x00, 0x00,
    0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x32, 0x00, 0x00, 0x00,
    0x02, 0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x33, 0x00, 0x00, 0x00, 0x02,
    0xbd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x34, 0x00, 0x00, 0x00, 0x02, 0xbd,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x35, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x36, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff,
    0xff, 0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x37, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff,
    0xff, 0x00, 0x61, 0x78, 0x69, 0x73, 0x38, 0x00, 0x00, 0x00, 0x02, 0xbd, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x74, 0x78, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x14, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t cap_bin_04[] = {
    /* Insert reading row 1, binary */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6f, 0x28, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6f,
    0x28, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x79, 0xfa, 0x49, 0x00, 0x00, 0x40, 0x75, 0x4e, 0x00,
    0x0b, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00, 0x00, 0x08, 0x00,
    0x02, 0xb5, 0x96, 0xe2, 0x4f, 0x70, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x3f, 0xf8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0xc0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00,
    0x00, 0x00, 0x08, 0x40, 0x59, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08,
    0xbf, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x3f, 0x50, 0x62, 0x4d, 0xd2, 0xf1,
    0xa9, 0xfc, 0x62, 0x00, 0x00, 0x00, 0x08, 0xc1, 0x2e, 0x84, 0x80, 0x00, 0x00, 0x00, 0x00, 0x62,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xec,
};
static const uint8_t cap_bin_05[] = {
    /* Insert reading row 2, binary */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x70, 0xa8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x70,
    0xa8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x0f, 0x49, 0x00, 0x00, 0x40, 0x75, 0x4e, 0x00,
    0x0b, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00, 0x00, 0x08, 0x00,
    0x02, 0xb5, 0x96, 0xe2, 0x53, 0x40, 0x90, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00,
    0x00, 0x00, 0x08, 0x40, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08,
    0x40, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x50, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x60, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x08, 0x40, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xec,
};
static const uint8_t cap_bin_06[] = {
    /* Commit of xid 748 */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71, 0xb0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x71, 0xb0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x21, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x71, 0xb0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x37, 0xc9,
};
static const uint8_t cap_bin_07[] = {
    /* Begin xid 749 */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71,
    0xf0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x3f, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x71, 0xf0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x39, 0x68, 0x00, 0x00, 0x02, 0xed,
};
static const uint8_t cap_bin_08[] = {
    /* Message, transactional: 'pgpulse', 'hello' */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71, 0xf0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x71, 0xf0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x4b, 0x4d,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71, 0xf0, 0x70, 0x67, 0x70, 0x75,
    0x6c, 0x73, 0x65, 0x00, 0x00, 0x00, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t cap_bin_09[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0x20, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x72, 0x20, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x5b, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x71, 0xf0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x72, 0x20, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x39, 0x68,
};
static const uint8_t cap_bin_10[] = {
    /* Begin */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0x20, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72,
    0x20, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x7c, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x72, 0xa8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x3a, 0xb3, 0x00, 0x00, 0x02, 0xee,
};
static const uint8_t cap_bin_11[] = {
    /* Type public.mood */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x8f, 0x59, 0x00, 0x00,
    0x41, 0x41, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x6d, 0x6f, 0x6f, 0x64, 0x00,
};
static const uint8_t cap_bin_12[] = {
    /* Relation public.small */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0x9b, 0x52, 0x00, 0x00, 0x41, 0x47,
    0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x73, 0x6d, 0x61, 0x6c, 0x6c, 0x00, 0x66, 0x00,
    0x03, 0x01, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x01, 0x6e,
    0x6f, 0x74, 0x65, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff, 0x01, 0x6d, 0x6f,
    0x6f, 0x64, 0x00, 0x00, 0x00, 0x41, 0x41, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t cap_bin_13[] = {
    /* Insert small (1, 'one', 'happy') */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0x20, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x72, 0x20, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0xb8, 0x49, 0x00, 0x00, 0x41, 0x47,
    0x4e, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00,
    0x00, 0x03, 0x6f, 0x6e, 0x65, 0x62, 0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70, 0x79,
};
static const uint8_t cap_bin_14[] = {
    /* Insert small (2, NULL, 'sad') */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0x68, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x72, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0xc7, 0x49,
    0x00, 0x00, 0x41, 0x47, 0x4e, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x02, 0x6e, 0x62, 0x00, 0x00, 0x00, 0x03, 0x73, 0x61, 0x64,
};
static const uint8_t cap_bin_15[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0xd8, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x72, 0xd8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0xdb, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0xa8, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x72, 0xd8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x3a, 0xb3,
};
static const uint8_t cap_bin_16[] = {
    /* Begin */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72,
    0xd8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7a, 0xf0, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x73, 0x38, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x3b, 0xf2, 0x00, 0x00, 0x02, 0xef,
};
static const uint8_t cap_bin_17[] = {
    /* Update small, old row (1, 'one', 'happy'), new (1, 'uno', 'ok') */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x72, 0xd8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x06, 0x55, 0x00, 0x00, 0x41, 0x47,
    0x4f, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00,
    0x00, 0x03, 0x6f, 0x6e, 0x65, 0x62, 0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70, 0x79,
    0x4e, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x62, 0x00, 0x00,
    0x00, 0x03, 0x75, 0x6e, 0x6f, 0x62, 0x00, 0x00, 0x00, 0x02, 0x6f, 0x6b,
};
static const uint8_t cap_bin_18[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0x68, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x73, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x18, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0x38, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x73, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x3b, 0xf2,
};
static const uint8_t cap_bin_19[] = {
    /* Begin */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0x68, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73,
    0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x2a, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x73, 0xb0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x3c, 0xd9, 0x00, 0x00, 0x02, 0xf0,
};
static const uint8_t cap_bin_20[] = {
    /* Delete small, old row (2, NULL, 'sad') */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0x68, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x73, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x36, 0x44,
    0x00, 0x00, 0x41, 0x47, 0x4f, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x02, 0x6e, 0x62, 0x00, 0x00, 0x00, 0x03, 0x73, 0x61, 0x64,
};
static const uint8_t cap_bin_21[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0xe0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x73, 0xe0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x45, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0xb0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x73, 0xe0, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x3c, 0xd9,
};
static const uint8_t cap_bin_22[] = {
    /* Begin */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x7c, 0x68, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x7c,
    0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x7b, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x7c, 0x98, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x40, 0x71, 0x00, 0x00, 0x02, 0xf1,
};
static const uint8_t cap_bin_23[] = {
    /* Type public.mood, again */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x8a, 0x59, 0x00, 0x00,
    0x41, 0x41, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x6d, 0x6f, 0x6f, 0x64, 0x00,
};
static const uint8_t cap_bin_24[] = {
    /* Relation public.small, again */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0x95, 0x52, 0x00, 0x00, 0x41, 0x47,
    0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x73, 0x6d, 0x61, 0x6c, 0x6c, 0x00, 0x66, 0x00,
    0x03, 0x01, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x01, 0x6e,
    0x6f, 0x74, 0x65, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff, 0x01, 0x6d, 0x6f,
    0x6f, 0x64, 0x00, 0x00, 0x00, 0x41, 0x41, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t cap_bin_25[] = {
    /* Truncate small, RESTART IDENTITY CASCADE */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x7c, 0x68, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x9f, 0x7c, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b,
    0xb2, 0x54, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x41, 0x47,
};
static const uint8_t cap_bin_26[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x7d, 0xa8, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x7d, 0xa8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0xbe, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x7c, 0x98, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x7d, 0xa8, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x40, 0x71,
};
static const uint8_t cap_bin_27[] = {
    /* Begin */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d,
    0x08, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7b, 0xfa, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x8d, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x46, 0xa0, 0x00, 0x00, 0x02, 0xf3,
};
static const uint8_t cap_bin_28[] = {
    /* Relation public.toasty */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x0c, 0x52, 0x00, 0x00,
    0x41, 0x4e, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x74, 0x6f, 0x61, 0x73, 0x74,
    0x79, 0x00, 0x64, 0x00, 0x03, 0x01, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x6e, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x62, 0x69, 0x67, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t cap_bin_29[] = {
    /* Update toasty, no old tuple, new (1, 2, unchanged TOAST 'u') */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x08, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8d, 0x08, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x11, 0x55,
    0x00, 0x00, 0x41, 0x4e, 0x4e, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x01, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x75,
};
static const uint8_t cap_bin_30[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x98, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8d, 0x98, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x15, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x68, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8d, 0x98, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x46, 0xa0,
};
static const uint8_t cap_bin_31[] = {
    /* Begin of the transaction under origin capsrc */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x36, 0x42, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x8d, 0xe0, 0x00, 0x02, 0xb5, 0x8c, 0xd3, 0x63, 0xc0, 0x00, 0x00, 0x00, 0x02, 0xf4,
};
static const uint8_t cap_bin_32[] = {
    /* Origin 0/ABCDEF capsrc */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x98, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x9f, 0x8d, 0x98, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x3a, 0x4f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xab, 0xcd, 0xef, 0x63, 0x61, 0x70, 0x73, 0x72, 0x63, 0x00,
};
static const uint8_t cap_bin_33[] = {
    /* Type public.mood, again */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x3e, 0x59, 0x00, 0x00,
    0x41, 0x41, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x6d, 0x6f, 0x6f, 0x64, 0x00,
};
static const uint8_t cap_bin_34[] = {
    /* Relation public.small, again */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x42, 0x52, 0x00, 0x00, 0x41, 0x47,
    0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x00, 0x73, 0x6d, 0x61, 0x6c, 0x6c, 0x00, 0x66, 0x00,
    0x03, 0x01, 0x69, 0x64, 0x00, 0x00, 0x00, 0x00, 0x17, 0xff, 0xff, 0xff, 0xff, 0x01, 0x6e,
    0x6f, 0x74, 0x65, 0x00, 0x00, 0x00, 0x00, 0x19, 0xff, 0xff, 0xff, 0xff, 0x01, 0x6d, 0x6f,
    0x6f, 0x64, 0x00, 0x00, 0x00, 0x41, 0x41, 0xff, 0xff, 0xff, 0xff,
};
static const uint8_t cap_bin_35[] = {
    /* Insert small (3, 'o', 'ok') */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x98, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x9f, 0x8d, 0x98, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x47, 0x49, 0x00, 0x00,
    0x41, 0x47, 0x4e, 0x00, 0x03, 0x62, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03,
    0x62, 0x00, 0x00, 0x00, 0x01, 0x6f, 0x62, 0x00, 0x00, 0x00, 0x02, 0x6f, 0x6b,
};
static const uint8_t cap_bin_36[] = {
    /* Commit */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8e, 0x28, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8e, 0x28, 0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x4b, 0x43,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0xe0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8e, 0x28, 0x00, 0x02, 0xb5, 0x8c, 0xd3, 0x63, 0xc0, 0x00,
};
static const uint8_t cap_bin_37[] = {
    /* keepalive */
    0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8e, 0x28,
    0x00, 0x03, 0x03, 0xf2, 0x3f, 0xff, 0x7c, 0x51, 0x00,
};
static const uint8_t cap_bin_38[] = {
    /* keepalive */
    0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8e, 0x28,
    0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x2f, 0xef, 0x00,
};
static const uint8_t cap_bin_39[] = {
    /* Message, non-transactional: 'pgpulse', 'end' */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8e, 0x68, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8e, 0x68, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x30, 0x0f, 0x4d,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8e, 0x68, 0x70, 0x67, 0x70, 0x75,
    0x6c, 0x73, 0x65, 0x00, 0x00, 0x00, 0x00, 0x03, 0x65, 0x6e, 0x64,
};
static const uint8_t cap_txt_04[] = {
    /* Insert reading row 1, text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6f, 0x28, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x6f,
    0x28, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x35, 0x50, 0x49, 0x00, 0x00, 0x40, 0x75, 0x4e, 0x00,
    0x0b, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x16, 0x32, 0x30, 0x32, 0x34,
    0x2d, 0x30, 0x33, 0x2d, 0x30, 0x31, 0x20, 0x31, 0x32, 0x3a, 0x30, 0x30, 0x3a, 0x30, 0x30, 0x2b,
    0x30, 0x30, 0x74, 0x00, 0x00, 0x00, 0x03, 0x31, 0x2e, 0x35, 0x74, 0x00, 0x00, 0x00, 0x05, 0x2d,
    0x32, 0x2e, 0x32, 0x35, 0x74, 0x00, 0x00, 0x00, 0x01, 0x30, 0x74, 0x00, 0x00, 0x00, 0x07, 0x31,
    0x30, 0x30, 0x2e, 0x31, 0x32, 0x35, 0x74, 0x00, 0x00, 0x00, 0x04, 0x2d, 0x30, 0x2e, 0x35, 0x74,
    0x00, 0x00, 0x00, 0x04, 0x33, 0x2e, 0x37, 0x35, 0x74, 0x00, 0x00, 0x00, 0x05, 0x30, 0x2e, 0x30,
    0x30, 0x31, 0x74, 0x00, 0x00, 0x00, 0x08, 0x2d, 0x31, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x74,
    0x00, 0x00, 0x00, 0x03, 0x37, 0x34, 0x38,
};
static const uint8_t cap_txt_05[] = {
    /* Insert reading row 2, text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x70, 0xa8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x70, 0xa8, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x35, 0x64, 0x49, 0x00, 0x00, 0x40, 0x75,
    0x4e, 0x00, 0x0b, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x19, 0x32,
    0x30, 0x32, 0x34, 0x2d, 0x30, 0x33, 0x2d, 0x30, 0x31, 0x20, 0x31, 0x32, 0x3a, 0x30, 0x30,
    0x3a, 0x30, 0x30, 0x2e, 0x32, 0x35, 0x2b, 0x30, 0x30, 0x74, 0x00, 0x00, 0x00, 0x01, 0x32,
    0x74, 0x00, 0x00, 0x00, 0x01, 0x34, 0x74, 0x00, 0x00, 0x00, 0x01, 0x38, 0x74, 0x00, 0x00,
    0x00, 0x02, 0x31, 0x36, 0x74, 0x00, 0x00, 0x00, 0x02, 0x33, 0x32, 0x74, 0x00, 0x00, 0x00,
    0x02, 0x36, 0x34, 0x74, 0x00, 0x00, 0x00, 0x03, 0x31, 0x32, 0x38, 0x74, 0x00, 0x00, 0x00,
    0x03, 0x32, 0x35, 0x36, 0x74, 0x00, 0x00, 0x00, 0x03, 0x37, 0x34, 0x38,
};
static const uint8_t cap_txt_13[] = {
    /* Insert small (1, 'one', 'happy'), text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0x20, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f,
    0x72, 0x20, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x35, 0xf0, 0x49, 0x00, 0x00, 0x41, 0x47,
    0x4e, 0x00, 0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x03, 0x6f,
    0x6e, 0x65, 0x74, 0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70, 0x79,
};
static const uint8_t cap_txt_14[] = {
    /* Insert small (2, NULL, 'sad'), text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0x68, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72,
    0x68, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x35, 0xf7, 0x49, 0x00, 0x00, 0x41, 0x47, 0x4e, 0x00,
    0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x32, 0x6e, 0x74, 0x00, 0x00, 0x00, 0x03, 0x73, 0x61, 0x64,
};
static const uint8_t cap_txt_17[] = {
    /* Update small with the old row, text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x72, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x9f, 0x72, 0xd8, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x36, 0x09, 0x55, 0x00, 0x00,
    0x41, 0x47, 0x4f, 0x00, 0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00,
    0x00, 0x03, 0x6f, 0x6e, 0x65, 0x74, 0x00, 0x00, 0x00, 0x05, 0x68, 0x61, 0x70, 0x70,
    0x79, 0x4e, 0x00, 0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00,
    0x03, 0x75, 0x6e, 0x6f, 0x74, 0x00, 0x00, 0x00, 0x02, 0x6f, 0x6b,
};
static const uint8_t cap_txt_20[] = {
    /* Delete small with the old row, text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73, 0x68, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x73,
    0x68, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x36, 0x1c, 0x44, 0x00, 0x00, 0x41, 0x47, 0x4f, 0x00,
    0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x32, 0x6e, 0x74, 0x00, 0x00, 0x00, 0x03, 0x73, 0x61, 0x64,
};
static const uint8_t cap_txt_29[] = {
    /* Update toasty with 'u', text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d,
    0x08, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x36, 0x9e, 0x55, 0x00, 0x00, 0x41, 0x4e, 0x4e, 0x00,
    0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x31, 0x74, 0x00, 0x00, 0x00, 0x01, 0x32, 0x75,
};
static const uint8_t cap_txt_35[] = {
    /* Insert small (3, 'o', 'ok'), text */
    0x77, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9f, 0x8d, 0x98, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x9f, 0x8d, 0x98, 0x00, 0x03, 0x03, 0xf2, 0x40, 0x02, 0x36, 0xd4, 0x49,
    0x00, 0x00, 0x41, 0x47, 0x4e, 0x00, 0x03, 0x74, 0x00, 0x00, 0x00, 0x01, 0x33,
    0x74, 0x00, 0x00, 0x00, 0x01, 0x6f, 0x74, 0x00, 0x00, 0x00, 0x02, 0x6f, 0x6b,
};
static const captured cap_bin[] = {
    {cap_bin_00, sizeof cap_bin_00}, {cap_bin_01, sizeof cap_bin_01},
    {cap_bin_02, sizeof cap_bin_02}, {cap_bin_03, sizeof cap_bin_03},
    {cap_bin_04, sizeof cap_bin_04}, {cap_bin_05, sizeof cap_bin_05},
    {cap_bin_06, sizeof cap_bin_06}, {cap_bin_07, sizeof cap_bin_07},
    {cap_bin_08, sizeof cap_bin_08}, {cap_bin_09, sizeof cap_bin_09},
    {cap_bin_10, sizeof cap_bin_10}, {cap_bin_11, sizeof cap_bin_11},
    {cap_bin_12, sizeof cap_bin_12}, {cap_bin_13, sizeof cap_bin_13},
    {cap_bin_14, sizeof cap_bin_14}, {cap_bin_15, sizeof cap_bin_15},
    {cap_bin_16, sizeof cap_bin_16}, {cap_bin_17, sizeof cap_bin_17},
    {cap_bin_18, sizeof cap_bin_18}, {cap_bin_19, sizeof cap_bin_19},
    {cap_bin_20, sizeof cap_bin_20}, {cap_bin_21, sizeof cap_bin_21},
    {cap_bin_22, sizeof cap_bin_22}, {cap_bin_23, sizeof cap_bin_23},
    {cap_bin_24, sizeof cap_bin_24}, {cap_bin_25, sizeof cap_bin_25},
    {cap_bin_26, sizeof cap_bin_26}, {cap_bin_27, sizeof cap_bin_27},
    {cap_bin_28, sizeof cap_bin_28}, {cap_bin_29, sizeof cap_bin_29},
    {cap_bin_30, sizeof cap_bin_30}, {cap_bin_31, sizeof cap_bin_31},
    {cap_bin_32, sizeof cap_bin_32}, {cap_bin_33, sizeof cap_bin_33},
    {cap_bin_34, sizeof cap_bin_34}, {cap_bin_35, sizeof cap_bin_35},
    {cap_bin_36, sizeof cap_bin_36}, {cap_bin_37, sizeof cap_bin_37},
    {cap_bin_38, sizeof cap_bin_38}, {cap_bin_39, sizeof cap_bin_39},
};
static const captured cap_txt[] = {
    {cap_txt_04, sizeof cap_txt_04}, {cap_txt_05, sizeof cap_txt_05},
    {cap_txt_13, sizeof cap_txt_13}, {cap_txt_14, sizeof cap_txt_14},
    {cap_txt_17, sizeof cap_txt_17}, {cap_txt_20, sizeof cap_txt_20},
    {cap_txt_29, sizeof cap_txt_29}, {cap_txt_35, sizeof cap_txt_35},
};

/* ----- helpers ----- */

/* An exact-size heap copy of bytes, so that a read past its end is an ASan/valgrind error. */
static uint8_t *exact_copy(const uint8_t *bytes, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len) memcpy(p, bytes, len);
    return p;
}

/* pgoutput_read over an exact-size copy; the decoded message must not point into the copy
 * afterwards, so only the return value and the message text come back. */
static int read_copy(const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
    uint8_t *p = exact_copy(bytes, len);
    pgoutput_msg m;
    err[0] = '\0';
    int rc = pgoutput_read(p, len, &m, err, errlen);
    free(p);
    return rc;
}

static int read_envelope_copy(const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
    uint8_t *p = exact_copy(bytes, len);
    pgoutput_envelope e;
    err[0] = '\0';
    int rc = pgoutput_read_envelope(p, len, &e, err, errlen);
    free(p);
    return rc;
}

/* Writes a decoded message back with the writer of its kind. */
static void reencode(const pgoutput_msg *m, buf *b)
{
    switch (m->kind) {
    case 'B':
        pgoutput_write_begin(b, m->u.begin.final_lsn, m->u.begin.commit_time, m->u.begin.xid);
        break;
    case 'C':
        pgoutput_write_commit(b, m->u.commit.commit_lsn, m->u.commit.end_lsn,
                              m->u.commit.commit_time);
        break;
    case 'R':
        pgoutput_write_relation(b, m->u.relation.relid, m->u.relation.nspname,
                                m->u.relation.relname, m->u.relation.replident, m->u.relation.ncols,
                                m->u.relation.cols);
        break;
    case 'Y':
        pgoutput_write_type(b, m->u.type.type_oid, m->u.type.nspname, m->u.type.typname);
        break;
    case 'I':
        pgoutput_write_insert(b, m->u.insert.relid, &m->u.insert.newtup);
        break;
    case 'U':
        pgoutput_write_update(b, m->u.update.relid, m->u.update.oldkind, &m->u.update.oldtup,
                              &m->u.update.newtup);
        break;
    case 'D':
        pgoutput_write_delete(b, m->u.del.relid, m->u.del.oldkind, &m->u.del.oldtup);
        break;
    case 'T': {
        uint32_t ids[16];
        assert_true(m->u.truncate.nrelids <= 16);
        for (uint32_t i = 0; i < m->u.truncate.nrelids; i++)
            ids[i] = pgoutput_truncate_relid(m, i);
        pgoutput_write_truncate(b, m->u.truncate.nrelids, m->u.truncate.flags, ids);
        break;
    }
    case 'O':
        pgoutput_write_origin(b, m->u.origin.lsn, m->u.origin.name);
        break;
    case 'M':
        pgoutput_write_message(b, m->u.message.flags, m->u.message.lsn, m->u.message.prefix,
                               m->u.message.content, m->u.message.len);
        break;
    default:
        fail_msg("unexpected kind %c", m->kind);
    }
}

/* Reads bytes (which must be valid), writes the result back and expects the same bytes. */
static void assert_round_trip(const uint8_t *bytes, size_t len)
{
    uint8_t *p = exact_copy(bytes, len);
    pgoutput_msg m;
    char err[256] = "";
    if (pgoutput_read(p, len, &m, err, sizeof err) != 0)
        fail_msg("valid message rejected: %s", err);
    buf b = {0};
    reencode(&m, &b);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, bytes, len);
    buf_free(&b);
    free(p);
}

static const char *kind_word(char kind)
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
        return "?";
    }
}

/* Every proper prefix of a valid message is rejected with a message naming its kind, and so is
 * the message with a byte of garbage after it. */
static void assert_truncations_rejected(const uint8_t *bytes, size_t len)
{
    char err[256];
    for (size_t n = 0; n < len; n++) {
        if (read_copy(bytes, n, err, sizeof err) != -1)
            fail_msg("prefix of %zu of %zu bytes (kind %c) accepted", n, len, bytes[0]);
        assert_true(err[0] != '\0');
        if (n > 0) assert_non_null(strstr(err, kind_word((char)bytes[0])));
    }
    for (int junk = 0; junk < 256; junk += 85) {
        uint8_t *p = malloc(len + 1);
        assert_non_null(p);
        memcpy(p, bytes, len);
        p[len] = (uint8_t)junk;
        pgoutput_msg m;
        err[0] = '\0';
        assert_int_equal(pgoutput_read(p, len + 1, &m, err, sizeof err), -1);
        assert_non_null(strstr(err, "trailing"));
        free(p);
    }
}

/* A copybin reader over a 'b' value. On the wire the value's Int32 length sits right before
 * its bytes, exactly like a COPY BINARY field, so the copybin readers apply as they are. */
static copybin_reader value_reader(const pgoutput_value *v)
{
    assert_int_equal(v->kind, 'b');
    copybin_reader r = {v->data - 4, v->data + v->len};
    return r;
}

static int32_t value_int4(const pgoutput_value *v)
{
    copybin_reader r = value_reader(v);
    int32_t x = 0;
    assert_int_equal(copybin_read_int4(&r, &x), 0);
    assert_ptr_equal(r.p, r.end);
    return x;
}

static int64_t value_int8(const pgoutput_value *v)
{
    copybin_reader r = value_reader(v);
    int64_t x = 0;
    assert_int_equal(copybin_read_int8(&r, &x), 0);
    assert_ptr_equal(r.p, r.end);
    return x;
}

static double value_float8(const pgoutput_value *v)
{
    copybin_reader r = value_reader(v);
    double x = 0;
    assert_int_equal(copybin_read_float8(&r, &x), 0);
    assert_ptr_equal(r.p, r.end);
    return x;
}

static int64_t value_timestamptz(const pgoutput_value *v)
{
    copybin_reader r = value_reader(v);
    int64_t x = 0;
    assert_int_equal(copybin_read_timestamptz(&r, &x), 0);
    assert_ptr_equal(r.p, r.end);
    return x;
}

/* A text value, or the text of a 'b' value of a type whose send format is its text (text, enum). */
static void assert_value_text(const pgoutput_value *v, char kind, const char *s)
{
    assert_int_equal(v->kind, kind);
    assert_int_equal(v->len, strlen(s));
    assert_memory_equal(v->data, s, v->len);
}

static pgoutput_value val_text(char kind, const char *s)
{
    pgoutput_value v = {kind, (const uint8_t *)s, (uint32_t)strlen(s)};
    return v;
}

static pgoutput_value val_kind(char kind)
{
    pgoutput_value v = {kind, NULL, 0};
    return v;
}

/* A tuple of one value of every kind, and a binary int4 / float8. */
static pgoutput_tuple every_kind_tuple(void)
{
    static const uint8_t int4_42[4] = {0, 0, 0, 42};
    static const uint8_t f8[8] = {0xbf, 0xf8, 0, 0, 0, 0, 0, 0}; /* -1.5 */
    pgoutput_tuple t;
    memset(&t, 0, sizeof t);
    t.ncols = 7;
    t.cols[0] = val_kind('n');
    t.cols[1] = val_kind('u');
    t.cols[2] = val_text('t', "hello, world");
    t.cols[3] = val_text('t', "");
    t.cols[4] = (pgoutput_value){'b', int4_42, 4};
    t.cols[5] = (pgoutput_value){'b', f8, 8};
    t.cols[6] = (pgoutput_value){'b', int4_42, 0};
    return t;
}

static void assert_tuple_equal(const pgoutput_tuple *a, const pgoutput_tuple *b)
{
    assert_int_equal(a->ncols, b->ncols);
    for (uint16_t i = 0; i < a->ncols; i++) {
        assert_int_equal(a->cols[i].kind, b->cols[i].kind);
        assert_int_equal(a->cols[i].len, b->cols[i].len);
        if (a->cols[i].len) assert_memory_equal(a->cols[i].data, b->cols[i].data, a->cols[i].len);
    }
}

/* Reads b's bytes into m (they stay in b, which must outlive m). */
static void read_buf(const buf *b, pgoutput_msg *m)
{
    char err[256] = "";
    if (pgoutput_read(b->data, b->len, m, err, sizeof err) != 0) fail_msg("%s", err);
}

/* Checks that the message in b round-trips and rejects truncations, then empties b. */
static void check_and_reset(buf *b)
{
    assert_round_trip(b->data, b->len);
    assert_truncations_rejected(b->data, b->len);
    buf_reset(b);
}

/* ----- (1) round trips of every kind ----- */

static void test_round_trip_begin_commit(void **state)
{
    (void)state;
    buf b = {0};
    pgoutput_msg m;
    pgoutput_write_begin(&b, UINT64_C(0x16B374D848), INT64_C(848749861411681), 727);
    assert_int_equal(b.len, 21);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'B');
    assert_true(m.u.begin.final_lsn == UINT64_C(0x16B374D848));
    assert_true(m.u.begin.commit_time == INT64_C(848749861411681));
    assert_int_equal(m.u.begin.xid, 727);
    check_and_reset(&b);

    pgoutput_write_commit(&b, UINT64_MAX, 1, -1);
    assert_int_equal(b.len, 26);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'C');
    assert_int_equal(m.u.commit.flags, 0);
    assert_true(m.u.commit.commit_lsn == UINT64_MAX);
    assert_true(m.u.commit.end_lsn == 1);
    assert_true(m.u.commit.commit_time == -1);
    check_and_reset(&b);
    buf_free(&b);
}

static void test_round_trip_relation_type(void **state)
{
    (void)state;
    buf b = {0};
    pgoutput_msg m;
    pgoutput_column cols[PGOUTPUT_MAX_COLS];
    cols[0] = (pgoutput_column){1, "robot_id", 23, -1};
    cols[1] = (pgoutput_column){1, "ts", 1184, -1};
    cols[2] = (pgoutput_column){0, "axis1", 701, -1};
    cols[3] = (pgoutput_column){0, "", 1043, 36}; /* varchar(32): typmod 32 + 4 */
    pgoutput_write_relation(&b, 16390, "public", "reading", 'd', 4, cols);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'R');
    assert_int_equal(m.u.relation.relid, 16390);
    assert_string_equal(m.u.relation.nspname, "public");
    assert_string_equal(m.u.relation.relname, "reading");
    assert_int_equal(m.u.relation.replident, 'd');
    assert_int_equal(m.u.relation.ncols, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(m.u.relation.cols[i].flags, cols[i].flags);
        assert_string_equal(m.u.relation.cols[i].name, cols[i].name);
        assert_int_equal(m.u.relation.cols[i].type_oid, cols[i].type_oid);
        assert_int_equal(m.u.relation.cols[i].typmod, cols[i].typmod);
    }
    check_and_reset(&b);

    /* No columns, pg_catalog (""), each replica identity; then the maximum column count. */
    const char *idents = "dnfi";
    for (int i = 0; i < 4; i++) {
        pgoutput_write_relation(&b, 1, "", "t", idents[i], 0, cols);
        read_buf(&b, &m);
        assert_int_equal(m.u.relation.replident, idents[i]);
        assert_int_equal(m.u.relation.ncols, 0);
        assert_string_equal(m.u.relation.nspname, "");
        check_and_reset(&b);
    }
    char names[PGOUTPUT_MAX_COLS][16];
    for (int i = 0; i < PGOUTPUT_MAX_COLS; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        cols[i] = (pgoutput_column){(uint8_t)(i & 1), names[i], (uint32_t)i, i - 1};
    }
    pgoutput_write_relation(&b, UINT32_MAX, "s", "wide", 'f', PGOUTPUT_MAX_COLS, cols);
    read_buf(&b, &m);
    assert_int_equal(m.u.relation.ncols, PGOUTPUT_MAX_COLS);
    assert_string_equal(m.u.relation.cols[63].name, "c63");
    assert_int_equal(m.u.relation.cols[63].typmod, 62);
    assert_int_equal(m.u.relation.cols[0].typmod, -1);
    check_and_reset(&b);

    pgoutput_write_type(&b, 16705, "public", "mood");
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'Y');
    assert_int_equal(m.u.type.type_oid, 16705);
    assert_string_equal(m.u.type.nspname, "public");
    assert_string_equal(m.u.type.typname, "mood");
    check_and_reset(&b);
    buf_free(&b);
}

static void test_round_trip_changes(void **state)
{
    (void)state;
    buf b = {0};
    pgoutput_msg m;
    pgoutput_tuple every = every_kind_tuple();
    pgoutput_tuple empty;
    memset(&empty, 0, sizeof empty);
    pgoutput_tuple key;
    memset(&key, 0, sizeof key);
    key.ncols = 1;
    key.cols[0] = val_text('t', "7");

    pgoutput_write_insert(&b, 16390, &every);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'I');
    assert_int_equal(m.u.insert.relid, 16390);
    assert_tuple_equal(&m.u.insert.newtup, &every);
    assert_null(m.u.insert.newtup.cols[0].data);
    check_and_reset(&b);

    pgoutput_write_insert(&b, 1, &empty);
    read_buf(&b, &m);
    assert_int_equal(m.u.insert.newtup.ncols, 0);
    check_and_reset(&b);

    /* Update with no old tuple, an old key, an old row. */
    const char oldkinds[3] = {0, 'K', 'O'};
    for (int i = 0; i < 3; i++) {
        pgoutput_write_update(&b, 42, oldkinds[i], oldkinds[i] == 'K' ? &key : &every, &every);
        read_buf(&b, &m);
        assert_int_equal(m.kind, 'U');
        assert_int_equal(m.u.update.relid, 42);
        assert_int_equal(m.u.update.oldkind, oldkinds[i]);
        if (oldkinds[i] == 0) assert_int_equal(m.u.update.oldtup.ncols, 0);
        if (oldkinds[i] == 'K') assert_tuple_equal(&m.u.update.oldtup, &key);
        if (oldkinds[i] == 'O') assert_tuple_equal(&m.u.update.oldtup, &every);
        assert_tuple_equal(&m.u.update.newtup, &every);
        check_and_reset(&b);
    }

    pgoutput_write_delete(&b, 43, 'K', &key);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'D');
    assert_int_equal(m.u.del.relid, 43);
    assert_int_equal(m.u.del.oldkind, 'K');
    assert_tuple_equal(&m.u.del.oldtup, &key);
    check_and_reset(&b);
    pgoutput_write_delete(&b, 43, 'O', &every);
    read_buf(&b, &m);
    assert_int_equal(m.u.del.oldkind, 'O');
    assert_tuple_equal(&m.u.del.oldtup, &every);
    check_and_reset(&b);

    /* The maximum column count, every value of every kind in turn. */
    pgoutput_tuple wide;
    memset(&wide, 0, sizeof wide);
    wide.ncols = PGOUTPUT_MAX_COLS;
    for (int i = 0; i < PGOUTPUT_MAX_COLS; i++)
        wide.cols[i] = every.cols[i % every.ncols];
    pgoutput_write_insert(&b, 9, &wide);
    read_buf(&b, &m);
    assert_tuple_equal(&m.u.insert.newtup, &wide);
    check_and_reset(&b);
    buf_free(&b);
}

static void test_round_trip_truncate_origin_message(void **state)
{
    (void)state;
    buf b = {0};
    pgoutput_msg m;
    const uint32_t ids[3] = {16390, 0x80000001u, 1};
    pgoutput_write_truncate(&b, 3, 3, ids);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'T');
    assert_int_equal(m.u.truncate.nrelids, 3);
    assert_int_equal(m.u.truncate.flags, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(pgoutput_truncate_relid(&m, i), ids[i]);
    check_and_reset(&b);
    pgoutput_write_truncate(&b, 0, 0, NULL);
    read_buf(&b, &m);
    assert_int_equal(m.u.truncate.nrelids, 0);
    check_and_reset(&b);

    pgoutput_write_origin(&b, UINT64_C(0xABCDEF), "capsrc");
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'O');
    assert_true(m.u.origin.lsn == UINT64_C(0xABCDEF));
    assert_string_equal(m.u.origin.name, "capsrc");
    check_and_reset(&b);

    static const uint8_t content[5] = {'h', 0, 'l', 0xff, 'o'}; /* content may hold NULs */
    pgoutput_write_message(&b, 1, UINT64_C(0x15429E0), "pgpulse", content, 5);
    read_buf(&b, &m);
    assert_int_equal(m.kind, 'M');
    assert_int_equal(m.u.message.flags, 1);
    assert_true(m.u.message.lsn == UINT64_C(0x15429E0));
    assert_string_equal(m.u.message.prefix, "pgpulse");
    assert_int_equal(m.u.message.len, 5);
    assert_memory_equal(m.u.message.content, content, 5);
    check_and_reset(&b);
    pgoutput_write_message(&b, 0, 0, "", content, 0);
    read_buf(&b, &m);
    assert_int_equal(m.u.message.flags, 0);
    assert_int_equal(m.u.message.len, 0);
    assert_string_equal(m.u.message.prefix, "");
    check_and_reset(&b);
    buf_free(&b);
}

static void test_envelopes(void **state)
{
    (void)state;
    buf b = {0};
    char err[256];
    pgoutput_envelope e;
    static const uint8_t msg[3] = {'x', 'y', 'z'};

    pgoutput_write_xlogdata(&b, 1, 2, -3, msg, 3);
    assert_int_equal(b.len, 28);
    assert_int_equal(pgoutput_read_envelope(b.data, b.len, &e, err, sizeof err), 0);
    assert_int_equal(e.kind, 'w');
    assert_true(e.wal_start == 1 && e.wal_end == 2 && e.send_time == -3);
    assert_ptr_equal(e.data, b.data + 25);
    assert_int_equal(e.data_len, 3);
    for (size_t n = 0; n < 25; n++)
        assert_int_equal(read_envelope_copy(b.data, n, err, sizeof err), -1);
    assert_int_equal(read_envelope_copy(b.data, 25, err, sizeof err), 0); /* empty data */
    buf_reset(&b);

    pgoutput_write_keepalive(&b, UINT64_C(0x1542570), 99, 1);
    assert_int_equal(b.len, 18);
    assert_int_equal(pgoutput_read_envelope(b.data, b.len, &e, err, sizeof err), 0);
    assert_int_equal(e.kind, 'k');
    assert_true(e.wal_end == UINT64_C(0x1542570) && e.send_time == 99);
    assert_int_equal(e.reply_requested, 1);
    assert_null(e.data);
    for (size_t n = 0; n < 18; n++)
        assert_int_equal(read_envelope_copy(b.data, n, err, sizeof err), -1);
    uint8_t k[19];
    memcpy(k, b.data, 18);
    k[18] = 0;
    assert_int_equal(read_envelope_copy(k, 19, err, sizeof err), -1); /* trailing byte */
    k[17] = 2;
    assert_int_equal(read_envelope_copy(k, 18, err, sizeof err), -1); /* reply flag not 0/1 */
    k[0] = 'r';
    assert_int_equal(read_envelope_copy(k, 18, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown"));
    buf_reset(&b);

    pgoutput_write_status(&b, 10, 20, 0, INT64_C(848749861411681), 0);
    assert_int_equal(b.len, 34);
    assert_int_equal(b.data[0], 'r');
    uint64_t w, f, a;
    int64_t t;
    int reply;
    assert_int_equal(pgoutput_read_status(b.data, b.len, &w, &f, &a, &t, &reply), 0);
    assert_true(w == 10 && f == 20 && a == 0 && t == INT64_C(848749861411681) && reply == 0);
    /* pg_recvlogical's sendFeedback layout: the flushed LSN at offset 9, reply last. */
    assert_true(copybin_get64(b.data + 9) == 20);
    buf_reset(&b);
    pgoutput_write_status(&b, 1, 2, 3, 4, 1);
    assert_int_equal(b.data[33], 1);
    for (size_t n = 0; n < 34; n++) {
        uint8_t *p = exact_copy(b.data, n);
        assert_int_equal(pgoutput_read_status(p, n, &w, &f, &a, &t, &reply), -1);
        free(p);
    }
    buf_free(&b);
}

/* ----- (2) malformed input ----- */

/* Expects bytes (as a string literal with its length) to be rejected with a message holding
 * want. */
static void assert_rejected(const char *bytes, size_t len, const char *want)
{
    char err[256];
    assert_int_equal(read_copy((const uint8_t *)bytes, len, err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("message \"%s\" lacks \"%s\"", err, want);
}
#define REJECT(lit, want) assert_rejected(lit, sizeof(lit) - 1, want)

static void test_malformed(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(read_copy(NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    REJECT("Z", "unknown message kind");
    REJECT("\0", "unknown message kind");
    REJECT("b\0\0\0\0", "unknown message kind");   /* BeginPrepare: not protocol version 1 */
    REJECT("S\0\0\0\1\1", "unknown message kind"); /* StreamStart */
    /* Commit flags are unused and must be 0. */
    REJECT("C\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\3", "Commit: nonzero flags");
    /* Unterminated strings. */
    REJECT("R\0\0\0\1public", "Relation: short");
    REJECT("R\0\0\0\1public\0t", "Relation: short");
    REJECT("Y\0\0\0\1pg", "Type: short");
    REJECT("O\0\0\0\0\0\0\0\1name", "Origin: short");
    REJECT("M\1\0\0\0\0\0\0\0\1pgpulse", "Message: short");
    REJECT("R\0\0\0\1\0t\0d\0\1\0col", "Relation: short");
    /* Relation fields. */
    REJECT("R\0\0\0\1\0t\0x\0\0", "bad replica identity");
    REJECT("R\0\0\0\1\0t\0d\0\x41", "too many columns");   /* 65 */
    REJECT("R\0\0\0\1\0t\0d\xff\xff", "too many columns"); /* Int16 -1 */
    REJECT("R\0\0\0\1\0t\0d\0\1\2c\0\0\0\0\x17\xff\xff\xff\xff", "bad column flags");
    /* Tuples. */
    REJECT("I\0\0\0\1X\0\0", "expected 'N'");
    REJECT("I\0\0\0\1N\0\x41", "too many tuple columns");
    REJECT("I\0\0\0\1N\x80\0", "too many tuple columns");
    REJECT("I\0\0\0\1N\0\1x", "bad tuple value kind");
    REJECT("I\0\0\0\1N\0\1N", "bad tuple value kind");
    REJECT("I\0\0\0\1N\0\1t\xff\xff\xff\xff", "negative tuple value length");
    REJECT("I\0\0\0\1N\0\1b\x80\0\0\0", "negative tuple value length");
    REJECT("I\0\0\0\1N\0\1t\0\0\0\2a", "tuple value past the end");
    REJECT("I\0\0\0\1N\0\1b\x7f\xff\xff\xff", "tuple value past the end");
    REJECT("I\0\0\0\1N\0\2n", "Insert: short tuple value");
    REJECT("U\0\0\0\1X\0\0", "expected 'K', 'O' or 'N'");
    REJECT("U\0\0\0\1K\0\0X\0\0", "expected 'K', 'O' or 'N'");
    REJECT("U\0\0\0\1K\0\0K\0\0", "expected 'K', 'O' or 'N'"); /* one old tuple only */
    REJECT("U\0\0\0\1K\0\0", "Update: short");
    REJECT("D\0\0\0\1N\0\0", "expected 'K' or 'O'");
    /* Truncate and Message counts. */
    REJECT("T\xff\xff\xff\xff\0", "negative relation count");
    REJECT("T\0\0\0\2\0\0\0\0\1", "relation ids past the end");
    REJECT("T\0\0\0\1\4\0\0\0\1", "Truncate: bad flags");
    REJECT("M\2\0\0\0\0\0\0\0\1p\0\0\0\0\0", "Message: bad flags");
    REJECT("M\1\0\0\0\0\0\0\0\1p\0\xff\xff\xff\xff", "negative content length");
    REJECT("M\1\0\0\0\0\0\0\0\1p\0\0\0\0\2x", "content past the end");
    /* A valid message, then a second one glued on. */
    REJECT("T\0\0\0\0\0T\0\0\0\0\0", "Truncate: 6 trailing bytes");
}

/* ----- (3) bytes from a real server ----- */

/* 2024-03-01 12:00:00 UTC in Unix µs. */
#define TS_ROW1 INT64_C(1709294400000000)

static void assert_reading_relation(const pgoutput_msg *m, uint32_t relid, const char *relname)
{
    static const char *const names[11] = {"robot_id", "ts",    "axis1", "axis2", "axis3", "axis4",
                                          "axis5",    "axis6", "axis7", "axis8", "txid"};
    assert_int_equal(m->kind, 'R');
    assert_int_equal(m->u.relation.relid, relid);
    assert_string_equal(m->u.relation.nspname, "public");
    assert_string_equal(m->u.relation.relname, relname);
    assert_int_equal(m->u.relation.replident, 'd');
    assert_int_equal(m->u.relation.ncols, 11);
    for (int i = 0; i < 11; i++) {
        const pgoutput_column *c = &m->u.relation.cols[i];
        assert_string_equal(c->name, names[i]);
        assert_int_equal(c->flags, i < 2); /* the primary key (robot_id, ts) */
        assert_int_equal(c->typmod, -1);
        assert_int_equal(c->type_oid, i == 0 ? 23 : i == 1 ? 1184 : i == 10 ? 20 : 701);
    }
}

static void assert_small_relation(const pgoutput_msg *m)
{
    assert_int_equal(m->kind, 'R');
    assert_int_equal(m->u.relation.relid, 16711);
    assert_string_equal(m->u.relation.relname, "small");
    assert_int_equal(m->u.relation.replident, 'f');
    assert_int_equal(m->u.relation.ncols, 3);
    assert_string_equal(m->u.relation.cols[0].name, "id");
    assert_int_equal(m->u.relation.cols[0].type_oid, 23);
    assert_string_equal(m->u.relation.cols[1].name, "note");
    assert_int_equal(m->u.relation.cols[1].type_oid, 25);
    assert_string_equal(m->u.relation.cols[2].name, "mood");
    assert_int_equal(m->u.relation.cols[2].type_oid, 16705); /* the enum of the Type message */
    for (int i = 0; i < 3; i++) /* REPLICA IDENTITY FULL: every column is in the key */
        assert_int_equal(m->u.relation.cols[i].flags, 1);
}

/* Decodes every payload of a captured stream into env[i] and msg[i] ('k' leaves msg[i].kind 0)
 * and checks each round-trips and rejects truncations. */
static void decode_stream(const captured *cap, size_t n, pgoutput_envelope *env, pgoutput_msg *msg)
{
    char err[256];
    for (size_t i = 0; i < n; i++) {
        err[0] = '\0';
        if (pgoutput_read_envelope(cap[i].bytes, cap[i].len, &env[i], err, sizeof err) != 0)
            fail_msg("payload %zu: %s", i, err);
        buf b = {0};
        msg[i].kind = 0;
        if (env[i].kind == 'k') {
            pgoutput_write_keepalive(&b, env[i].wal_end, env[i].send_time, env[i].reply_requested);
        } else {
            if (pgoutput_read(env[i].data, env[i].data_len, &msg[i], err, sizeof err) != 0)
                fail_msg("payload %zu: %s", i, err);
            pgoutput_write_xlogdata(&b, env[i].wal_start, env[i].wal_end, env[i].send_time,
                                    env[i].data, env[i].data_len);
            assert_round_trip(env[i].data, env[i].data_len);
            assert_truncations_rejected(env[i].data, env[i].data_len);
        }
        assert_int_equal(b.len, cap[i].len);
        assert_memory_equal(b.data, cap[i].bytes, cap[i].len);
        buf_free(&b);
    }
}

/* Begin/Commit pairs: final_lsn == commit_lsn < end_lsn, the Commit's envelope starts at end_lsn,
 * the commit times agree, xids grow, and M/R/Y/I/U/D/T/O come only inside a transaction (but a
 * non-transactional Message). */
static void assert_transactions_consistent(const pgoutput_envelope *env, const pgoutput_msg *msg,
                                           size_t n, int want_txns)
{
    int open = -1, txns = 0;
    uint32_t last_xid = 0;
    for (size_t i = 0; i < n; i++) {
        const pgoutput_msg *m = &msg[i];
        if (m->kind == 'B') {
            assert_int_equal(open, -1);
            assert_true(m->u.begin.xid > last_xid);
            last_xid = m->u.begin.xid;
            open = (int)i;
        } else if (m->kind == 'C') {
            assert_true(open >= 0);
            const pgoutput_msg *bg = &msg[open];
            assert_true(bg->u.begin.final_lsn == m->u.commit.commit_lsn);
            assert_true(m->u.commit.end_lsn > m->u.commit.commit_lsn);
            assert_true(env[i].wal_start == m->u.commit.end_lsn);
            assert_true(bg->u.begin.commit_time == m->u.commit.commit_time);
            open = -1;
            txns++;
        } else if (m->kind == 'M' && m->u.message.flags == 0) {
            assert_int_equal(open, -1);
        } else if (m->kind != 0) {
            assert_true(open >= 0);
        }
    }
    assert_int_equal(open, -1);
    assert_int_equal(txns, want_txns);
}

static void test_captured_binary_stream(void **state)
{
    (void)state;
    enum { N = sizeof cap_bin / sizeof cap_bin[0] };
    static pgoutput_envelope env[N];
    static pgoutput_msg msg[N];
    decode_stream(cap_bin, N, env, msg);

    char kinds[N + 1];
    for (size_t i = 0; i < N; i++)
        kinds[i] = env[i].kind == 'k' ? 'k' : msg[i].kind;
    kinds[N] = '\0';
    assert_string_equal(kinds, "kBRRIICBMCBYRIICBUCBDCBYRTCBRUCBOYRICkkM");
    assert_transactions_consistent(env, msg, N, 8);

    /* The first keepalive reports the slot's consistent point; none asks for a reply. */
    assert_true(env[0].wal_end == UINT64_C(0x19F6EF0));
    assert_int_equal(env[0].reply_requested, 0);
    assert_int_equal(env[37].reply_requested, 0);

    /* The reading transaction: published through the root, whose relation comes first, then
     * the partition's; both inserts name the root. */
    assert_int_equal(msg[1].u.begin.xid, 748);
    assert_true(msg[1].u.begin.final_lsn == UINT64_C(0x19F7180));
    assert_true(msg[6].u.commit.end_lsn == UINT64_C(0x19F71B0));
    assert_reading_relation(&msg[2], 16501, "reading");
    assert_reading_relation(&msg[3], 16694, "reading_p20240301");
    static const double axes[2][8] = {{1.5, -2.25, 0, 100.125, -0.5, 3.75, 0.001, -1000000},
                                      {2, 4, 8, 16, 32, 64, 128, 256}};
    for (int row = 0; row < 2; row++) {
        const pgoutput_msg *m = &msg[4 + row];
        assert_int_equal(m->kind, 'I');
        assert_int_equal(m->u.insert.relid, 16501);
        const pgoutput_tuple *t = &m->u.insert.newtup;
        assert_int_equal(t->ncols, 11);
        for (int c = 0; c < 11; c++)
            assert_int_equal(t->cols[c].kind, 'b');
        assert_int_equal(value_int4(&t->cols[0]), 1);
        assert_true(value_timestamptz(&t->cols[1]) == TS_ROW1 + row * 250000);
        for (int a = 0; a < 8; a++)
            assert_true(value_float8(&t->cols[2 + a]) == axes[row][a]);
        assert_true(value_int8(&t->cols[10]) == 748); /* txid DEFAULT txid_current() */
    }

    /* pg_logical_emit_message(true, ...): a transaction of its own. */
    assert_int_equal(msg[8].u.message.flags, 1);
    assert_true(msg[8].u.message.lsn == UINT64_C(0x19F71F0));
    assert_string_equal(msg[8].u.message.prefix, "pgpulse");
    assert_int_equal(msg[8].u.message.len, 5);
    assert_memory_equal(msg[8].u.message.content, "hello", 5);

    /* small: the enum's Type before the Relation, then values in binary send format (int4;
     * text and enum send their text). */
    assert_int_equal(msg[11].u.type.type_oid, 16705);
    assert_string_equal(msg[11].u.type.nspname, "public");
    assert_string_equal(msg[11].u.type.typname, "mood");
    assert_small_relation(&msg[12]);
    const pgoutput_tuple *t = &msg[13].u.insert.newtup;
    assert_int_equal(value_int4(&t->cols[0]), 1);
    assert_value_text(&t->cols[1], 'b', "one");
    assert_value_text(&t->cols[2], 'b', "happy");
    t = &msg[14].u.insert.newtup;
    assert_int_equal(value_int4(&t->cols[0]), 2);
    assert_int_equal(t->cols[1].kind, 'n');
    assert_value_text(&t->cols[2], 'b', "sad");

    /* UPDATE and DELETE under REPLICA IDENTITY FULL carry the old row ('O'). */
    assert_int_equal(msg[17].u.update.relid, 16711);
    assert_int_equal(msg[17].u.update.oldkind, 'O');
    t = &msg[17].u.update.oldtup;
    assert_int_equal(value_int4(&t->cols[0]), 1);
    assert_value_text(&t->cols[1], 'b', "one");
    assert_value_text(&t->cols[2], 'b', "happy");
    t = &msg[17].u.update.newtup;
    assert_int_equal(value_int4(&t->cols[0]), 1);
    assert_value_text(&t->cols[1], 'b', "uno");
    assert_value_text(&t->cols[2], 'b', "ok");
    assert_int_equal(msg[20].u.del.oldkind, 'O');
    assert_int_equal(value_int4(&msg[20].u.del.oldtup.cols[0]), 2);
    assert_int_equal(msg[20].u.del.oldtup.cols[1].kind, 'n');

    /* TRUNCATE ... RESTART IDENTITY CASCADE: flags 1 | 2; the schema is sent again first. */
    assert_small_relation(&msg[24]);
    assert_int_equal(msg[25].u.truncate.nrelids, 1);
    assert_int_equal(msg[25].u.truncate.flags, 3);
    assert_int_equal(pgoutput_truncate_relid(&msg[25], 0), 16711);

    /* toasty: only the key changed column is sent, the unchanged TOASTed big is 'u', and with
     * the default identity and the key unchanged there is no old tuple. */
    assert_int_equal(msg[28].u.relation.relid, 16718);
    assert_string_equal(msg[28].u.relation.relname, "toasty");
    assert_string_equal(msg[28].u.relation.cols[2].name, "big");
    assert_int_equal(msg[28].u.relation.cols[2].type_oid, 25);
    assert_int_equal(msg[28].u.relation.cols[0].flags, 1);
    assert_int_equal(msg[28].u.relation.cols[1].flags, 0);
    assert_int_equal(msg[29].u.update.oldkind, 0);
    t = &msg[29].u.update.newtup;
    assert_int_equal(t->ncols, 3);
    assert_int_equal(value_int4(&t->cols[0]), 1);
    assert_int_equal(value_int4(&t->cols[1]), 2);
    assert_int_equal(t->cols[2].kind, 'u');

    /* The transaction replayed under origin 'capsrc': Origin after Begin, commit time as set. */
    assert_true(msg[31].u.begin.commit_time == INT64_C(1709251200000000) - COPYBIN_PG_EPOCH_US);
    assert_true(msg[32].u.origin.lsn == UINT64_C(0xABCDEF));
    assert_string_equal(msg[32].u.origin.name, "capsrc");
    assert_int_equal(value_int4(&msg[35].u.insert.newtup.cols[0]), 3);

    /* The non-transactional end marker. */
    assert_int_equal(msg[39].u.message.flags, 0);
    assert_string_equal(msg[39].u.message.prefix, "pgpulse");
    assert_memory_equal(msg[39].u.message.content, "end", 3);
    assert_true(msg[39].u.message.lsn == env[39].wal_start);
}

static void test_captured_text_payloads(void **state)
{
    (void)state;
    enum { N = sizeof cap_txt / sizeof cap_txt[0] };
    static pgoutput_envelope env[N];
    static pgoutput_msg msg[N];
    decode_stream(cap_txt, N, env, msg);

    /* cap_txt_04 and _05: the reading rows as the output functions print them (UTC walsender). */
    static const char *const row1[11] = {"1",     "2024-03-01 12:00:00+00",
                                         "1.5",   "-2.25",
                                         "0",     "100.125",
                                         "-0.5",  "3.75",
                                         "0.001", "-1000000",
                                         "748"};
    const pgoutput_tuple *t = &msg[0].u.insert.newtup;
    assert_int_equal(msg[0].u.insert.relid, 16501);
    assert_int_equal(t->ncols, 11);
    for (int c = 0; c < 11; c++)
        assert_value_text(&t->cols[c], 't', row1[c]);
    t = &msg[1].u.insert.newtup;
    assert_value_text(&t->cols[1], 't', "2024-03-01 12:00:00.25+00");
    assert_value_text(&t->cols[9], 't', "256");

    /* small, in text: insert with a NULL, update with the old row, delete. */
    assert_value_text(&msg[2].u.insert.newtup.cols[2], 't', "happy");
    assert_int_equal(msg[3].u.insert.newtup.cols[1].kind, 'n');
    assert_int_equal(msg[4].kind, 'U');
    assert_int_equal(msg[4].u.update.oldkind, 'O');
    assert_value_text(&msg[4].u.update.oldtup.cols[1], 't', "one");
    assert_value_text(&msg[4].u.update.newtup.cols[1], 't', "uno");
    assert_int_equal(msg[5].kind, 'D');
    assert_value_text(&msg[5].u.del.oldtup.cols[0], 't', "2");
    /* toasty: 'u' in text mode too. */
    assert_int_equal(msg[6].kind, 'U');
    assert_int_equal(msg[6].u.update.oldkind, 0);
    assert_value_text(&msg[6].u.update.newtup.cols[1], 't', "2");
    assert_int_equal(msg[6].u.update.newtup.cols[2].kind, 'u');
    assert_value_text(&msg[7].u.insert.newtup.cols[1], 't', "o");

    /* The same changes at the same LSNs as in the binary stream. */
    assert_true(env[0].wal_start == UINT64_C(0x19F6F28));
    assert_true(env[6].wal_start == UINT64_C(0x19F8D08));
}

/* ----- (4) LSN text ----- */

static void test_lsn_format_parse(void **state)
{
    (void)state;
    char s[24];
    uint64_t lsn = 1;
    pgoutput_lsn_format(UINT64_C(0x16B374D848), s, sizeof s);
    assert_string_equal(s, "16/B374D848");
    pgoutput_lsn_format(0, s, sizeof s);
    assert_string_equal(s, "0/0");
    pgoutput_lsn_format(UINT64_MAX, s, sizeof s);
    assert_string_equal(s, "FFFFFFFF/FFFFFFFF");
    pgoutput_lsn_format(UINT64_C(0x19F6EF0), s, sizeof s);
    assert_string_equal(s, "0/19F6EF0");
    pgoutput_lsn_format(UINT64_C(0x100000000), s, sizeof s);
    assert_string_equal(s, "1/0");
    char small[5];
    pgoutput_lsn_format(UINT64_C(0x16B374D848), small, sizeof small); /* truncated, terminated */
    assert_string_equal(small, "16/B");

    assert_int_equal(pgoutput_lsn_parse("16/B374D848", &lsn), 0);
    assert_true(lsn == UINT64_C(0x16B374D848));
    assert_int_equal(pgoutput_lsn_parse("16/b374d848", &lsn), 0);
    assert_true(lsn == UINT64_C(0x16B374D848));
    assert_int_equal(pgoutput_lsn_parse("0/0", &lsn), 0);
    assert_true(lsn == 0);
    assert_int_equal(pgoutput_lsn_parse("FFFFFFFF/FFFFFFFF", &lsn), 0);
    assert_true(lsn == UINT64_MAX);
    assert_int_equal(pgoutput_lsn_parse("00000001/00000002", &lsn), 0);
    assert_true(lsn == UINT64_C(0x100000002));
    for (uint64_t v = 1; v; v = v * 3 + 7) { /* format then parse is the identity */
        pgoutput_lsn_format(v, s, sizeof s);
        assert_int_equal(pgoutput_lsn_parse(s, &lsn), 0);
        assert_true(lsn == v);
        if (v > UINT64_MAX / 4) break;
    }

    static const char *const bad[] = {
        "",
        "/",
        "0/",
        "/0",
        "0",
        "0//0",
        "0/0/0",
        "0/0 ",
        " 0/0",
        "+1/0",
        "-1/0",
        "0x1/0",
        "1/-0",
        "g/0",
        "0/G",
        "1.0/0",
        "100000000/0",
        "0/100000000",
        "000000000/0",
        "0/000000000",
        "16/B374D848\n",
        "16:B374D848",
        "0/0x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lsn = 12345;
        if (pgoutput_lsn_parse(bad[i], &lsn) != -1) fail_msg("\"%s\" parsed", bad[i]);
        assert_true(lsn == 12345); /* untouched on error */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_begin_commit),
        cmocka_unit_test(test_round_trip_relation_type),
        cmocka_unit_test(test_round_trip_changes),
        cmocka_unit_test(test_round_trip_truncate_origin_message),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_captured_binary_stream),
        cmocka_unit_test(test_captured_text_payloads),
        cmocka_unit_test(test_lsn_format_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
