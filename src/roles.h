/* roles: pgpulse's four group roles, which hold every privilege its programs need, so that a
 * login is given exactly one job by being made a member of one of them (docs/security.md):
 *
 *   pgpulse_writer  loads: ingest, gen --db, import-assets (reading, ingest_*, fault,
 *                   maintenance_event, the asset tables; creates day partitions through a
 *                   SECURITY DEFINER function)
 *   pgpulse_stage   runs the stream consumers: reads reading, writes stream_*, live_*, anomaly
 *                   and the detectors' state (logical replication needs the REPLICATION
 *                   attribute on the login itself: attributes are not inherited)
 *   pgpulse_reader  reads what the dashboard and API show, ingest rejects included; nothing else
 *   pgpulse_dashboard  the dashboard's server (`pgpulse serve`): a member of pgpulse_reader, plus
 *                   acknowledging episodes (anomaly_ack) — its one write
 *
 * The groups are NOLOGIN and cluster-wide; their privileges are per database (sql/grants.sql,
 * applied by `pgpulse init`). Both `pgpulse init` and `pgpulse db start` (which creates the
 * private cluster's logins in them) create the groups when missing, so either may come first. */
#ifndef PGPULSE_ROLES_H
#define PGPULSE_ROLES_H

#include <stddef.h>

#include <libpq-fe.h>

#define ROLES_WRITER "pgpulse_writer"
#define ROLES_STAGE "pgpulse_stage"
#define ROLES_READER "pgpulse_reader"
#define ROLES_DASHBOARD "pgpulse_dashboard"

/* The four group names, in the order above. */
extern const char *const roles_groups[4];

/* Creates each group role that does not exist yet (NOLOGIN), and makes pgpulse_dashboard a
 * member of pgpulse_reader unless it is. Safe when several callers race in one cluster: a role
 * created (or a membership granted) by another session meanwhile is fine. Runs outside a
 * transaction (each CREATE ROLE commits on its own). Returns 0, or -1 with a message in err
 * that says what an administrator must do when this login may not create roles. */
int roles_ensure_groups(PGconn *conn, char *err, size_t errlen);

#endif
