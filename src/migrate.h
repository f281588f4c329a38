/* migrate: the schema migrations compiled into the binary (sql/NNN_what.sql) and their
 * application, recorded in the table schema_migration.
 *
 * Applying is idempotent and safe against concurrent callers (an advisory lock serialises
 * them). A database whose schema is newer than this binary, or whose applied migration text
 * differs from the binary's, is refused with a message saying so. */
#ifndef PGPULSE_MIGRATE_H
#define PGPULSE_MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

typedef struct migrate_script {
    int version;      /* NNN of the file name */
    const char *name; /* file name, e.g. "001_schema.sql" */
    const char *sql;  /* its text */
} migrate_script;

/* Generated from sql/ by scripts/embed_sql.sh, in version order. */
extern const migrate_script migrate_scripts[];
extern const int migrate_nscripts;

/* sql/grants.sql: the privileges of pgpulse's roles (see roles.h), applied after the
 * migrations by every migrate_apply. */
extern const char migrate_grants_sql[];

/* sql/citus.sql: the schema's placement on a Citus cluster (migrate_apply runs it). */
extern const char migrate_citus_sql[];

typedef struct migrate_result {
    int from_version; /* schema version found (0: none) */
    int to_version;   /* schema version after applying */
    int applied;      /* migrations applied by this call */
    int citus_workers; /* a Citus coordinator: its active primary workers (0: plain PostgreSQL,
                        * or Citus without a worker, where nothing is distributed) */
    int distributed;   /* this call distributed the schema (sql/citus.sql's first run) */
} migrate_result;

/* The newest schema version this binary knows. */
int migrate_latest_version(void);

/* Creates pgpulse's group roles if missing (roles_ensure_groups), applies every pending
 * migration and then the grants (sql/grants.sql) in one transaction, then, on a Citus
 * coordinator with at least one worker (the citus extension in the database, a primary of
 * another group in pg_dist_node), places the tables (sql/citus.sql: reference tables,
 * distributed by robot_id, the rest local; idempotent) in a second transaction, then creates the
 * reading partitions of today and the next 7 days (UTC). A Citus worker is refused (the schema
 * lives on the coordinator). Returns 0, or -1 with a message in err (nothing is applied then;
 * roles created before the failure stay; a failed placement leaves the migrations applied and
 * the next call places the tables). */
int migrate_apply(PGconn *conn, migrate_result *res, char *err, size_t errlen);

/* Reads the schema version of the database into *version (0 if never initialised).
 * Returns 0 or -1 with a message. */
int migrate_current_version(PGconn *conn, int *version, char *err, size_t errlen);

/* Checks that the database's schema is exactly the binary's: returns 0, or -1 with a message
 * telling the user what to run (`pgpulse init`, or upgrade pgpulse). */
int migrate_require_current(PGconn *conn, char *err, size_t errlen);

#endif
