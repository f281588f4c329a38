/* citus: what pgpulse asks of a database about Citus (docs/scaling.md). On plain PostgreSQL
 * every answer is "no" and costs one catalogue lookup; nothing here needs the extension. */
#ifndef PGPULSE_CITUS_H
#define PGPULSE_CITUS_H

#include <stddef.h>

#include <libpq-fe.h>

/* Sets *distributed to 1 when `reading` is a distributed table (the database is a Citus
 * coordinator that `pgpulse init` placed: its rows and their sizes are on the workers, its
 * changes come from every node's stream), else 0. Returns 0, or -1 / PGCONN_LOST with a
 * message. */
int citus_reading_distributed(PGconn *conn, int *distributed, char *err, size_t errlen);

#endif
