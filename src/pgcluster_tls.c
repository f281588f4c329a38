/* pgcluster_tls: the private cluster's certificates, made once with the openssl program.
 *
 * A CA of the cluster's own (HOME/tls/ca.crt and ca.key, valid 10 years) signs the server's
 * certificate (CN localhost; subjectAltName IP:127.0.0.1 and DNS:localhost, which is what
 * sslmode=verify-full checks a URL's host against). Keys are P-256, unencrypted, mode 0600;
 * nothing secret passes on a command line. The server's copy of its certificate and key sits
 * in SERVERDIR/tls, owned by the server user (PostgreSQL refuses a key others can read). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgcluster_private.h"
#include "util.h"

#define PGCLUSTER_TLS_DAYS "3650"

/* The openssl configuration: no prompts, the CA's and the server's extensions. */
static const char pgcluster_tls_cnf[] =
    "# Written by pgpulse to make the private cluster's certificates.\n"
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = pgpulse\n"
    "[ca]\n"
    "basicConstraints = critical, CA:TRUE, pathlen:0\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[server]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
    "authorityKeyIdentifier = keyid\n";

static int pgcluster_tls_exists(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    int ok = access(path, R_OK) == 0;
    free(path);
    return ok;
}

/* Runs one openssl step; a failure names the step and the log. */
static int pgcluster_tls_run(const pgcluster *c, char *const argv[], const char *what, char *err,
                             size_t errlen)
{
    int rc = pgcluster_exec(c, argv, 0);
    if (rc == 127)
        return util_err(err, errlen,
                        "cannot run openssl to make the TLS certificates: install it (make deps)");
    if (rc != 0)
        return util_err(err, errlen, "openssl failed to make %s (exit %d); see %s", what, rc,
                        c->logfile);
    return 0;
}

/* Copies src to dst (mode, owned by uid/gid). */
static int pgcluster_tls_copy(const char *src, const char *dst, mode_t mode, uid_t uid, gid_t gid,
                              char *err, size_t errlen)
{
    FILE *f = fopen(src, "r");
    if (!f) return util_err(err, errlen, "cannot read %s: %s", src, strerror(errno));
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int bad = ferror(f) || n == sizeof text - 1;
    fclose(f);
    if (bad) return util_err(err, errlen, "cannot read %s", src);
    text[n] = '\0';
    return pgcluster_write_file(dst, text, mode, uid, gid, err, errlen);
}

/* Makes the CA and the server's certificate in HOME/tls, as the caller. */
static int pgcluster_tls_generate(const pgcluster *c, char *err, size_t errlen)
{
    fprintf(stderr, "pgpulse: making a CA and a server certificate in %s\n", c->tlsdir);
    char *cnf = xasprintf("%s/openssl.cnf", c->tlsdir);
    char *ca_key = xasprintf("%s/ca.key", c->tlsdir), *ca_crt = xasprintf("%s/ca.crt", c->tlsdir);
    char *key = xasprintf("%s/server.key", c->tlsdir), *csr = xasprintf("%s/server.csr", c->tlsdir);
    char *crt = xasprintf("%s/server.crt", c->tlsdir);
    char *ca_subj = xasprintf("/CN=pgpulse private CA %016llx",
                              (unsigned long long)util_now_us());
    int rc = pgcluster_write_file(cnf, pgcluster_tls_cnf, 0644, geteuid(), getegid(), err, errlen);
    if (rc == 0) {
        char *argv[] = {"openssl", "req", "-config", cnf, "-x509", "-new", "-nodes", "-newkey",
                        "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", ca_key,
                        "-out", ca_crt, "-days", PGCLUSTER_TLS_DAYS, "-subj", ca_subj,
                        "-extensions", "ca", NULL};
        rc = pgcluster_tls_run(c, argv, "the CA", err, errlen);
    }
    if (rc == 0) {
        char *argv[] = {"openssl", "req", "-config", cnf, "-new", "-nodes", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", csr,
                        "-subj", "/CN=localhost", NULL};
        rc = pgcluster_tls_run(c, argv, "the server key", err, errlen);
    }
    if (rc == 0) {
        char *argv[] = {"openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                        "-CAcreateserial", "-out", crt, "-days", PGCLUSTER_TLS_DAYS, "-extfile",
                        cnf, "-extensions", "server", NULL};
        rc = pgcluster_tls_run(c, argv, "the server certificate", err, errlen);
    }
    /* Certificates are public; keys stay 0600 (the umask openssl ran with). */
    if (rc == 0 && (chmod(ca_crt, 0644) != 0 || chmod(crt, 0644) != 0))
        rc = util_err(err, errlen, "cannot chmod %s: %s", c->tlsdir, strerror(errno));
    unlink(csr);
    free(cnf);
    free(ca_key);
    free(ca_crt);
    free(key);
    free(csr);
    free(crt);
    free(ca_subj);
    return rc;
}

int pgcluster_tls_make(const pgcluster *c, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (mkdir(c->tlsdir, 0755) != 0 && errno != EEXIST)
        return util_err(err, errlen, "cannot create %s: %s", c->tlsdir, strerror(errno));
    if (!pgcluster_tls_exists(c->tlsdir, "ca.crt") || !pgcluster_tls_exists(c->tlsdir, "ca.key") ||
        !pgcluster_tls_exists(c->tlsdir, "server.crt") ||
        !pgcluster_tls_exists(c->tlsdir, "server.key")) {
        if (pgcluster_tls_generate(c, err, errlen) != 0) return -1;
    }
    /* The server's copy, owned by the server user. In HOME itself, the same files. */
    if (mkdir(c->server_tlsdir, 0755) != 0 && errno != EEXIST)
        return util_err(err, errlen, "cannot create %s: %s", c->server_tlsdir, strerror(errno));
    static const char *const files[] = {"server.crt", "server.key"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(files); i++) {
        char *src = xasprintf("%s/%s", c->tlsdir, files[i]);
        char *dst = xasprintf("%s/%s", c->server_tlsdir, files[i]);
        int rc = 0;
        if (strcmp(c->tlsdir, c->server_tlsdir) != 0)
            rc = pgcluster_tls_copy(src, dst, 0600, uid, gid, err, errlen);
        else if (geteuid() == 0 && chown(dst, uid, gid) != 0)
            rc = util_err(err, errlen, "cannot chown %s: %s", dst, strerror(errno));
        if (rc == 0 && chmod(dst, 0600) != 0)
            rc = util_err(err, errlen, "cannot chmod %s: %s", dst, strerror(errno));
        free(src);
        free(dst);
        if (rc != 0) return -1;
    }
    /* The CA too, for a Citus node's own connections to the others (citus.node_conninfo
     * verifies them against it); in HOME itself the server reads HOME/tls/ca.crt (0644). */
    if (strcmp(c->tlsdir, c->server_tlsdir) != 0) {
        char *src = xasprintf("%s/ca.crt", c->tlsdir);
        char *dst = xasprintf("%s/ca.crt", c->server_tlsdir);
        int rc = pgcluster_tls_copy(src, dst, 0644, uid, gid, err, errlen);
        free(src);
        free(dst);
        if (rc != 0) return -1;
    }
    return 0;
}
