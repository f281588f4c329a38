/* pgcluster_private: what the files of the pgcluster module (pgcluster.c, pgcluster_tls.c,
 * pgcluster_logins.c) share and nobody else uses. */
#ifndef PGPULSE_PGCLUSTER_PRIVATE_H
#define PGPULSE_PGCLUSTER_PRIVATE_H

#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "pgcluster.h"

/* Fills uid and gid of the account the server runs as: the caller, or the postgres system
 * user when the caller is root. Returns 0, or -1 if root and there is no such user. */
int pgcluster_server_ids(uid_t *uid, gid_t *gid);

/* Writes text to path atomically (a temporary file renamed), with mode, owned by uid/gid when
 * we are root. Returns 0 or -1 with a message. */
int pgcluster_write_file(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid,
                         char *err, size_t errlen);

/* Runs argv (argv[0] a path, or a program found on PATH) with its output appended to the
 * server log, as the server user (as_server) or as the caller, in HOME, with umask 077. Returns
 * its exit status, 127 if it could not be executed, or -1 if it could not be started. */
int pgcluster_exec(const pgcluster *c, char *const argv[], int as_server);

/* Connects to database dbname of the running cluster as the superuser over TCP (with TLS
 * checked against the cluster's CA when it has one). Returns NULL with a message on failure. */
PGconn *pgcluster_connect_admin(const pgcluster *c, const char *dbname, char *err, size_t errlen);

/* Makes the CA and the server's certificate and key if missing (pgcluster_tls.c): HOME/tls
 * holds ca.crt and ca.key, SERVERDIR/tls the server's server.crt and server.key, owned by the
 * server user (uid, gid), mode 0600. Returns 0 or -1 with a message. */
int pgcluster_tls_make(const pgcluster *c, uid_t uid, gid_t gid, char *err, size_t errlen);

/* Makes sure every group role and every login of pgcluster_role exists with the password
 * HOME/pgpass holds for it (generating and recording one for a login that has none), and is in
 * its group (pgcluster_logins.c). The cluster must run. Returns 0 or -1 with a message. */
int pgcluster_logins_ensure(const pgcluster *c, char *err, size_t errlen);

/* The password HOME/pgpass records for user (its 127.0.0.1 line), newly allocated, or NULL
 * (pgcluster_logins.c). */
char *pgcluster_pgpass_password(const pgcluster *c, const char *user);

/* The settings a Citus node adds to pgpulse.conf (pgcluster_citus.c), newly allocated. */
char *pgcluster_citus_conf(const pgcluster *c);

/* Copies HOME/pgpass to c->server_passfile, owned by the server user (uid, gid), mode 0600,
 * unless it holds that already. Returns 0 or -1 with a message. */
int pgcluster_citus_write_passfile(const pgcluster *c, uid_t uid, gid_t gid, char *err,
                                   size_t errlen);

/* Whether the running server has loaded citus: 1, 0, or -1 with a message. */
int pgcluster_citus_loaded(const pgcluster *c, char *err, size_t errlen);

/* Records c->citus_workers in HOME/citus. Returns 0 or -1 with a message. */
int pgcluster_citus_record(const pgcluster *c, char *err, size_t errlen);

/* With the coordinator running (its lock held): starts every worker, then sets Citus up in
 * the `pgpulse` database. Returns 0 or -1 with a message. */
int pgcluster_citus_start_workers(pgcluster *c, char *err, size_t errlen);

#endif
