/* Integration tests of the private cluster with TLS (`pgpulse db start --tls`), on a cluster of
 * their own in a temporary HOME (the suite's shared cluster is plain), started plain and then
 * switched to TLS while it runs: the certificates it makes, every command over verify-full
 * TLS — the replication connection of a consumer included, and `pgpulse run` with each job as
 * its own login — and the refusals: a CA that did not sign the server's certificate, a host
 * name the certificate does not name, and a connection without TLS. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

static char *home;     /* the cluster's HOME */
static int port;       /* its port */
static int running;    /* a consumer to kill if a test fails while it runs */

static harness_out db(const char *a1, const char *a2, const char *a3)
{
    setenv("PGPULSE_HOME", home, 1);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"db", a1, a2, a3, NULL});
    unsetenv("PGPULSE_HOME");
    return o;
}

/* `pgpulse db url [--role ROLE]`, newly allocated. */
static char *url(const char *role)
{
    harness_out o = db("url", role ? "--role" : NULL, role);
    if (o.status != 0) fail_msg("db url failed: %s", o.err);
    char *u = xstrdup(o.out);
    u[strcspn(u, "\n")] = '\0';
    harness_out_free(&o);
    return u;
}

/* A key=value conninfo to the cluster's pgpulse database as its superuser, with extra. */
static char *conninfo(const char *extra)
{
    return xasprintf("host=127.0.0.1 port=%d user=pgpulse dbname=pgpulse passfile=%s/pgpass "
                     "connect_timeout=10 %s",
                     port, home, extra);
}

