/* dw_agg: the warehouse's exact, mergeable aggregates of readings (docs/warehouse.md), per
 * robot and period (minute, hour or day, UTC), and their binary encoding for PostgreSQL. Pure:
 * no I/O.
 *
 * A cell holds, for the readings of one robot in one period: rows, active (readings with some
 * axis non-zero) and per axis n (non-zero readings), s = Σ dw_agg_scaled(v), q = Σ of their
 * squares, min, max and a sparse histogram of dw_agg_bin(v) (sorted bin -> count). Every part
 * is a sum, a min or a max of integers or doubles, so a cell merged from any split of its
 * readings, in any order, is the same cell (dw_agg_cell_equal).
 *
 * A dw_agg is a hash of cells keyed by (robot, period start). Cells keep their histogram
 * buffers across dw_agg_reset, so a warm dw_agg allocates nothing per reading. */
#ifndef PGPULSE_DW_AGG_H
#define PGPULSE_DW_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "readingcsv.h"

#define DW_AGG_MINUTE_US (INT64_C(60) * 1000000)
#define DW_AGG_HOUR_US (INT64_C(3600) * 1000000)
#define DW_AGG_DAY_US (INT64_C(86400) * 1000000)
#define DW_AGG_BIN_MAX 1000
/* Scaled values are clamped to ±2^50 (|v| ≈ 1.1e9 A): a square is then below 2^100 and q stays
 * exact for any period of fewer than 2^27 readings of one robot. */
#define DW_AGG_SCALED_MAX (INT64_C(1) << 50)

__extension__ typedef __int128 dw_agg_i128;
__extension__ typedef unsigned __int128 dw_agg_u128;

typedef struct dw_agg_axis {
    int64_t n;         /* readings with v != 0 */
    dw_agg_i128 s;     /* Σ dw_agg_scaled(v) */
    dw_agg_u128 q;     /* Σ dw_agg_scaled(v)² */
    double mn, mx;     /* min and max of v (zeros included) */
    int32_t *h;        /* histogram: pairs bin, count, sorted by bin */
    uint32_t hlen;     /* pairs used */
    uint32_t hcap;     /* pairs allocated (kept across resets) */
} dw_agg_axis;

typedef struct dw_agg_cell {
    int32_t robot;     /* robot_id */
    int32_t used;      /* 0: an empty slot of the hash */
    int64_t t;         /* period start, µs since 1970-01-01 UTC */
    int64_t rows;      /* readings */
    int64_t active;    /* readings with some axis non-zero */
    int64_t run_us;    /* running time, µs: a minute's dw_agg_run_us (once set), an hour's or a
                          day's the sum of its minutes' */
    dw_agg_axis ax[READING_AXES];
} dw_agg_cell;

typedef struct dw_agg {
    int64_t period_us; /* DW_AGG_MINUTE_US, DW_AGG_HOUR_US or DW_AGG_DAY_US */
    dw_agg_cell *cells;/* open addressing on (robot, t) */
    size_t cap;        /* slots (a power of two, or 0) */
    size_t n;          /* cells in use */
    int32_t *tmp;      /* scratch of histogram merges */
    size_t tmpcap;     /* its pairs */
} dw_agg;

/* The histogram bin of v: 0 for v == 0; else sign(v) * (1 + floor(ln(|v| / 1e-3) / ln(1.02)))
 * clamped to 1..DW_AGG_BIN_MAX in magnitude (|v| < 1e-3 is ±1). */
int dw_agg_bin(double v);

/* A minute's running time in µs: round(6e7 * active / rows), half up, in integers (0 for no
 * rows) — what dw.fact_reading_minute's generated column run_us holds (sql/016). */
int64_t dw_agg_run_us(int64_t rows, int64_t active);

/* rint(v * 1e6) (half to even), clamped to ±DW_AGG_SCALED_MAX: what s and q sum. */
int64_t dw_agg_scaled(double v);

/* The start of the period of length period_us holding ts_us (floor, also before 1970). */
int64_t dw_agg_period(int64_t ts_us, int64_t period_us);

/* An empty dw_agg of periods of period_us. */
void dw_agg_init(dw_agg *a, int64_t period_us);

