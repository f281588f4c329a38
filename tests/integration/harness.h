/* harness: what every integration test needs — its own database on the throwaway cluster that
 * tests/run.sh started, running the pgpulse binary, and the shared data when present.
 *
 * Environment (set by tests/run.sh): PGPULSE_TEST_HOME (the cluster's $PGPULSE_HOME),
 * PGPULSE_TEST_CITUS_HOME (a Citus cluster's, where Citus is installed), PGPULSE_BIN (the binary under test), PGPULSE_SHARED (../shared, absent on a user's clone). */
#ifndef PGPULSE_HARNESS_H
#define PGPULSE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "faultproxy.h"

/* Creates (dropping any old one, and its replication slots) the database test_<name> with the pgpulse schema applied
 * when `init` is set, and returns its conninfo (static storage). Returns NULL when no test
 * cluster is configured; the test should then skip. */
const char *harness_db(const char *name, int init);

/* The message a Citus test skips with where no Citus cluster is configured. */
#define HARNESS_NO_CITUS "Citus is not installed (make deps-citus)"

/* harness_db on the Citus cluster tests/run.sh started (PGPULSE_TEST_CITUS_HOME: a coordinator
 * and 2 workers, `pgpulse db start --citus 2`): database test_<name> on every node (dropping
 * an old one and its replication slots on every node first) with Citus set up in it
 * (pgcluster_citus_setup_db: the extension on every node, the coordinator's host, the workers
 * added), then `pgpulse init` on the coordinator when init is set. Returns the coordinator's
 * conninfo (static storage), or NULL when no Citus cluster is configured: the test then skips
 * with HARNESS_NO_CITUS. */
const char *harness_citus_db(const char *name, int init);

/* harness_citus_db, or, where no Citus cluster is configured, HARNESS_NO_CITUS printed and the
 * test skipped (never returns NULL). */
const char *harness_citus_db_or_skip(const char *name, int init);

/* The conninfo of database test_<name> (made by harness_citus_db) on node `node` (0 the
 * coordinator, 1 and 2 the workers), as the superuser; the same passfile serves every node and
 * every login. Static storage, overwritten by the next call; NULL without a Citus cluster. */
const char *harness_citus_node_db(const char *name, int node);

/* The number of workers of the Citus cluster, 0 without one. */
int harness_citus_workers(void);

/* `pgpulse db VERB --node K` on the Citus cluster: "restart" (a fast shutdown, which ends its
 * sessions and replication connections, then a start on the same port) or "stop"; "start"
 * (node < 0) starts every node that is down. Fails the test on error. */
void harness_citus_node_do(const char *verb, int node);

/* Connects to the conninfo harness_db returned; fails the test if it cannot. */
PGconn *harness_connect(const char *conninfo);

/* Runs SQL that returns one value and returns it as an integer (fails the test on error). */
int64_t harness_query_int(PGconn *conn, const char *sql);

/* Runs SQL that returns one value; returns it newly allocated (NULL for SQL NULL). */
char *harness_query_text(PGconn *conn, const char *sql);

/* Fails the test unless haystack holds needle (both shown). */
void harness_assert_contains(const char *haystack, const char *needle);

/* Fails the test unless sql's one value is want (NULL: SQL NULL). */
void harness_assert_query(PGconn *conn, const char *sql, const char *want);

/* Runs SQL without a result; fails the test on error. */
void harness_exec(PGconn *conn, const char *sql);

/* The server's clock now (a new string), for harness_wait_reading_since. */
char *harness_now(PGconn *conn);

/* Waits until consumer's slot is read by a replication connection that began after `since`
 * (harness_now before the consumer was started): that process is past its start-up, its signal
 * handlers in place, so a SIGINT stops it cleanly — a consumer restarted with nothing left to do
 * is otherwise stopped while it starts. Fails after a minute. */
void harness_wait_reading_since(PGconn *conn, const char *consumer, const char *since);

/* Waits (up to 60 s) until the stream consumer `consumer` has created its slot, recorded it
 * (checkpoint mode 'stream': rows committed from then on reach it) and streams from it; fails
 * the test otherwise. */
void harness_wait_slot(PGconn *conn, const char *consumer);

/* The output of a command run by harness_pgpulse. */
typedef struct harness_out {
    int status;   /* exit status, or 128+signal */
    char *out;    /* standard output (NUL-terminated) */
    char *err;    /* standard error */
} harness_out;

/* Runs the pgpulse binary with argv (NULL-terminated, without the program name), standard
 * input from stdin_path (NULL: /dev/null). */
harness_out harness_pgpulse(const char *stdin_path, const char *const argv[]);

/* harness_pgpulse with a time limit: a run still going after `seconds` is ended by SIGALRM
 * (status 128 + 14 = 142), so a hang fails the test instead of the suite. */
harness_out harness_pgpulse_limit(int seconds, const char *stdin_path, const char *const argv[]);
void harness_out_free(harness_out *o);

/* Starts the pgpulse binary in the background (stdin from stdin_path or /dev/null; stdout
 * and stderr to out_path or /dev/null). Returns its pid. */
int harness_spawn(const char *stdin_path, const char *out_path, const char *const argv[]);

/* Waits for pid; returns its exit status (128+signal if killed); *maxrss_kb, if not NULL,
 * receives its peak resident memory. */
int harness_wait(int pid, long *maxrss_kb);

/* Reads a whole file (newly allocated, NUL-terminated); fails the test on error. */
char *harness_read_file(const char *path);

/* Path of a file under ../shared (static storage), or NULL if the shared data is absent. */
const char *harness_shared(const char *relpath);

/* A new empty temporary directory (static storage, removed at exit). */
const char *harness_tmpdir(void);

/* Writes text to path; fails the test on error. */
void harness_write_file(const char *path, const char *text);

/* The seed of this test process's random choices: PGPULSE_TEST_SEED when it is set, else a
 * fresh one. The first call prints "seed N (replay: PGPULSE_TEST_SEED=N)"; later calls return
 * the same N. Draw from it with rng.h (rng_seed(&r, harness_seed(), stream)). */
uint64_t harness_seed(void);

/* The fault proxy in front of the test cluster (faultproxy.h), started on first use and stopped
 * at exit; one per test process. Fails the test if it cannot start; NULL when no test cluster
 * is configured. */
faultproxy *harness_proxy(void);

/* Waits until every connection through harness_proxy() has closed (a client's last messages
 * are in the trace then); fails the test after 30 s. */
void harness_proxy_wait_idle(void);

/* Runs pgpulse with argv (whose --db should point through the proxy) undisturbed, failing the
 * test if it fails, and returns the trace of its connections named app (application_name; NULL:
 * all), newly allocated, *n events (see faultproxy_trace). */
faultproxy_event *harness_proxy_record(const char *const argv[], const char *app, size_t *n);

/* The conninfo of the database test_<name> (made by harness_db) through harness_proxy(), with
 * sslmode=disable and gssencmode=disable so the proxy sees the plain protocol. Static storage,
 * overwritten by the next call; NULL when no test cluster is configured. */
const char *harness_proxy_db(const char *name);

#endif
