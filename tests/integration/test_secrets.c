/* Integration tests of secrets: a password in a connection URL appears nowhere pgpulse puts
 * text — not in what its commands print (errors included: a wrong password, an unknown
 * database, a malformed conninfo), not in `pgpulse status`, not in the server's log, and not
 * in /proc/PID/cmdline of a running `pgpulse live --db URL`, of `pgpulse run --db URL` or of the
 * stages run starts (they get the URL in their environment). The login with the known password
 * is made by the test and owns the test database. */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

#define USER "pgpulse_secret_user"
#define PASSWORD "Pw-Secret-4711-xyz"
#define WRONG "Wrong-Pw-9876-abc"

static int spawned[2]; /* processes to kill if a test fails while they run */

static int kill_spawned(void **state)
{
    (void)state;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(spawned); i++)
        if (spawned[i] > 0) {
            kill(spawned[i], SIGKILL);
            harness_wait(spawned[i], NULL);
            spawned[i] = 0;
        }
    return 0;
}

/* Everything the commands printed, and the command lines seen. */
static char *seen;

static void keep(const char *what, const char *text)
{
    char *next = xasprintf("%s\n== %s\n%s", seen ? seen : "", what, text);
    free(seen);
    seen = next;
}

static harness_out run(const char *what, const char *const argv[])
{
    harness_out o = harness_pgpulse(NULL, argv);
    keep(what, o.out);
    keep(what, o.err);
    return o;
}

/* /proc/PID/cmdline with its NULs as spaces (newly allocated). */
static char *cmdline(int pid)
{
    char *path = xasprintf("/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) return xstrdup("");
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\0') text[i] = ' ';
    text[n] = '\0';
    return xstrdup(text);
}

/* The children of pid (up to max) from /proc; returns their count. */
static int children(int pid, int *out, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        int child = atoi(e->d_name);
        if (child <= 0) continue;
        char *path = xasprintf("/proc/%d/stat", child);
        FILE *f = fopen(path, "r");
        free(path);
        if (!f) continue;
        char stat[1024];
        size_t len = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[len] = '\0';
        const char *close = strrchr(stat, ')'); /* the name may hold spaces */
        int ppid = 0;
        if (close && sscanf(close + 1, " %*c %d", &ppid) == 1 && ppid == pid) out[n++] = child;
    }
    if (d) closedir(d);
    return n;
}

static void assert_no_password(const char *text)
{
    if (strstr(text, PASSWORD) || strstr(text, WRONG))
        fail_msg("a password leaked into:\n%s", text);
}

