/* assets: the workshop's asset files (plants, shops, manufacturer details, robots and
 * controllers, parts, data sources, feeds) read into an in-memory model, then written to the
 * asset tables in one transaction.
 *
 * The module has two halves. The pure half (assets_read_dir, assets_read_file,
 * assets_resolve) reads CSV files through csvin, recognises each file by its header, pivots
 * the ID,KEY,VALUE files into one record per id, and checks the rows and the references
 * between files; every problem becomes an assets_defect naming the file and line, what was
 * wrong and what was done about it. It needs no database and is what the unit tests drive.
 * The libpq half (assets_write) upserts the model and records the rows that were rejected or
 * not fully applied in ingest_reject. docs/assets.md describes the formats and the rules. */
#ifndef PGPULSE_ASSETS_H
#define PGPULSE_ASSETS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#define ASSETS_MAX_FILE (16u << 20) /* an asset file larger than this is refused */
#define ASSETS_RAW_MAX 1000         /* bytes of a line kept with a defect (as ingest_reject) */

/* The file formats, recognised by their header. */
typedef enum assets_kind {
    ASSETS_PLANT,     /* PLANT_ID,KEY,VALUE */
    ASSETS_SHOP,      /* SHOP_ID,KEY,VALUE,PLANT_ID */
    ASSETS_DETAIL,    /* DETAIL_ID,KEY,VALUE */
    ASSETS_EQUIPMENT, /* TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID */
    ASSETS_PART,      /* PART_ID,TYPE,COMMENTS,DETAIL_ID */
    ASSETS_SOURCE,    /* SOURCE_ID,NAME,PLANT_ID,SHOP_ID */
    ASSETS_FEED,      /* FEED_ID,KEY,VALUE */
    ASSETS_NKINDS
} assets_kind;

/* What a defect is about (the message says it in words). */
typedef enum assets_defect_kind {
    ASSETS_D_NOT_CSV,   /* a file in the directory that is not a regular .csv file: ignored */
    ASSETS_D_EMPTY,     /* a file without a header line (skipped) or without data rows */
    ASSETS_D_HEADER,    /* a header of no known format: file skipped */
    ASSETS_D_MISSING,   /* no file of a format in the directory: its table is not loaded */
    ASSETS_D_SYNTAX,    /* a line that cannot be split, is too long or is not UTF-8: rejected */
    ASSETS_D_FIELDS,    /* a row whose field count differs from its header's: rejected */
    ASSETS_D_ID,        /* an id or reference that is not a whole number 1..2^31-1: rejected */
    ASSETS_D_VALUE,     /* a value that cannot be used (empty KEY, bad date, number, IP) */
    ASSETS_D_DUPLICATE, /* a row that repeats an earlier one: ignored */
    ASSETS_D_CONFLICT,  /* same id (and KEY) as an earlier row, other value: first row wins */
    ASSETS_D_PARENT,    /* a shop row naming another plant than the shop's first row: not applied */
    ASSETS_D_CLASS,     /* a TYPE_CLASS other than Robot or Controller: rejected */
    ASSETS_D_NO_NAME,   /* a plant, shop, feed, robot, controller or source without a name */
    ASSETS_D_NO_PARENT, /* a shop that no row places in a plant: plant_id NULL */
    ASSETS_D_NO_AXIS,   /* a Joint part whose COMMENTS give no joint number: axis NULL */
    ASSETS_D_UNDEFINED, /* a reference to an id no file defines: a placeholder keeps it */
    ASSETS_D_MISMATCH,  /* a data source whose plant is not its shop's plant: stored as given */
} assets_defect_kind;

typedef struct assets_defect {
    assets_defect_kind kind;
    const char *file;    /* the file's path, or the directory for directory-level notes */
    uint64_t line;       /* 1-based line number; 0 when about a whole file or directory */
    const char *message; /* what was wrong, and what was done (valid UTF-8, one line) */
    const char *raw;     /* the line (valid UTF-8, cut at ASSETS_RAW_MAX bytes) when the row
                            was rejected or not fully applied, else NULL; such defects are
                            recorded in ingest_reject */
    size_t order;        /* sort key: the file's position in the read order */
    size_t seq;          /* sort key: creation order */
} assets_defect;

