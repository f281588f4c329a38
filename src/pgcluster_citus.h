/* pgcluster_citus: the private cluster as a Citus cluster — one coordinator and N workers on
 * loopback, each a private PostgreSQL made exactly as pgcluster makes one (pgcluster.h).
 *
 * Layout: the coordinator is the cluster of HOME ($PGPULSE_HOME); worker K (1..N) lives in
 * HOME/worker<K>, with its own port, data and log. HOME/citus records N, so a later `db start`,
 * `db stop`, `db status` or `db url` handles every node without being told again. Every node
 * preloads citus with `citus.enable_change_data_capture = on` (wal_level=logical and 32
 * replication slots and WAL senders, as every private cluster), and max_worker_processes = 64
 * (each database with the extension has a maintenance daemon, a background worker).
 *
 * One password file for all: the workers share the coordinator's HOME/pgpass (its lines name
 * no port), so the superuser `pgpulse` and the logins of pgpulse's roles (pgpulse_ingest,
 * pgpulse_stages, pgpulse_web) have the same passwords on every node, and a client that
 * replaces the host and port of a node's URL logs in anywhere, replication included. Nodes log
 * in to each other the same way: a distributed query runs on the workers as the connected
 * user, so every server is started with PGPASSFILE naming SERVERDIR/pgpass.server, the server
 * user's copy (mode 0600) of HOME/pgpass, rewritten at every start. No password appears in a
 * process listing and TCP stays scram-sha-256 (nothing is `trust` but the 0700 unix socket).
 * With TLS every node presents a certificate of the one CA in HOME/tls, and nodes connect to
 * each other with citus.node_conninfo = 'sslmode=verify-full' against it; without TLS,
 * 'sslmode=prefer', which also keeps Citus from turning SSL on by itself at CREATE EXTENSION.
 *
 * Citus keeps its metadata per database: pgcluster_citus_setup_db does, in one database of
 * every node, CREATE EXTENSION citus, then on the coordinator citus_set_coordinator_host and
 * citus_add_node for each worker. `db start` does it for the `pgpulse` database; a database a
 * user makes later needs it too (the test harness calls it for each test database). */
#ifndef PGPULSE_PGCLUSTER_CITUS_H
#define PGPULSE_PGCLUSTER_CITUS_H

#include <stddef.h>

#include "pgcluster.h"

/* Whether the server of c has Citus: citus.so in its package library directory (as
 * `scripts/deps-citus.sh --check` looks). 1 or 0. */
int pgcluster_citus_installed(const pgcluster *c);

/* Asks for a Citus cluster of `workers` workers (>= 1) at the next pgcluster_start: a plain
 * cluster becomes the coordinator (restarted to load citus), missing workers are created and
 * added. Returns 0, or -1 with a message when workers < 1, when Citus is not installed (naming
 * `make deps-citus`) or when HOME already records more workers (workers are never removed). */
int pgcluster_want_citus(pgcluster *c, int workers, char *err, size_t errlen);

/* Node k of c (opened afresh, newly allocated): 0 the coordinator (or the plain cluster), 1..N
 * worker k, which shares the coordinator's password file, CA and slot WAL limit. Returns NULL
 * with a message when there is no node k. */
pgcluster *pgcluster_node(const pgcluster *c, int k, char *err, size_t errlen);

/* Sets Citus up in database dbname, which must exist on every node, all running: CREATE
 * EXTENSION citus on each, the coordinator's host, and each worker added (or its port updated
 * where it moved since). Idempotent. Returns 0 or -1 with a message naming the node. */
int pgcluster_citus_setup_db(const pgcluster *c, const char *dbname, char *err, size_t errlen);

#endif
