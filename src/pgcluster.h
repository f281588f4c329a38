/* pgcluster: the private PostgreSQL cluster under $PGPULSE_HOME (default ./.pgpulse).
 *
 * Used by `pgpulse db`, by `make run` and by the test harness when no database is configured.
 * The cluster listens on 127.0.0.1 and on a unix socket in HOME/run only, with
 * wal_level=logical, on a free port picked at first start (and again if that port is later
 * taken). Its superuser is `pgpulse`; TCP logins use a random password kept in HOME/pgpass
 * (mode 0600) that the connection URL names as its passfile, so no secret appears in a
 * process listing. PostgreSQL refuses to run as root: when the caller is root the server
 * runs as the `postgres` system user; if that user cannot reach HOME, the server's files go to
 * /var/lib/pgpulse/<hash of HOME> instead (HOME keeps the password file and a pointer).
 *
 * Every start also makes a login for each of pgpulse's group roles (roles.h) — pgpulse_ingest
 * (writer), pgpulse_stages (stage runner, with REPLICATION) and pgpulse_web (reader) — with
 * random passwords in HOME/pgpass, and writes pgpulse.conf and pg_hba.conf afresh from what
 * HOME records: the port, the WAL a replication slot may hold (max_slot_wal_keep_size,
 * HOME/slot_wal_limit, default PGCLUSTER_SLOT_WAL_DEFAULT) and TLS. With TLS (started once
 * with it; HOME/tls/ca.crt then keeps it on) the server presents a certificate signed by a CA
 * of its own (HOME/tls, made with the openssl program), TCP logins must use TLS, and URLs ask
 * for sslmode=verify-full against that CA. HOME may also be the coordinator of a Citus cluster
 * whose workers live in HOME/worker<K> (pgcluster_citus.h); the functions below then act on
 * every node where they say so. */
#ifndef PGPULSE_PGCLUSTER_H
#define PGPULSE_PGCLUSTER_H

#include <stddef.h>

typedef struct pgcluster {
    char *home;      /* absolute path of $PGPULSE_HOME */
    char *serverdir; /* where the server's files live: HOME, or /var/lib/pgpulse/<hash of HOME>
                        when the server user cannot reach HOME (root's 0700 home directory);
                        HOME/serverdir then names it */
    char *datadir;   /* SERVERDIR/data: the PostgreSQL data directory */
    char *rundir;    /* SERVERDIR/run: unix socket directory */
    char *logfile;   /* SERVERDIR/postgresql.log */
    char *passfile; /* HOME/pgpass: libpq password file for the TCP URL */
    char *bindir;   /* directory holding initdb, pg_ctl and postgres */
    int port;       /* TCP port on 127.0.0.1, 0 until chosen */
    char *tlsdir;   /* HOME/tls: the CA clients check the server against (ca.crt) */
    char *server_tlsdir;  /* SERVERDIR/tls: the server's certificate and key */
    int tls;              /* TCP logins are TLS-only (HOME/tls/ca.crt exists, or asked for) */
    char *slot_wal_limit; /* max_slot_wal_keep_size: HOME/slot_wal_limit, else the default */
    int citus;            /* a Citus node: preloads citus with change capture on (the
                             coordinator when HOME/citus exists; every worker) */
    int citus_workers;    /* the coordinator's number of workers (HOME/citus), else 0 */
    int node;             /* 0: a plain cluster or the Citus coordinator; K: Citus worker K,
                             whose HOME is the coordinator's HOME/worker<K> */
    char *server_passfile; /* SERVERDIR/pgpass.server: on a Citus node, the server user's copy
                              of HOME/pgpass that its own libpq (PGPASSFILE) uses to log in to
                              the other nodes; unused otherwise */
} pgcluster;

/* How much WAL a replication slot may hold before the server gives up on it: a consumer that
 * keeps up holds next to nothing, and one that is gone must not fill the disk. 4 GB is about
 * 16 million readings (~255 bytes of WAL each), some 27 minutes of a 10,000 rows/s fleet and
 * days of the default simulated one; a slot past it is invalidated and its consumer recovers
 * from the table. */