/* Forgets every cell, keeping the memory (histogram buffers included). */
void dw_agg_reset(dw_agg *a);

/* Releases everything; the dw_agg must be initialised again before reuse. */
void dw_agg_free(dw_agg *a);

/* The cell of (robot, period start t), created empty if missing. t must be a period start. The
 * pointer is valid until the next call that may create a cell. */
dw_agg_cell *dw_agg_cell_get(dw_agg *a, int32_t robot, int64_t t);

/* The cell of (robot, t), or NULL. */
dw_agg_cell *dw_agg_find(const dw_agg *a, int32_t robot, int64_t t);

/* Adds readings to the cells of their periods. */
void dw_agg_add(dw_agg *a, const reading *rows, size_t n);

/* dst += src (of any two cells: the keys are not looked at). a provides the scratch. */
void dw_agg_cell_merge(dw_agg *a, dw_agg_cell *dst, const dw_agg_cell *src);

/* Adds every cell of src to the cell of dst holding its period (dst's periods are multiples of
 * src's: minutes into hours, hours into days). */
void dw_agg_merge_into(dw_agg *dst, const dw_agg *src);

/* 1 when two cells hold the same aggregates (keys included), else 0. */
int dw_agg_cell_equal(const dw_agg_cell *x, const dw_agg_cell *y);

/* Writes v in decimal at out (which must hold 41 bytes), NUL-terminated; returns the length. */
size_t dw_agg_i128_text(dw_agg_i128 v, char *out);

/* ---- Binary encoding (PostgreSQL's send/recv formats) ---- */

/* The parameters of one statement writing cells (see stage_warehouse.c for the statement):
 * arrays over the cells in the order they were added, in binary format:
 *   0 robot_id int4[], 1 period timestamptz[] (or date[] for days), 2 rows int4[],
 *   3 active int4[], then per axis a (from 4 + 7a): n int4[], s numeric[], q numeric[],
 *   mn float8[], mx float8[], h int8[] (every cell's histogram entries (bin << 32) | count,
 *   concatenated), ho int4[] (offsets: the cell k's entries are h[ho[k] + 1 : ho[k + 1]],
 *   1-based; one more element than cells); last (4 + 7 * READING_AXES) run_us int8[] (which a
 *   minute's statement leaves out: the table computes it). */
#define DW_AGG_NPARAMS (5 + 7 * READING_AXES)

typedef struct dw_agg_params {
    int as_date;               /* the period column is a date (days) */
    size_t n;                  /* cells added */
    buf p[DW_AGG_NPARAMS];     /* the array bodies, without their headers */
    buf out[DW_AGG_NPARAMS];   /* the finished arrays (dw_agg_params_end) */
    uint32_t off[READING_AXES];/* entries in each axis's h so far */
} dw_agg_params;

/* Starts (or restarts, keeping memory) a parameter set; as_date: the period column is a date. */
void dw_agg_params_reset(dw_agg_params *p, int as_date);

/* Appends a cell. */
void dw_agg_params_add(dw_agg_params *p, const dw_agg_cell *c);

/* Finishes the arrays: values[i], lengths[i] for PQexecParams (formats all 1). Valid until the
 * next reset or free. */
void dw_agg_params_end(dw_agg_params *p, const char *values[DW_AGG_NPARAMS],
                       int lengths[DW_AGG_NPARAMS]);

void dw_agg_params_free(dw_agg_params *p);

/* Decodes one row of a binary result holding, in this order: robot_id int4, the period
 * (timestamptz, or date when as_date), rows int4, active int4, then per axis n int4, s numeric,
 * q numeric, mn float8, mx float8, h int8[] (entries (bin << 32) | count), then run_us int8 —
 * 5 + 6 * READING_AXES fields: vals[i], lens[i] (-1: NULL). Adds it to the cell of a holding its period (a cell merge: minute rows read into an
 * hour dw_agg add up to their hours). Returns 0, or -1 if a field is
 * malformed, NULL, out of range or not an integer (the dw_agg may then hold part of it). */
#define DW_AGG_NFIELDS (5 + 6 * READING_AXES)
int dw_agg_read_row(dw_agg *a, int as_date, const char *const *vals, const int *lens);

#endif
