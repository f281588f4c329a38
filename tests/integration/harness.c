/* harness: test databases, running the binary, shared data, the seed of randomised tests and
 * the fault proxy. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgcluster.h"
#include "pgcluster_citus.h"
#include "rng.h"
#include "util.h"

static char harness_conninfo[4096];

/* The test cluster's port (fails the test without one); 0 when no cluster is configured. */
static int harness_cluster_port(const char **home_out)
{
    const char *home = getenv("PGPULSE_TEST_HOME");
    if (!home || !*home) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/port", home);
    FILE *f = fopen(path, "r");
    int port = 0;
    if (f) {
        if (fscanf(f, "%d", &port) != 1) port = 0;
        fclose(f);
    }
    if (port <= 0) fail_msg("no port file in %s: is the test cluster running?", home);
    *home_out = home;
    return port;
}

static void harness_drop_db(const char *admin, const char *name);
static void harness_create_db(const char *admin, const char *name);

const char *harness_db(const char *name, int init)
{
    const char *home = NULL;
    int port = harness_cluster_port(&home);
    if (!port) return NULL;

    char admin[4096];
    snprintf(admin, sizeof admin,
             "host=127.0.0.1 port=%d user=pgpulse dbname=pgpulse passfile=%s/pgpass", port, home);
    harness_create_db(admin, name);
    snprintf(harness_conninfo, sizeof harness_conninfo,
             "host=127.0.0.1 port=%d user=pgpulse dbname=test_%s passfile=%s/pgpass", port, name,
             home);
    if (init) {
        harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", harness_conninfo, NULL});
        if (o.status != 0) fail_msg("pgpulse init failed: %s", o.err);
        harness_out_free(&o);
    }
    return harness_conninfo;
}

/* Database test_<name> afresh on the server of admin (an old one and its slots dropped). */
static void harness_create_db(const char *admin, const char *name)
{
    harness_drop_db(admin, name);
    PGconn *conn = harness_connect(admin);
    char sql[512];
    snprintf(sql, sizeof sql, "CREATE DATABASE test_%s", name);
    harness_exec(conn, sql);
    PQfinish(conn);
}

/* The Citus test cluster (opened once), or NULL when none is configured. */
static pgcluster *harness_citus(void)
{
    static pgcluster *c;
    static int tried;
    if (tried) return c;
    tried = 1;
    const char *home = getenv("PGPULSE_TEST_CITUS_HOME");
    if (!home || !*home) return NULL;
    char err[1024];
    c = pgcluster_open(home, err, sizeof err);
    if (!c) fail_msg("PGPULSE_TEST_CITUS_HOME=%s: %s", home, err);
    if (c->citus_workers < 1) fail_msg("PGPULSE_TEST_CITUS_HOME=%s is not a Citus cluster", home);
    return c;
}

int harness_citus_workers(void)
{
    pgcluster *c = harness_citus();
    return c ? c->citus_workers : 0;
}

const char *harness_citus_node_db(const char *name, int node)
{
    static char conninfo[4096];
    pgcluster *c = harness_citus();
    if (!c) return NULL;
    char err[1024];
    pgcluster *n = pgcluster_node(c, node, err, sizeof err);
    if (!n) fail_msg("%s", err);
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=pgpulse dbname=test_%s passfile=%s", n->port, name,
             c->passfile);
    pgcluster_free(n);
    return conninfo;
}

/* Drops database test_<name> and its slots on the server at admin (a conninfo). */
static void harness_drop_db(const char *admin, const char *name)
{
    PGconn *conn = harness_connect(admin);
    char sql[512];
    /* Replication slots on the old database would keep it from being dropped. */
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = "
             "'test_%s' AND active_pid IS NOT NULL",
             name);
    harness_exec(conn, sql);
    snprintf(sql, sizeof sql,
             "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database "
             "= 'test_%s'",
             name);
    for (int tries = 0;; tries++) {
        PGresult *r = PQexec(conn, sql);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (ok || tries == 50) break;
        util_sleep_ms(100); /* a terminated walsender takes a moment to let go */
    }
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS test_%s WITH (FORCE)", name);
    harness_exec(conn, sql);
    PQfinish(conn);
}

const char *harness_citus_db(const char *name, int init)
{
    static char coord[4096];
    pgcluster *c = harness_citus();
    if (!c) return NULL;
    /* Every node: the old database goes (the coordinator's first: its sessions reach the
     * workers), a new one comes. */
    for (int k = 0; k <= c->citus_workers; k++) {
        char admin[4096];
        snprintf(admin, sizeof admin, "%s", harness_citus_node_db(name, k));
        char *db = strstr(admin, "dbname=test_");
        char *rest = xstrdup(strchr(db, ' '));
        snprintf(db, sizeof admin - (size_t)(db - admin), "dbname=pgpulse%s", rest);
        free(rest);
        harness_create_db(admin, name);
    }
    char dbname[256], err[1024];
    snprintf(dbname, sizeof dbname, "test_%s", name);
    if (pgcluster_citus_setup_db(c, dbname, err, sizeof err) != 0) fail_msg("%s", err);
    snprintf(coord, sizeof coord, "%s", harness_citus_node_db(name, 0));
    if (init) {
        harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", coord, NULL});
        if (o.status != 0) fail_msg("pgpulse init failed on the Citus coordinator: %s", o.err);
        harness_out_free(&o);
    }
    return coord;
}

