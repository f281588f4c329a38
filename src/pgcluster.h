/* pgcluster: the private PostgreSQL cluster under $PGPULSE_HOME (default ./.pgpulse).
 *
 * Used by `pgpulse db`, by `make run` and by the test harness when no database is configured.
 * The cluster listens on 127.0.0.1 and on a unix socket in HOME/run only, with
 * wal_level=logical, on a free port picked at first start (and again if that port is later
 * taken). Its superuser is `pgpulse`; TCP logins use a random password kept in HOME/pgpass
 * (mode 0600) that the connection URL names as its passfile, so no secret appears in a
 * process listing. PostgreSQL refuses to run as root: when the caller is root the server
 * runs as the `postgres` system user; if that user cannot reach HOME, the server's files go to
 * /var/lib/pgpulse/<hash of HOME> instead (HOME keeps the password file and a pointer). */
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
} pgcluster;

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
 * stderr. Returns 0, or -1 with a message in err (the server log is named in it). */
int pgcluster_start(pgcluster *c, char *err, size_t errlen);

/* Stops the cluster (fast shutdown) if it runs. Returns 0 or -1 with a message. */
int pgcluster_stop(pgcluster *c, char *err, size_t errlen);

/* Returns the libpq connection URI of the running cluster (newly allocated), for example
 * postgresql://pgpulse@127.0.0.1:5433/pgpulse?passfile=%2Fhome%2Fu%2F.pgpulse%2Fpgpass */
char *pgcluster_url(const pgcluster *c);

/* Releases c. NULL-safe. */
void pgcluster_free(pgcluster *c);

#endif