#define PGCLUSTER_SLOT_WAL_DEFAULT "4GB"

/* Who a private-cluster URL logs in as. */
typedef enum pgcluster_role {
    PGCLUSTER_OWNER = 0,  /* pgpulse: the superuser that owns the schema */
    PGCLUSTER_WRITER = 1, /* pgpulse_ingest, in pgpulse_writer */
    PGCLUSTER_STAGE = 2,  /* pgpulse_stages, in pgpulse_stage, with REPLICATION */
    PGCLUSTER_READER = 3, /* pgpulse_web, in pgpulse_dashboard (pgpulse_reader + acks) */
} pgcluster_role;

typedef enum pgcluster_state {
    PGCLUSTER_ABSENT = 0,  /* no cluster has been created under HOME */
    PGCLUSTER_STOPPED = 1, /* created, not running */
    PGCLUSTER_RUNNING = 2, /* running and accepting connections */
} pgcluster_state;

#define PGCLUSTER_DBNAME "pgpulse"
#define PGCLUSTER_USER "pgpulse"

/* Describes the cluster under home (NULL: $PGPULSE_HOME, else ./.pgpulse), without touching
 * it. Returns NULL with a message in err when no PostgreSQL server binaries can be found
 * ($PGPULSE_PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/N/bin). */
pgcluster *pgcluster_open(const char *home, char *err, size_t errlen);

/* Reports whether the cluster exists and runs. */
pgcluster_state pgcluster_get_state(pgcluster *c);

/* Creates the cluster if absent, starts it if stopped, and makes sure the `pgpulse` database
 * exists. Idempotent and safe to call from several processes at once. Progress goes to
 * stderr. With Citus (pgcluster_citus.h) it does so for every node and then sets up Citus in
 * the `pgpulse` database. Returns 0, or -1 with a message in err (the server log is named in
 * it). */
int pgcluster_start(pgcluster *c, char *err, size_t errlen);

/* Stops the cluster (fast shutdown) if it runs; with Citus every node, workers first.
 * Returns 0 or -1 with a message. */
int pgcluster_stop(pgcluster *c, char *err, size_t errlen);

/* Restarts the running server of c (fast shutdown; sessions are ended), or starts it as
 * pgcluster_start does when it is not running. For one Citus node, open it with
 * pgcluster_node. Returns 0 or -1 with a message. */
int pgcluster_restart(pgcluster *c, char *err, size_t errlen);

/* Asks for TLS: certificates are made at the next pgcluster_start if missing, and TLS stays
 * on for later starts. */
void pgcluster_want_tls(pgcluster *c);

/* Sets max_slot_wal_keep_size for this and later starts (recorded in HOME at the next
 * pgcluster_start): a size with a unit (kB, MB, GB, TB; none means MB) or -1 for no limit.
 * Returns 0, or -1 with a message naming the value when it is not one. */
int pgcluster_set_slot_wal_limit(pgcluster *c, const char *size, char *err, size_t errlen);

/* Parses "owner", "writer", "stage" or "reader" into *role. Returns 0 or -1. */
int pgcluster_role_parse(const char *name, pgcluster_role *role);

/* The login name of a role ("pgpulse", "pgpulse_ingest", ...). */
const char *pgcluster_login(pgcluster_role role);

/* Returns the libpq connection URI of the running cluster for the superuser (newly
 * allocated), for example
 * postgresql://pgpulse@127.0.0.1:5433/pgpulse?passfile=%2Fhome%2Fu%2F.pgpulse%2Fpgpass
 * With TLS it ends in &sslmode=verify-full&sslrootcert=<HOME/tls/ca.crt>. */
char *pgcluster_url(const pgcluster *c);

/* The same URI for the login of role. Newly allocated. */
char *pgcluster_url_as(const pgcluster *c, pgcluster_role role);

/* Releases c. NULL-safe. */
void pgcluster_free(pgcluster *c);

#endif
