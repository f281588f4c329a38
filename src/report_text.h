/* report_text: the report's words and numbers, built once from report_data and laid out by
 * both report_pdf and report_html — the first page's headline tiles and the tables (real
 * against simulated statistics, forecasts, detection quality, model metrics). */
#ifndef PGPULSE_REPORT_TEXT_H
#define PGPULSE_REPORT_TEXT_H

#include <stddef.h>

#include "report_data.h"

#define REPORT_TABLE_COLS 9
#define REPORT_CELL 48

/* A headline number: value ("593,710"), what it counts, and a detail line. */
typedef struct report_tile {
    char value[32];
    char label[64];
    char detail[96];
} report_tile;

typedef struct report_table {
    char title[96];
    char note[640];                       /* a paragraph under the title */
    int ncols;
    char head[REPORT_TABLE_COLS][REPORT_CELL];
    int right[REPORT_TABLE_COLS];         /* numbers: aligned right */
    char (*cell)[REPORT_CELL];            /* nrows x ncols, row-major */
    size_t nrows;
} report_table;

#define REPORT_MAX_TILES 12
#define REPORT_MAX_TABLES 4

/* The headline tiles for d into out (up to REPORT_MAX_TILES); returns how many. */
size_t report_text_tiles(const report_data *d, report_tile *out);

/* The tables for d into out (up to REPORT_MAX_TABLES; a table without rows is left out);
 * returns how many. Free with report_text_free. */
size_t report_text_tables(const report_data *d, report_table *out);

/* Frees the cells of t[0..n). */
void report_text_free(report_table *t, size_t n);

/* The cell at row r, column c. */
static inline char *report_cell(const report_table *t, size_t r, int c)
{
    return t->cell[r * (size_t)t->ncols + (size_t)c];
}

#endif