const char *harness_citus_db_or_skip(const char *name, int init)
{
    const char *db = harness_citus_db(name, init);
    if (!db) {
        print_message(HARNESS_NO_CITUS ": skipped\n");
        skip();
    }
    return db;
}

void harness_citus_node_do(const char *verb, int node)
{
    pgcluster *c = harness_citus();
    if (!c) fail_msg("no Citus cluster to %s a node of", verb);
    char k[16];
    snprintf(k, sizeof k, "%d", node);
    const char *with[] = {"db", verb, "--node", k, "--home", c->home, NULL};
    const char *all[] = {"db", verb, "--home", c->home, NULL};
    harness_out o = harness_pgpulse_limit(120, NULL, node >= 0 ? with : all);
    if (o.status != 0) fail_msg("pgpulse db %s (node %d) failed: %s", verb, node, o.err);
    harness_out_free(&o);
}

PGconn *harness_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) fail_msg("cannot connect: %s", PQerrorMessage(conn));
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

void harness_exec(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("SQL failed: %s\n%s", sql, msg);
    }
    PQclear(r);
}

char *harness_query_text(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        PQclear(r);
        fail_msg("query failed or did not return one row: %s\n%s", sql, msg);
    }
    char *v = PQgetisnull(r, 0, 0) ? NULL : xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int64_t harness_query_int(PGconn *conn, const char *sql)
{
    char *v = harness_query_text(conn, sql);
    if (!v) fail_msg("query returned NULL: %s", sql);
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static char *harness_slurp(int fd)
{
    size_t cap = 4096, len = 0;
    char *s = xmalloc(cap);
    for (;;) {
        if (cap - len < 2048) s = xrealloc(s, cap *= 2);
        ssize_t n = read(fd, s + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    s[len] = '\0';
    return s;
}

static harness_out harness_run(int limit_seconds, const char *stdin_path,
                               const char *const argv[]);

harness_out harness_pgpulse(const char *stdin_path, const char *const argv[])
{
    return harness_run(0, stdin_path, argv);
}

harness_out harness_pgpulse_limit(int seconds, const char *stdin_path, const char *const argv[])
{
    return harness_run(seconds, stdin_path, argv);
}

static harness_out harness_run(int limit_seconds, const char *stdin_path,
                               const char *const argv[])
{
    const char *bin = getenv("PGPULSE_BIN");
    if (!bin) bin = "./pgpulse";
    char outpath[] = "/tmp/pgpulse-test-out-XXXXXX";
    char errpath[] = "/tmp/pgpulse-test-err-XXXXXX";
    int outfd = mkstemp(outpath), errfd = mkstemp(errpath);
    if (outfd < 0 || errfd < 0) fail_msg("mkstemp: %s", strerror(errno));
    unlink(outpath);
    unlink(errpath);
    size_t argc = 0;
    while (argv[argc]) argc++;
    char **av = xcalloc(argc + 2, sizeof *av);
    av[0] = (char *)bin;
    for (size_t i = 0; i < argc; i++) av[i + 1] = (char *)argv[i];
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        if (in < 0) _exit(126);
        dup2(in, 0);
        dup2(outfd, 1);
        dup2(errfd, 2);
        if (limit_seconds > 0) alarm((unsigned)limit_seconds); /* survives execv */
        execv(bin, av);
        _exit(127);
    }
    free(av);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    harness_out o;
    o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    lseek(outfd, 0, SEEK_SET);
    lseek(errfd, 0, SEEK_SET);
    o.out = harness_slurp(outfd);
    o.err = harness_slurp(errfd);
    close(outfd);
    close(errfd);
    return o;
}

void harness_out_free(harness_out *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}

const char *harness_shared(const char *relpath)
{
    static char path[4096];
    const char *root = getenv("PGPULSE_SHARED");
    if (!root || !*root) return NULL;
    snprintf(path, sizeof path, "%s/%s", root, relpath);
    return access(path, R_OK) == 0 ? path : NULL;
}

static char harness_tmp[256];

static void harness_rm_tmp(void)
{
    if (!harness_tmp[0]) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", harness_tmp);
    if (system(cmd) != 0) fprintf(stderr, "harness: could not remove %s\n", harness_tmp);
}

const char *harness_tmpdir(void)
{
    if (!harness_tmp[0]) {
        snprintf(harness_tmp, sizeof harness_tmp, "/tmp/pgpulse-test-XXXXXX");
        if (!mkdtemp(harness_tmp)) fail_msg("mkdtemp: %s", strerror(errno));
        atexit(harness_rm_tmp);
    }
    return harness_tmp;
}

void harness_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

int harness_spawn(const char *stdin_path, const char *out_path, const char *const argv[])
{
    const char *bin = getenv("PGPULSE_BIN");
    if (!bin) bin = "./pgpulse";
    size_t argc = 0;
    while (argv[argc]) argc++;
    char **av = xcalloc(argc + 2, sizeof *av);
    av[0] = (char *)bin;
    for (size_t i = 0; i < argc; i++) av[i + 1] = (char *)argv[i];
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(bin, av);
        _exit(127);
    }
    free(av);
    return (int)pid;
}

int harness_wait(int pid, long *maxrss_kb)
{
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void harness_assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) fail_msg("expected to find:\n%s\nin:\n%s", needle, haystack);
}

