/* Unit tests of pgcluster_citus's logic that needs no server: what HOME/citus makes of a
 * cluster, the nodes' paths and shared files, their settings, and the refusals of
 * pgcluster_want_citus. (Starting nodes is test_db_citus's.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgcluster.h"
#include "pgcluster_citus.h"
#include "pgcluster_private.h"
#include "util.h"

static char home[] = "/tmp/pgpulse-unit-citus-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", home, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(home) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", home);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static pgcluster *open_home(void)
{
    char err[256];
    pgcluster *c = pgcluster_open(home, err, sizeof err);
    if (!c) skip(); /* no PostgreSQL server binaries on this machine */
    return c;
}

static void test_plain_cluster_has_one_node(void **state)
{
    (void)state;
    char *path = xasprintf("%s/citus", home);
    unlink(path);
    free(path);
    pgcluster *c = open_home();
    assert_int_equal(c->citus, 0);
    assert_int_equal(c->citus_workers, 0);
    char err[256];
    pgcluster *n = pgcluster_node(c, 0, err, sizeof err);
    assert_non_null(n);
    assert_string_equal(n->home, c->home);
    pgcluster_free(n);
    assert_null(pgcluster_node(c, 1, err, sizeof err));
    assert_non_null(strstr(err, "no node 1"));
    assert_non_null(strstr(err, "no Citus"));
    pgcluster_free(c);
}

static void test_nodes_share_passfile_and_ca(void **state)
{
    (void)state;
    write_file("citus", "2\n");
    write_file("slot_wal_limit", "8GB\n");
    pgcluster *c = open_home();
    assert_int_equal(c->citus, 1);
    assert_int_equal(c->citus_workers, 2);
    assert_int_equal(c->node, 0);
    char err[256];
    for (int k = 1; k <= 2; k++) {
        pgcluster *w = pgcluster_node(c, k, err, sizeof err);
        assert_non_null(w);
        char *want = xasprintf("%s/worker%d", c->home, k);
        assert_string_equal(w->home, want);
        free(want);
        assert_int_equal(w->node, k);
        assert_int_equal(w->citus, 1);
        assert_int_equal(w->citus_workers, 0); /* a worker has no workers of its own */
        assert_string_equal(w->passfile, c->passfile);
        assert_string_equal(w->tlsdir, c->tlsdir);
        assert_string_equal(w->slot_wal_limit, "8GB");
        /* Its own data, log and server passfile. */
        assert_string_not_equal(w->datadir, c->datadir);
        assert_non_null(strstr(w->server_passfile, "/worker"));
        pgcluster_free(w);
    }
    assert_null(pgcluster_node(c, 3, err, sizeof err));
    assert_non_null(strstr(err, "nodes 0..2"));
    assert_null(pgcluster_node(c, -1, err, sizeof err));
    pgcluster_free(c);
}

static void test_want_citus_refusals(void **state)
{
    (void)state;
    write_file("citus", "2\n");
    pgcluster *c = open_home();
    char err[512];
    assert_int_equal(pgcluster_want_citus(c, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 1"));
    if (!pgcluster_citus_installed(c)) {
        assert_int_equal(pgcluster_want_citus(c, 2, err, sizeof err), -1);
        assert_non_null(strstr(err, "make deps-citus"));
    } else {
        assert_int_equal(pgcluster_want_citus(c, 1, err, sizeof err), -1);
        assert_non_null(strstr(err, "has 2 workers"));
        assert_int_equal(c->citus_workers, 2);
        assert_int_equal(pgcluster_want_citus(c, 3, err, sizeof err), 0);
        assert_int_equal(c->citus_workers, 3);
        assert_int_equal(c->citus, 1);
    }
    pgcluster_free(c);
}

/* A node's settings: citus preloaded, change capture on, and its connections to the other
 * nodes TLS-checked against the shared CA exactly when the cluster is TLS-only. */
static void test_conf(void **state)
{
    (void)state;
    write_file("citus", "1\n");
    pgcluster *c = open_home();
    char *conf = pgcluster_citus_conf(c);
    assert_non_null(strstr(conf, "shared_preload_libraries = 'citus'\n"));
    assert_non_null(strstr(conf, "citus.enable_change_data_capture = on\n"));
    assert_non_null(strstr(conf, "citus.node_conninfo = 'sslmode=prefer'\n"));
    free(conf);
    pgcluster_want_tls(c);
    conf = pgcluster_citus_conf(c);
    char *want = xasprintf("citus.node_conninfo = 'sslmode=verify-full sslrootcert=%s/ca.crt'\n",
                           c->server_tlsdir);
    assert_non_null(strstr(conf, want));
    free(want);
    free(conf);
    pgcluster_free(c);
}

/* A worker's URL names its own port with the coordinator's password file. */
static void test_worker_url(void **state)
{
    (void)state;
    write_file("citus", "1\n");
    pgcluster *c = open_home();
    char err[256];
    pgcluster *w = pgcluster_node(c, 1, err, sizeof err);
    assert_non_null(w);
    w->port = 5999;
    char *url = pgcluster_url_as(w, PGCLUSTER_STAGE);
    assert_non_null(strstr(url, "postgresql://pgpulse_stages@127.0.0.1:5999/pgpulse?passfile="));
    assert_null(strstr(url, "worker1")); /* the coordinator's HOME/pgpass */
    free(url);
    pgcluster_free(w);
    pgcluster_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_cluster_has_one_node),
        cmocka_unit_test(test_nodes_share_passfile_and_ca),
        cmocka_unit_test(test_want_citus_refusals),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_worker_url),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