static int setup(void **state)
{
    (void)state;
    if (!getenv("PGPULSE_TEST_HOME")) return 0; /* no cluster for tests: skip all */
    chmod(harness_tmpdir(), 0755); /* the server may run as the postgres user */
    home = xasprintf("%s/tls_cluster", harness_tmpdir());
    /* Plain first, then TLS asked of the running cluster (it reloads its settings). */
    harness_out o = db("start", NULL, NULL);
    int plain = o.status == 0 && !strstr(o.err, "with TLS");
    harness_out_free(&o);
    if (!plain) {
        fprintf(stderr, "db start failed or started with TLS\n");
        return -1;
    }
    o = db("start", "--tls", NULL);
    if (o.status != 0) {
        fprintf(stderr, "db start --tls failed: %s\n", o.err);
        harness_out_free(&o);
        return -1;
    }
    if (!strstr(o.err, "making a CA and a server certificate") || !strstr(o.err, "with TLS")) {
        fprintf(stderr, "db start --tls said: %s\n", o.err);
        harness_out_free(&o);
        return -1;
    }
    harness_out_free(&o);
    char *p = xasprintf("%s/port", home);
    char *text = harness_read_file(p);
    port = atoi(text);
    free(text);
    free(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (running > 0) {
        kill(running, SIGKILL);
        harness_wait(running, NULL);
    }
    if (home) {
        harness_out o = db("stop", NULL, NULL);
        harness_out_free(&o);
    }
    free(home);
    return 0;
}

static void assert_mode(const char *dir, const char *name, unsigned mode, const char *owner)
{
    char *path = xasprintf("%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) != 0) fail_msg("%s is missing", path);
    if ((st.st_mode & 0777) != mode)
        fail_msg("%s has mode %o, expected %o", path, st.st_mode & 0777, mode);
    if (owner && geteuid() == 0) {
        char *cmd = xasprintf("test \"$(stat -c %%U '%s')\" = %s", path, owner);
        if (system(cmd) != 0) fail_msg("%s is not owned by %s", path, owner);
        free(cmd);
    }
    free(path);
}

/* The certificates and the URL that names them. */
static void test_certificates_and_url(void **state)
{
    (void)state;
    if (!home) skip();
    char *tls = xasprintf("%s/tls", home);
    assert_mode(tls, "ca.key", 0600, NULL);
    assert_mode(tls, "ca.crt", 0644, NULL);
    /* The server's key: its own, readable by nobody else (PostgreSQL insists). */
    char *serverdir = xasprintf("%s/serverdir", home);
    char *server_tls = NULL;
    if (access(serverdir, R_OK) == 0) {
        char *d = harness_read_file(serverdir);
        d[strcspn(d, "\n")] = '\0';
        server_tls = xasprintf("%s/tls", d);
        free(d);
    } else {
        server_tls = xstrdup(tls);
    }
    assert_mode(server_tls, "server.key", 0600, "postgres");
    /* The certificate names 127.0.0.1 and localhost and is signed by the CA. */
    char *cmd = xasprintf("openssl verify -CAfile '%s/ca.crt' '%s/server.crt' >/dev/null && "
                          "openssl x509 -in '%s/server.crt' -noout -ext subjectAltName | "
                          "grep -q 'IP Address:127.0.0.1, DNS:localhost'",
                          tls, server_tls, server_tls);
    assert_int_equal(system(cmd), 0);
    free(cmd);

    char *u = url(NULL);
    /* It names the CA (its path percent-encoded: '/' is %2F). */
    char *ca = xasprintf("%s/ca.crt", tls);
    size_t n = 0;
    char enc[4096];
    for (const char *p = ca; *p && n + 4 < sizeof enc; p++)
        n += (size_t)snprintf(enc + n, sizeof enc - n, *p == '/' ? "%%2F" : "%c", *p);
    char *want = xasprintf("sslmode=verify-full&sslrootcert=%s", enc);
    if (!strstr(u, want)) fail_msg("db url %s does not name %s", u, want);
    free(want);
    free(ca);
    /* The server speaks TLS to it. */
    PGconn *conn = harness_connect(u);
    char *v = harness_query_text(conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = "
                                       "pg_backend_pid()");
    assert_string_equal(v, "true");
    free(v);
    PQfinish(conn);
    free(u);
    free(serverdir);
    free(server_tls);
    free(tls);
}

/* init, import, ingest, gen --db, a consumer by logical replication and status, over TLS. */
static void test_commands_over_tls(void **state)
{
    (void)state;
    if (!home) skip();
    char *owner = url(NULL), *writer = url("writer");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", owner, NULL});
    if (o.status != 0) fail_msg("init over TLS failed: %s", o.err);
    harness_out_free(&o);
    char *log = xasprintf("%s/tls_live.log", harness_tmpdir());
    running = harness_spawn(NULL, log, (const char *[]){"live", "--db", owner, "--status-every",
                                                        "0", NULL});
    PGconn *conn = harness_connect(owner);
    harness_wait_slot(conn, "live");
    char *csv = xasprintf("%s/tls.csv", harness_tmpdir());
    harness_write_file(csv, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n"
                            "1,2026-01-01T00:00:00Z,1,2,3,4,5,6,7,8\n"
                            "1,2026-01-01T00:00:01Z,1,2,3,4,5,6,7,8\n");
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (1)");
    o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", writer, csv, NULL});
    if (o.status != 0) fail_msg("ingest over TLS failed: %s", o.err);
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"gen", "--db", writer, "--robots", "2",
                                               "--first-robot", "10", "--rows", "100", "--faults",
                                               "none", NULL});
    if (o.status != 0) fail_msg("gen --db over TLS failed: %s", o.err);
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 102);
    /* The consumer's replication connection is TLS too, and it saw every row. */
    int64_t seen = 0;
    for (int i = 0; i < 300 && seen < 102; i++) {
        seen = harness_query_int(conn, "SELECT coalesce(sum(rows_total), 0) FROM live_robot");
        if (seen < 102) util_sleep_ms(100);
    }
    assert_int_equal(seen, 102);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_stat_ssl s JOIN "
                                             "pg_stat_activity a USING (pid) WHERE "
                                             "a.backend_type = 'walsender' AND s.ssl"),
                     1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_stat_ssl s JOIN "
                                             "pg_stat_activity a USING (pid) WHERE "
                                             "a.backend_type = 'walsender' AND NOT s.ssl"),
                     0);
    o = harness_pgpulse(NULL, (const char *[]){"status", "--db", owner, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "live "));
    harness_out_free(&o);
    kill(running, SIGTERM);
    int st = harness_wait(running, NULL);
    running = 0;
    if (st != 0) fail_msg("live exited with %d: %s", st, harness_read_file(log));
    o = harness_pgpulse(NULL, (const char *[]){"slots", "drop", "live", "--db", owner, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    PQfinish(conn);
    free(csv);
    free(log);
    free(owner);
    free(writer);
}

/* Connects with conninfo through pgpulse and checks that it is refused with libpq's words. */
static void assert_refused(const char *info, const char *words)
{
    harness_out o = harness_pgpulse(NULL, (const char *[]){"status", "--db", info, NULL});
    assert_int_equal(o.status, 1);
    if (!strstr(o.err, words)) fail_msg("expected \"%s\" in: %s", words, o.err);
    harness_out_free(&o);
}

/* A CA that did not sign the certificate, a name it does not carry, no TLS: refused. */
static void test_wrong_ca_wrong_host_and_plain_are_refused(void **state)
{
    (void)state;
    if (!home) skip();
    char *other = xasprintf("%s/other_ca", harness_tmpdir());
    char *cmd = xasprintf("openssl req -x509 -new -nodes -newkey ec -pkeyopt "
                          "ec_paramgen_curve:prime256v1 -keyout '%s.key' -out '%s.crt' -days 1 "
                          "-subj /CN=another >/dev/null 2>&1",
                          other, other);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *extra = xasprintf("sslmode=verify-full sslrootcert=%s.crt", other);
    char *info = conninfo(extra);
    assert_refused(info, "certificate verify failed");
    free(info);
    free(extra);

    extra = xasprintf("sslmode=verify-full sslrootcert=%s/tls/ca.crt", home);
    info = conninfo(extra);
    char *wrong = xasprintf("host=wrong.example hostaddr=127.0.0.1 %s", strstr(info, "port="));
    assert_refused(wrong, "does not match host name \"wrong.example\"");
    free(wrong);
    /* The same with the right name works: the refusal was the name's. */
    harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", info, NULL});
    if (o.status != 0) fail_msg("init with the right CA and host failed: %s", o.err);
    harness_out_free(&o);
    free(info);
    free(extra);

    info = conninfo("sslmode=disable");
    assert_refused(info, "no encryption");
    free(info);
    free(other);
}

/* `pgpulse run` on the private cluster: over TLS, the simulator as the writer's login, the
 * stages as the stage runner's (once the schema gives them their publication) — each job as
 * its own role. */
static void test_run_uses_a_login_per_job(void **state)
{
    (void)state;
    if (!home) skip();
    char *owner = url(NULL);
    PGconn *conn = harness_connect(owner);
    char *log = xasprintf("%s/tls_run.log", harness_tmpdir());
    setenv("PGPULSE_HOME", home, 1);
    running = harness_spawn(NULL, log, (const char *[]){"run", "--listen", "127.0.0.1:0", "--robots", "2", "--rate", "20",
                                                        NULL});
    unsetenv("PGPULSE_HOME");
    int64_t rows = 0;
    for (int i = 0; i < 300 && rows < 10; i++) {
        rows = harness_query_int(conn, "SELECT coalesce(sum(rows_total), 0) FROM live_robot "
                                       "WHERE robot_id IN (1001, 1002)");
        if (rows < 10) util_sleep_ms(100);
    }
    if (rows < 10) fail_msg("run did not stream: %s", harness_read_file(log));
    char *v = harness_query_text(conn, "SELECT string_agg(DISTINCT usename, ',') FROM "
                                       "pg_stat_activity WHERE application_name IN "
                                       "('pgpulse-gen', 'pgpulse-ingest')");
    assert_string_equal(v, "pgpulse_ingest");
    free(v);
    int split = harness_query_int(conn, "SELECT count(*) FROM pg_proc WHERE proname = "
                                        "'reading_publication'") == 1;
    v = harness_query_text(conn, "SELECT string_agg(DISTINCT usename, ',') FROM "
                                 "pg_stat_activity WHERE application_name = 'pgpulse-pipeline'"
                                 " OR backend_type = 'walsender'");
    assert_string_equal(v, split ? "pgpulse_stages" : "pgpulse");
    free(v);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_stat_ssl s JOIN "
                                             "pg_stat_activity a USING (pid) WHERE "
                                             "a.usename LIKE 'pgpulse%' AND NOT s.ssl AND "
                                             "a.client_addr IS NOT NULL"),
                     0);
    kill(running, SIGINT);
    int st = harness_wait(running, NULL);
    running = 0;
    if (st != 0) fail_msg("run exited with %d: %s", st, harness_read_file(log));
    /* run's one consumer, "pipeline" */
    harness_out o = harness_pgpulse(NULL, (const char *[]){"slots", "drop", "pipeline", "--db",
                                                            owner, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    PQfinish(conn);
    free(log);
    free(owner);
}

/* TLS stays on across a restart without --tls. */
static void test_tls_persists(void **state)
{
    (void)state;
    if (!home) skip();
    harness_out o = db("stop", NULL, NULL);
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = db("start", NULL, NULL);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.err, "with TLS"));
    assert_null(strstr(o.err, "making a CA"));
    harness_out_free(&o);
    char *u = url("reader");
    assert_non_null(strstr(u, "postgresql://pgpulse_web@127.0.0.1:"));
    assert_non_null(strstr(u, "sslmode=verify-full"));
    PGconn *conn = harness_connect(u);
    PQfinish(conn);
    free(u);
    char *info = conninfo("sslmode=disable");
    assert_refused(info, "no encryption");
    free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificates_and_url),
        cmocka_unit_test(test_commands_over_tls),
        cmocka_unit_test(test_wrong_ca_wrong_host_and_plain_are_refused),
        cmocka_unit_test(test_run_uses_a_login_per_job),
        cmocka_unit_test(test_tls_persists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