/* KEY/VALUE pairs without a column of their own (they go to the attrs jsonb column). */
typedef struct assets_attr {
    const char *key; /* as written in the file (trimmed) */
    const char *value;
} assets_attr;

typedef struct assets_attrs {
    assets_attr *v; /* in file order */
    size_t n, cap;
} assets_attrs;

/* Strings below are NUL-terminated, owned by the model, and NULL when the file has no value.
 * Ids are >= 1; a reference of 0 means none. `file` indexes assets_model.files and `line` is
 * where the record first appears. */

typedef struct assets_plant {
    int32_t plant_id;
    const char *name;     /* NAME */
    const char *location; /* LOCATION */
    assets_attrs attrs;
    size_t file;
    uint64_t line;
} assets_plant;

typedef struct assets_shop {
    int32_t shop_id;
    int32_t plant_id;       /* the PLANT_ID of the shop's first row that names one */
    uint64_t plant_line;    /* the line that set plant_id */
    const char *name;       /* NAME */
    const char **processes; /* the PROCESS values, in file order */
    size_t nprocesses, processes_cap;
    assets_attrs attrs;
    size_t file;
    uint64_t line;
} assets_shop;

typedef struct assets_detail {
    int32_t detail_id;
    const char *provider;      /* PROVIDER */
    const char *part_number;   /* PART_NUMBER */
    const char *model_number;  /* MODEL_NUMBER */
    const char *serial_number; /* SERIAL_NUMBER */
    const char *purchase_date; /* PURCHASE DATE as yyyy-mm-dd (the file has m/d/yyyy) */
    assets_attrs attrs;
    size_t file;
    uint64_t line;
} assets_detail;

/* A row of the equipment file: a robot or a controller. */
typedef struct assets_equipment {
    int32_t id;             /* TYPE_ID: robot_id or controller_id */
    const char *name;       /* TYPE_INSTANCE */
    const char *ip_address; /* IP_ADDRESS (NULL also when it was not an address) */
    int32_t detail_id;      /* DETAIL_ID */
    int32_t shop_id;        /* SHOP_ID */
    size_t file;
    uint64_t line;
} assets_equipment;

typedef struct assets_part {
    int32_t part_id;
    const char *kind;    /* TYPE (never NULL) */
    const char *comment; /* COMMENTS */
    int axis;            /* joint number 1..14 from COMMENTS ("Joint 3") when TYPE is Joint; 0 */
    int32_t detail_id;   /* DETAIL_ID */
    size_t file;
    uint64_t line;
} assets_part;

typedef struct assets_source {
    int32_t source_id;
    const char *name; /* NAME */
    int32_t plant_id; /* PLANT_ID */
    int32_t shop_id;  /* SHOP_ID */
    size_t file;
    uint64_t line;
} assets_source;

typedef struct assets_feed {
    int32_t feed_id;
    const char *name; /* NAME */
    const char *unit; /* UNIT */
    int has_lower;    /* LOWER LIMIT was given */
    int has_upper;    /* UPPER LIMIT was given */
    double lower, upper;
    assets_attrs attrs;
    size_t file;
    uint64_t line;
} assets_feed;

typedef struct assets_state assets_state;

/* Everything read from a directory. Arrays are in order of first appearance. */
typedef struct assets_model {
    assets_plant *plants;
    size_t nplants;
    assets_shop *shops;
    size_t nshops;
    assets_detail *details;
    size_t ndetails;
    assets_equipment *robots;
    size_t nrobots;
    assets_equipment *controllers;
    size_t ncontrollers;
    assets_part *parts;
    size_t nparts;
    assets_source *sources;
    size_t nsources;
    assets_feed *feeds;
    size_t nfeeds;

    /* Ids referenced but defined by no file (ascending): stored as placeholder rows. Filled
     * by assets_resolve. */
    int32_t *placeholder_plants;
    size_t nplaceholder_plants;
    int32_t *placeholder_shops;
    size_t nplaceholder_shops;
    int32_t *placeholder_details;
    size_t nplaceholder_details;

    assets_defect *defects; /* sorted by file, then line, by assets_resolve */
    size_t ndefects;
    const char **files; /* the files read (recognised or not), in read order */
    size_t nfiles;

    assets_state *st; /* private: string pool, indexes, capacities */
} assets_model;