static void test_password_appears_nowhere(void **state)
{
    (void)state;
    const char *admin = harness_db("secrets", 0);
    if (!admin) skip();
    PGconn *owner = harness_connect(admin);
    /* The login with a known password (set as a SCRAM verifier: the server never sees it). */
    char *verifier = PQencryptPasswordConn(owner, PASSWORD, USER, "scram-sha-256");
    assert_non_null(verifier);
    if (harness_query_int(owner, "SELECT count(*) FROM pg_roles WHERE rolname = '" USER "'") == 0)
        harness_exec(owner, "CREATE ROLE " USER " LOGIN REPLICATION");
    char *sql = xasprintf("ALTER ROLE " USER " PASSWORD '%s'", verifier);
    harness_exec(owner, sql);
    free(sql);
    PQfreemem(verifier);
    harness_exec(owner, "ALTER DATABASE test_secrets OWNER TO " USER);
    char *port = xasprintf("%d", PQport(owner) ? atoi(PQport(owner)) : 5432);
    char *url = xasprintf("postgresql://" USER ":" PASSWORD "@127.0.0.1:%s/test_secrets", port);
    char *url_eq = xasprintf("--db=%s", url);
    char *kv = xasprintf("host=127.0.0.1 port=%s user=" USER " password='" PASSWORD
                         "' dbname=test_secrets",
                         port);
    char *wrong = xasprintf("postgresql://" USER ":" WRONG "@127.0.0.1:%s/test_secrets", port);
    char *nodb = xasprintf("postgresql://" USER ":" PASSWORD "@127.0.0.1:%s/no_such_db", port);
    char *bad = xasprintf("host=127.0.0.1 port=%s password=" PASSWORD " dbname", port);

    harness_out o = run("init", (const char *[]){"init", "--db", url, NULL});
    if (o.status != 0) fail_msg("init failed: %s", o.err);
    /* Said once: a password on the command line is visible to others. */
    assert_non_null(strstr(o.err, "a password on the command line can be seen by other users"));
    harness_out_free(&o);
    harness_exec(owner, "INSERT INTO robot (robot_id) VALUES (1)");
    char *csv = xasprintf("%s/secrets.csv", harness_tmpdir());
    harness_write_file(csv, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n"
                            "1,2026-01-01T00:00:00Z,1,2,3,4,5,6,7,8\n");
    o = run("ingest", (const char *[]){"ingest", url_eq, csv, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = run("gen", (const char *[]){"gen", "--db", kv, "--robots", "2", "--first-robot", "10",
                                    "--rows", "50", "--faults", "none", NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    setenv("PGPULSE_DB", url, 1);
    o = run("status (PGPULSE_DB)", (const char *[]){"status", NULL});
    unsetenv("PGPULSE_DB");
    assert_int_equal(o.status, 0);
    /* Nothing to warn about when the URL comes from the environment. */
    assert_null(strstr(o.err, "can be seen by other users"));
    harness_out_free(&o);

    /* Errors: wrong password, unknown database, malformed conninfo. */
    o = run("wrong password", (const char *[]){"status", "--db", wrong, NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "password authentication failed"));
    harness_out_free(&o);
    o = run("unknown database", (const char *[]){"ingest", "--db", nodb, csv, NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "no_such_db"));
    harness_out_free(&o);
    o = run("malformed", (const char *[]){"init", "--db", bad, NULL});
    assert_int_equal(o.status, 1);
    harness_out_free(&o);

    /* A running consumer's command line. */
    char *log = xasprintf("%s/secrets_live.log", harness_tmpdir());
    spawned[0] = harness_spawn(NULL, log, (const char *[]){"live", "--db", url, "--name",
                                                           "secrets_live", "--status-every", "0",
                                                           NULL});
    harness_wait_slot(owner, "secrets_live");
    char *cl = cmdline(spawned[0]);
    keep("live cmdline", cl);
    assert_non_null(strstr(cl, "--db postgresql://" USER ":***@127.0.0.1:"));
    free(cl);
    kill(spawned[0], SIGTERM);
    assert_int_equal(harness_wait(spawned[0], NULL), 0);
    spawned[0] = 0;
    char *text = harness_read_file(log);
    keep("live output", text);
    free(text);
    o = run("status", (const char *[]){"status", "--db", url, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "secrets_live "));
    harness_out_free(&o);
    o = run("slots", (const char *[]){"slots", "list", "--db", url, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = run("slots drop", (const char *[]){"slots", "drop", "secrets_live", "--db", url, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);

    /* run and the stages it starts. */
    char *runlog = xasprintf("%s/secrets_run.log", harness_tmpdir());
    spawned[1] = harness_spawn(NULL, runlog, (const char *[]){"run", "--listen", "127.0.0.1:0", "--db", url, "--robots",
                                                              "2", "--rate", "20", NULL});
    int kids[8], n = 0;
    for (int i = 0; i < 200 && n < 3; i++) {
        n = children(spawned[1], kids, 8);
        if (n < 3) util_sleep_ms(50);
    }
    assert_int_equal(n, 3); /* the consumer "pipeline" (live and detect), the simulator, serve */
    /* The children are past their start once the consumer streams (bounded: only a failure
     * waits the whole minute). */
    for (int i = 0; i < 1200; i++) {
        char *t = harness_read_file(runlog);
        int up = strstr(t, "[pipeline] pgpulse pipeline: streaming from slot") != NULL;
        free(t);
        if (up) break;
        util_sleep_ms(50);
    }
    cl = cmdline(spawned[1]);
    keep("run cmdline", cl);
    assert_non_null(strstr(cl, ":***@"));
    free(cl);
    for (int i = 0; i < n; i++) {
        cl = cmdline(kids[i]);
        keep("run child cmdline", cl);
        assert_null(strstr(cl, "--db")); /* the URL travels in PGPULSE_DB */
        free(cl);
    }
    kill(spawned[1], SIGINT);
    assert_int_equal(harness_wait(spawned[1], NULL), 0);
    spawned[1] = 0;
    text = harness_read_file(runlog);
    keep("run output", text);
    assert_non_null(strstr(text, "database: postgresql://" USER ":***@127.0.0.1:"));
    assert_non_null(strstr(text, "[pipeline] pgpulse pipeline: streaming from slot"));
    free(text);
    o = run("slots drop", (const char *[]){"slots", "drop", "pipeline", "--db", url, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);

    /* The server's log has no password either (failed logins are logged there). */
    char *pointer = xasprintf("%s/serverdir", getenv("PGPULSE_TEST_HOME"));
    char *serverdir = access(pointer, R_OK) == 0 ? harness_read_file(pointer)
                                                 : xstrdup(getenv("PGPULSE_TEST_HOME"));
    serverdir[strcspn(serverdir, "\n")] = '\0';
    char *serverlog = xasprintf("%s/postgresql.log", serverdir);
    free(serverdir);
    free(pointer);
    if (access(serverlog, R_OK) == 0) {
        text = harness_read_file(serverlog);
        assert_no_password(text);
        free(text);
    }
    free(serverlog);

    assert_no_password(seen);
    /* What was collected is what the commands said: the check above can fail. */
    assert_non_null(strstr(seen, "password authentication failed for user \"" USER "\""));
    assert_non_null(strstr(seen, "live cmdline"));

    PQfinish(owner);
    free(runlog);
    free(log);
    free(csv);
    free(bad);
    free(nodb);
    free(wrong);
    free(kv);
    free(url_eq);
    free(url);
    free(port);
    free(seen);
    seen = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_password_appears_nowhere, kill_spawned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