void harness_assert_query(PGconn *conn, const char *sql, const char *want)
{
    char *got = harness_query_text(conn, sql);
    if (!want && got) fail_msg("%s\n  returned '%s', expected NULL", sql, got);
    if (want && (!got || strcmp(got, want) != 0))
        fail_msg("%s\n  returned '%s', expected '%s'", sql, got ? got : "NULL", want);
    free(got);
}

char *harness_read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) fail_msg("cannot read %s: %s", path, strerror(errno));
    char *s = harness_slurp(fd);
    close(fd);
    return s;
}

void harness_wait_slot(PGconn *conn, const char *consumer)
{
    /* Streaming: its slot is made and recorded (on Citus on every node; mode 'stream': every row committed from now on
     * reaches it; a slot still being created shows as active too) and a process reads it.
     * Bounded at a minute: only a failure waits that long. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM stream_consumer c JOIN stream_checkpoint k USING (consumer) "
             "JOIN pg_replication_slots s ON s.slot_name = c.slot_name WHERE c.consumer = '%s' "
             "AND k.source = 'local' AND k.mode = 'stream' AND s.active",
             consumer);
    for (int i = 0; i < 1200; i++) {
        if (harness_query_int(conn, sql) == 1) return;
        util_sleep_ms(50);
    }
    fail_msg("consumer %s did not start streaming", consumer);
}

char *harness_now(PGconn *conn)
{
    return harness_query_text(conn, "SELECT clock_timestamp()::text");
}

void harness_wait_reading_since(PGconn *conn, const char *consumer, const char *since)
{
    char *sql = xasprintf("SELECT count(*) FROM stream_consumer c JOIN pg_replication_slots s ON "
                          "s.slot_name = c.slot_name JOIN pg_stat_activity a ON a.pid = "
                          "s.active_pid WHERE c.consumer = '%s' AND a.backend_start > '%s'",
                          consumer, since);
    int i = 0;
    while (harness_query_int(conn, sql) == 0 && i++ < 1200) util_sleep_ms(50);
    free(sql);
    if (i > 1200) fail_msg("consumer %s did not start reading its slot", consumer);
}

uint64_t harness_seed(void)
{
    static uint64_t seed;
    static int chosen;
    if (!chosen) {
        const char *env = getenv("PGPULSE_TEST_SEED");
        if (env && *env) {
            char *end;
            seed = strtoull(env, &end, 10);
            if (*end) fail_msg("PGPULSE_TEST_SEED: not a number: '%s'", env);
        } else {
            uint32_t r;
            util_random_bytes(&r, sizeof r);
            seed = r;
        }
        chosen = 1;
        printf("seed %llu (replay: PGPULSE_TEST_SEED=%llu)\n", (unsigned long long)seed,
               (unsigned long long)seed);
        fflush(stdout);
    }
    return seed;
}

static faultproxy *harness_the_proxy;

static void harness_stop_proxy(void)
{
    faultproxy_stop(harness_the_proxy);
    harness_the_proxy = NULL;
}

faultproxy *harness_proxy(void)
{
    if (harness_the_proxy) return harness_the_proxy;
    const char *home = NULL;
    int port = harness_cluster_port(&home);
    if (!port) return NULL;
    char err[256];
    harness_the_proxy = faultproxy_start("127.0.0.1", port, err, sizeof err);
    if (!harness_the_proxy) fail_msg("%s", err);
    atexit(harness_stop_proxy);
    return harness_the_proxy;
}

void harness_proxy_wait_idle(void)
{
    int open = 1;
    for (int i = 0; i < 3000 && open; i++) {
        faultproxy_counts(harness_proxy(), NULL, &open);
        if (open) util_sleep_ms(10);
    }
    if (open) fail_msg("%d connection(s) through the proxy did not close", open);
}

faultproxy_event *harness_proxy_record(const char *const argv[], const char *app, size_t *n)
{
    faultproxy *p = harness_proxy();
    harness_proxy_wait_idle();
    faultproxy_trace_reset(p);
    harness_out o = harness_run(120, NULL, argv);
    if (o.status != 0) fail_msg("the undisturbed run of pgpulse %s failed: %s", argv[0], o.err);
    harness_out_free(&o);
    harness_proxy_wait_idle();
    return faultproxy_trace(p, app ? "application_name" : NULL, app, n);
}

const char *harness_proxy_db(const char *name)
{
    static char conninfo[4096];
    faultproxy *p = harness_proxy();
    if (!p) return NULL;
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=pgpulse dbname=test_%s passfile=%s/pgpass "
             "sslmode=disable gssencmode=disable",
             faultproxy_port(p), name, getenv("PGPULSE_TEST_HOME"));
    return conninfo;
}