/* A new empty model; free it with assets_model_free. */
assets_model *assets_model_new(void);

/* Releases the model and every string in it. NULL-safe. */
void assets_model_free(assets_model *m);

/* Reads every regular *.csv file of dir (in name order; other entries are noted as defects,
 * hidden files and subdirectories are passed over), notes each format that no file had, and
 * calls assets_resolve. Data problems become defects and never fail the call. Returns 0, or
 * -1 with a message in err when dir cannot be listed, holds no .csv file, or a file cannot be
 * read or is larger than ASSETS_MAX_FILE; the model must then not be written. */
int assets_read_dir(assets_model *m, const char *dir, char *err, size_t errlen);

/* Reads one file into the model: recognises its header, then checks and pivots each row.
 * Returns 0 (data problems are defects), or -1 with a message in err when the file cannot be
 * opened or read, is not a regular file, or is larger than ASSETS_MAX_FILE. */
int assets_read_file(assets_model *m, const char *path, char *err, size_t errlen);

/* After the last file: reports records without a name or plant, references to ids that no
 * file defines (filling the placeholder lists) and data sources at odds with their shop, then
 * sorts the defects. Later calls do nothing. */
void assets_resolve(assets_model *m);

/* Lookups by id; NULL when the model has no such record. */
const assets_plant *assets_find_plant(const assets_model *m, int32_t id);
const assets_shop *assets_find_shop(const assets_model *m, int32_t id);
const assets_detail *assets_find_detail(const assets_model *m, int32_t id);
const assets_equipment *assets_find_robot(const assets_model *m, int32_t id);
const assets_equipment *assets_find_controller(const assets_model *m, int32_t id);
const assets_part *assets_find_part(const assets_model *m, int32_t id);
const assets_source *assets_find_source(const assets_model *m, int32_t id);
const assets_feed *assets_find_feed(const assets_model *m, int32_t id);

/* The value of key in attrs (matched exactly), or NULL. */
const char *assets_attr_get(const assets_attrs *attrs, const char *key);

/* Number of defects that carry a raw line (what assets_write records in ingest_reject). */
size_t assets_count_recorded(const assets_model *m);

/* Writes each defect as "FILE:LINE: message" (or "FILE: message" when it has no line). */
void assets_print_defects(const assets_model *m, FILE *out);

/* What assets_write did to one table. */
typedef struct assets_table_stats {
    const char *table;         /* table name */
    uint64_t rows;             /* records the model has for it */
    uint64_t inserted;         /* of those, new rows */
    uint64_t updated;          /* of those, existing rows whose values changed */
    uint64_t placeholders;     /* placeholder ids the model needed (plant, shop, asset_detail) */
    uint64_t placeholders_new; /* of those, rows created (others were already stored) */
} assets_table_stats;

#define ASSETS_NTABLES 8

typedef struct assets_write_stats {
    assets_table_stats tables[ASSETS_NTABLES]; /* plant, shop, asset_detail, robot,
                                                  controller, part, data_source, feed */
    uint64_t rejects;                          /* defects recorded in ingest_reject */
    uint64_t rejects_new;                      /* of those, not recorded by an earlier import */
} assets_write_stats;

/* Writes the model in one transaction on conn (which must be idle): upserts every record
 * (a stored row whose values are unchanged is left untouched; a placeholder that is now
 * defined becomes a real row), inserts placeholder rows for undefined references unless the
 * id is already stored, and records the defects with a raw line in ingest_reject as
 * (source = file path, line_no, raw, reason = message), once per line however often it is
 * run. Concurrent imports are serialised by an advisory lock. Returns 0 with *st filled;
 * PGCONN_LOST (pgconn.h) with a message when the connection was lost, the transaction having
 * committed or not (running it again on a new connection is safe: it then changes nothing or
 * does it all); or -1 with the server's message in err, having rolled everything back. */
int assets_write(PGconn *conn, const assets_model *m, assets_write_stats *st, char *err,
                 size_t errlen);

#endif
