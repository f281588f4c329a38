/* pgcluster: create, start, stop and describe the private PostgreSQL cluster.
 *
 * Everything is done with the server's own tools (initdb, pg_ctl) run as child processes;
 * their output goes to HOME/postgresql.log so that a failure message can point at it. The
 * certificates are made in pgcluster_tls.c, the logins in pgcluster_logins.c. */
#include "pgcluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgcluster_citus.h"
#include "pgcluster_private.h"
#include "util.h"

#define PGCLUSTER_SERVER_USER "postgres" /* system user the server runs as when we are root */
#define PGCLUSTER_SUN_PATH_MAX 107       /* sizeof(sockaddr_un.sun_path) - 1 on Linux */

static int pgcluster_is_file(const char *path, int mode)
{
    return access(path, mode) == 0;
}

/* Finds the directory of the server binaries. */
static char *pgcluster_find_bindir(void)
{
    const char *env = getenv("PGPULSE_PG_BINDIR");
    if (env && *env) return xstrdup(env);

    FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
    if (p) {
        char line[4096];
        char *got = fgets(line, sizeof line, p);
        pclose(p);
        if (got) {
            line[strcspn(line, "\n")] = '\0';
            char *initdb = xasprintf("%s/initdb", line);
            int ok = pgcluster_is_file(initdb, X_OK);
            free(initdb);
            if (ok) return xstrdup(line);
        }
    }

    /* Debian keeps each major version in /usr/lib/postgresql/N/bin: take the newest. */
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d) return NULL;
    int best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || v <= best) continue;
        char *initdb = xasprintf("/usr/lib/postgresql/%ld/bin/initdb", v);
        if (pgcluster_is_file(initdb, X_OK)) best = (int)v;
        free(initdb);
    }
    closedir(d);
    return best < 0 ? NULL : xasprintf("/usr/lib/postgresql/%d/bin", best);
}

static char *pgcluster_abs_path(const char *path)
{
    if (path[0] == '/') return xstrdup(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return xstrdup(path);
    const char *rel = path;
    if (rel[0] == '.' && rel[1] == '/') rel += 2;
    return xasprintf("%s/%s", cwd, rel);
}

static int pgcluster_read_port(const pgcluster *c)
{
    char *path = xasprintf("%s/port", c->home);
    FILE *f = fopen(path, "r");
    free(path);
    int port = 0;
    if (f) {
        if (fscanf(f, "%d", &port) != 1 || port <= 0 || port > 65535) port = 0;
        fclose(f);
    }
    return port;
}

/* The first line of HOME/name, newly allocated, or NULL if there is none. */
static char *pgcluster_read_setting(const char *home, const char *name)
{
    char *path = xasprintf("%s/%s", home, name);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) return NULL;
    char line[4096];
    char *v = NULL;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) v = xstrdup(line);
    }
    fclose(f);
    return v;
}

/* The server directory recorded in HOME/serverdir, or NULL when the server's files are in
 * HOME itself. */
static char *pgcluster_read_serverdir(const char *home)
{
    char *dir = pgcluster_read_setting(home, "serverdir");
    if (dir && dir[0] != '/') {
        free(dir);
        dir = NULL;
    }
    return dir;
}

/* Points the server's paths at dir (which becomes c->serverdir). */
static void pgcluster_set_serverdir(pgcluster *c, const char *dir)
{
    char *d = xstrdup(dir);
    free(c->datadir);
    free(c->rundir);
    free(c->logfile);
    free(c->server_tlsdir);
    c->datadir = xasprintf("%s/data", d);
    c->rundir = xasprintf("%s/run", d);
    c->logfile = xasprintf("%s/postgresql.log", d);
    c->server_tlsdir = xasprintf("%s/tls", d);
    free(c->server_passfile);
    c->server_passfile = xasprintf("%s/pgpass.server", d);
    free(c->serverdir);
    c->serverdir = d;
}

pgcluster *pgcluster_open(const char *home, char *err, size_t errlen)
{
    if (!home || !*home) home = getenv("PGPULSE_HOME");
    if (!home || !*home) home = ".pgpulse";
    char *bindir = pgcluster_find_bindir();
    if (!bindir) {
        util_err(err, errlen,
                 "no PostgreSQL server found (looked at $PGPULSE_PG_BINDIR, pg_config --bindir and "
                 "/usr/lib/postgresql/*/bin); run `make deps` to install it");
        return NULL;
    }
    pgcluster *c = xcalloc(1, sizeof *c);
    c->home = pgcluster_abs_path(home);
    size_t n = strlen(c->home);
    while (n > 1 && c->home[n - 1] == '/') c->home[--n] = '\0';
    c->serverdir = pgcluster_read_serverdir(c->home);
    pgcluster_set_serverdir(c, c->serverdir ? c->serverdir : c->home);
    c->passfile = xasprintf("%s/pgpass", c->home);
    c->bindir = bindir;
    c->port = pgcluster_read_port(c);
    c->tlsdir = xasprintf("%s/tls", c->home);
    char *ca = xasprintf("%s/ca.crt", c->tlsdir);
    c->tls = pgcluster_is_file(ca, R_OK);
    free(ca);
    c->slot_wal_limit = pgcluster_read_setting(c->home, "slot_wal_limit");
    if (!c->slot_wal_limit) c->slot_wal_limit = xstrdup(PGCLUSTER_SLOT_WAL_DEFAULT);
    char *citus = pgcluster_read_setting(c->home, "citus");
    if (citus) {
        c->citus_workers = atoi(citus);
        c->citus = c->citus_workers > 0;
        free(citus);
    }
    return c;
}

void pgcluster_free(pgcluster *c)
{
    if (!c) return;
    free(c->home);
    free(c->serverdir);
    free(c->datadir);
    free(c->rundir);
    free(c->logfile);
    free(c->passfile);
    free(c->bindir);
    free(c->tlsdir);
    free(c->server_tlsdir);
    free(c->slot_wal_limit);
    free(c->server_passfile);
    free(c);
}

void pgcluster_want_tls(pgcluster *c)
{
    c->tls = 1;
}

int pgcluster_set_slot_wal_limit(pgcluster *c, const char *size, char *err, size_t errlen)
{
    /* A number of MB (at most PostgreSQL's INT_MAX) with an optional unit, or -1. */
    static const struct {
        const char *unit;
        double mb;
    } units[] = {{"", 1}, {"kB", 1.0 / 1024}, {"MB", 1}, {"GB", 1024}, {"TB", 1024 * 1024}};
    int ok = !strcmp(size, "-1");
    if (!ok) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(size, &end, 10);
        int digits = end != size && size[0] >= '0' && size[0] <= '9';
        for (size_t i = 0; digits && !errno && i < UTIL_ARRAY_LEN(units); i++)
            if (!strcmp(end, units[i].unit) && (double)v * units[i].mb <= 2147483647.0) ok = 1;
    }
    if (!ok)
        return util_err(err, errlen,
                        "--slot-wal-limit: expected a size such as 4GB or 512MB (kB, MB, GB, TB; "
                        "no unit: MB), or -1 for no limit; got '%s'",
                        size);
    free(c->slot_wal_limit);
    c->slot_wal_limit = xstrdup(size);
    return 0;
}

int pgcluster_role_parse(const char *name, pgcluster_role *role)
{
    static const char *const names[] = {"owner", "writer", "stage", "reader"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(names); i++)
        if (!strcmp(name, names[i])) {
            *role = (pgcluster_role)i;
            return 0;
        }
    return -1;
}

const char *pgcluster_login(pgcluster_role role)
{
    switch (role) {
    case PGCLUSTER_WRITER: return "pgpulse_ingest";
    case PGCLUSTER_STAGE: return "pgpulse_stages";
    case PGCLUSTER_READER: return "pgpulse_web";
    case PGCLUSTER_OWNER: break;
    }
    return PGCLUSTER_USER;
}

int pgcluster_server_ids(uid_t *uid, gid_t *gid)
{
    *uid = geteuid();
    *gid = getegid();
    if (*uid != 0) return 0;
    struct passwd *pw = getpwnam(PGCLUSTER_SERVER_USER);
    if (!pw) return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int pgcluster_exec(const pgcluster *c, char *const argv[], int as_server)
{
    uid_t uid = geteuid(), luid;
    gid_t gid = getegid(), lgid;
    if (pgcluster_server_ids(&luid, &lgid) != 0) return -1;
    if (as_server) {
        uid = luid;
        gid = lgid;
    }
    /* The log belongs to the server user, whoever writes to it. */
    int logfd = open(c->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logfd < 0) return -1;
    if (fchown(logfd, luid, lgid) != 0 && geteuid() == 0) {
        close(logfd);
        return -1;
    }
    /* The server user's own home: libpq in the server (a Citus node connecting to another)
     * looks for client certificates in ~/.postgresql, and the caller's may be closed to it. */
    struct passwd *spw = as_server && geteuid() == 0 && uid != 0 ? getpwuid(uid) : NULL;
    char *server_home = spw && spw->pw_dir ? xstrdup(spw->pw_dir) : NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        free(server_home);
        return -1;
    }
    if (pid == 0) {
        if (geteuid() == 0 && uid != 0) {
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
        }
        umask(077);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        /* initdb and pg_ctl must not inherit a cwd the server user cannot enter. */
        if (chdir(c->home) != 0 && chdir("/") != 0) _exit(126);
        /* A libpq environment meant for another server must not leak into the tools. */
        unsetenv("PGDATA");
        unsetenv("PGPORT");
        unsetenv("PGHOST");
        /* A Citus node's own connections to the others log in with the server's passfile. */
        if (c->citus) setenv("PGPASSFILE", c->server_passfile, 1);
        if (server_home) setenv("HOME", server_home, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(logfd);
    free(server_home);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pgcluster_state pgcluster_get_state(pgcluster *c)
{
    char *ver = xasprintf("%s/PG_VERSION", c->datadir);
    int exists = pgcluster_is_file(ver, F_OK);
    free(ver);
    if (!exists) return PGCLUSTER_ABSENT;
    char *pgctl = xasprintf("%s/pg_ctl", c->bindir);
    char *argv[] = {pgctl, "status", "-D", c->datadir, NULL};
    int rc = pgcluster_exec(c, argv, 1);
    free(pgctl);
    return rc == 0 ? PGCLUSTER_RUNNING : PGCLUSTER_STOPPED;
}

/* Makes dir (mode) owned by uid/gid if it does not exist yet. */
static int pgcluster_mkdir(const char *dir, mode_t mode, uid_t uid, gid_t gid, char *err,
                           size_t errlen)
{
    if (mkdir(dir, mode) != 0 && errno != EEXIST)
        return util_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    if (geteuid() == 0 && chown(dir, uid, gid) != 0)
        return util_err(err, errlen, "cannot chown %s: %s", dir, strerror(errno));
    return 0;
}

/* True if the server could listen on port. SO_REUSEADDR as the server sets it: connections
 * of a server that just stopped linger in TIME_WAIT and must not push it to another port. */
static int pgcluster_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Asks the kernel for a free loopback port. */
static int pgcluster_pick_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int pgcluster_write_file(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid,
                         char *err, size_t errlen)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        util_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t len = strlen(text);
    int rc = 0;
    if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) != 0 ||
        (geteuid() == 0 && fchown(fd, uid, gid) != 0))
        rc = util_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0) rc = util_err(err, errlen, "cannot write %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = util_err(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
    free(tmp);
    return rc;
}

/* True if the server user can reach and write dir (it cannot under root's 0700 home). */
static int pgcluster_reachable(const char *dir, uid_t uid, gid_t gid)
{
    if (geteuid() != 0) return 1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(2);
        _exit(access(dir, R_OK | W_OK | X_OK) == 0 ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* When the server user cannot reach HOME, moves the server's files to
 * /var/lib/pgpulse/<hash of HOME> and records that in HOME/serverdir. */
static int pgcluster_relocate(pgcluster *c, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a of HOME */
    for (const char *p = c->home; *p; p++) h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    char *dir = xasprintf("/var/lib/pgpulse/%016llx", (unsigned long long)h);
    rmdir(c->datadir); /* the empty one just made in HOME */
    int rc = 0;
    if ((mkdir("/var/lib/pgpulse", 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST))
        rc = util_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    char *note = xasprintf("%s\n", dir);
    char *path = xasprintf("%s/serverdir", c->home);
    if (rc == 0) rc = pgcluster_write_file(path, note, 0644, geteuid(), getegid(), err, errlen);
    free(path);
    free(note);
    if (rc == 0) {
        fprintf(stderr, "pgpulse: the '%s' user cannot reach %s; the server's files go to %s\n",
                PGCLUSTER_SERVER_USER, c->home, dir);
        pgcluster_set_serverdir(c, dir);
        rc = pgcluster_mkdir(c->datadir, 0700, uid, gid, err, errlen);
    }
    free(dir);
    return rc;
}

static int pgcluster_initdb(pgcluster *c, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    fprintf(stderr, "pgpulse: creating a private PostgreSQL cluster in %s\n", c->home);
    if (pgcluster_mkdir(c->datadir, 0700, uid, gid, err, errlen) != 0) return -1;
    if (!pgcluster_reachable(c->datadir, uid, gid) &&
        pgcluster_relocate(c, uid, gid, err, errlen) != 0)
        return -1;
    if (!pgcluster_reachable(c->datadir, uid, gid))
        return util_err(err, errlen,
                        "PostgreSQL refuses to run as root, so the private cluster runs as the "
                        "'%s' user, who cannot reach %s; set PGPULSE_HOME to a directory it can "
                        "reach (for example /var/tmp/pgpulse)",
                        PGCLUSTER_SERVER_USER, c->datadir);

    /* A Citus worker shares the coordinator's password file: its superuser gets the password
     * already there, so one file logs in to every node. */
    char *known = pgcluster_pgpass_password(c, PGCLUSTER_USER);
    char password[33];
    if (known && strlen(known) < sizeof password) {
        snprintf(password, sizeof password, "%s", known);
    } else {
        uint8_t rnd[16];
        util_random_bytes(rnd, sizeof rnd);
        for (size_t i = 0; i < sizeof rnd; i++) snprintf(password + 2 * i, 3, "%02x", rnd[i]);
        free(known);
        known = NULL;
    }
    int reuse = known != NULL;
    free(known);

    /* The password reaches initdb through a file only the server user can read. */
    char *pwfile = xasprintf("%s/.initdb-pw", c->serverdir);
    char *pwline = xasprintf("%s\n", password);
    int rc = pgcluster_write_file(pwfile, pwline, 0600, uid, gid, err, errlen);
    free(pwline);
    if (rc != 0) {
        free(pwfile);
        return -1;
    }
    char *initdb = xasprintf("%s/initdb", c->bindir);
    char *pwopt = xasprintf("--pwfile=%s", pwfile);
    char *argv[] = {initdb,          "-D",      c->datadir, "-U",           PGCLUSTER_USER,
                    "-E",            "UTF8",    "--locale=C", "--auth-local=trust",
                    "--auth-host=scram-sha-256", pwopt, "--no-instructions", NULL};
    rc = pgcluster_exec(c, argv, 1);
    unlink(pwfile);
    free(pwfile);
    free(pwopt);
    free(initdb);
    if (rc != 0)
        return util_err(err, errlen, "initdb failed (exit %d); see %s", rc, c->logfile);

    /* The client's password file belongs to the calling user, not to the server. */
    if (!reuse) {
        char *pass = xasprintf("127.0.0.1:*:*:%s:%s\nlocalhost:*:*:%s:%s\n", PGCLUSTER_USER,
                               password, PGCLUSTER_USER, password);
        rc = pgcluster_write_file(c->passfile, pass, 0600, geteuid(), getegid(), err, errlen);
        free(pass);
        if (rc != 0) return -1;
    }

    char *conf = xasprintf("%s/postgresql.conf", c->datadir);
    FILE *f = fopen(conf, "a");
    if (!f) {
        util_err(err, errlen, "cannot append to %s: %s", conf, strerror(errno));
        free(conf);
        return -1;
    }
    fprintf(f, "\n# pgpulse's settings for its private cluster\ninclude = 'pgpulse.conf'\n");
    fclose(f);
    free(conf);
    return 0;
}

/* Writes text to path unless it already holds exactly that. Returns 1 if it wrote, 0 if
 * nothing changed, -1 with a message on error. */
static int pgcluster_update_file(const char *path, const char *text, mode_t mode, uid_t uid,
                                 gid_t gid, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f) {
        size_t len = strlen(text);
        char *old = xmalloc(len + 2);
        size_t n = fread(old, 1, len + 1, f);
        fclose(f);
        int same = n == len && memcmp(old, text, len) == 0;
        free(old);
        if (same) return 0;
    }
    return pgcluster_write_file(path, text, mode, uid, gid, err, errlen) == 0 ? 1 : -1;
}

/* Writes the settings file read at every start (the port may change between starts) and the
 * authentication rules. Returns 1 if either changed, 0 if not, -1 on error. */
static int pgcluster_write_conf(const pgcluster *c, uid_t uid, gid_t gid, char *err,
                                size_t errlen)
{
    /* A socket path longer than sun_path cannot be used: fall back to TCP only. */
    int socket_ok = strlen(c->rundir) + strlen("/.s.PGSQL.65535") <= PGCLUSTER_SUN_PATH_MAX;
    char *ssl = c->tls ? xasprintf("ssl = on\n"
                                   "ssl_cert_file = '%s/server.crt'\n"
                                   "ssl_key_file = '%s/server.key'\n"
                                   "ssl_min_protocol_version = 'TLSv1.2'\n",
                                   c->server_tlsdir, c->server_tlsdir)
                       : xstrdup("ssl = off\n");
    char *citus = c->citus ? pgcluster_citus_conf(c) : NULL;
    char *text = xasprintf("# Written by pgpulse at every start; edits are overwritten.\n"
                           "listen_addresses = '127.0.0.1'\n"
                           "port = %d\n"
                           "unix_socket_directories = '%s'\n"
                           "unix_socket_permissions = 0700\n"
                           "wal_level = logical\n"
                           "max_wal_senders = 32\n"
                           "max_replication_slots = 32\n"
                           "max_slot_wal_keep_size = '%s'\n"
                           "max_connections = 200\n"
                           "shared_buffers = 256MB\n"
                           "max_wal_size = 4GB\n"
                           "timezone = 'UTC'\n"
                           "log_timezone = 'UTC'\n"
                           "log_min_messages = warning\n"
                           "log_line_prefix = '%%m [%%p] '\n"
                           "%s%s",
                           c->port, socket_ok ? c->rundir : "", c->slot_wal_limit, ssl,
                           citus ? citus : "");
    free(ssl);
    free(citus);
    char *path = xasprintf("%s/pgpulse.conf", c->datadir);
    int conf = pgcluster_update_file(path, text, 0600, uid, gid, err, errlen);
    free(path);
    free(text);
    if (conf < 0) return -1;
    /* The unix socket (mode 0700, the server user's) trusts its peers; TCP asks for the
     * password, and with TLS only over TLS. */
    const char *host = c->tls ? "hostssl" : "host   ";
    text = xasprintf("# Written by pgpulse at every start; edits are overwritten.\n"
                     "# TYPE    DATABASE     USER  ADDRESS       METHOD\n"
                     "local     all          all                 trust\n"
                     "local     replication  all                 trust\n"
                     "%s   all          all   127.0.0.1/32  scram-sha-256\n"
                     "%s   replication  all   127.0.0.1/32  scram-sha-256\n"
                     "%s",
                     host, host,
                     c->tls ? "hostnossl all          all   0.0.0.0/0     reject\n"
                              "hostnossl replication  all   0.0.0.0/0     reject\n"
                            : "");
    path = xasprintf("%s/pg_hba.conf", c->datadir);
    int hba = pgcluster_update_file(path, text, 0600, uid, gid, err, errlen);
    free(path);
    free(text);
    if (hba < 0) return -1;
    return conf || hba;
}

/* Records the port and the slot WAL limit in HOME for later starts and for clients. */
static int pgcluster_save_settings(const pgcluster *c, char *err, size_t errlen)
{
    char *path = xasprintf("%s/port", c->home);
    char *text = xasprintf("%d\n", c->port);
    int rc = pgcluster_write_file(path, text, 0644, geteuid(), getegid(), err, errlen);
    free(text);
    free(path);
    if (rc != 0) return rc;
    path = xasprintf("%s/slot_wal_limit", c->home);
    text = xasprintf("%s\n", c->slot_wal_limit);
    rc = pgcluster_update_file(path, text, 0644, geteuid(), getegid(), err, errlen) < 0 ? -1 : 0;
    free(text);
    free(path);
    return rc;
}

PGconn *pgcluster_connect_admin(const pgcluster *c, const char *dbname, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    char *ca = xasprintf("%s/ca.crt", c->tlsdir);
    const char *kw[] = {"host",     "port",    "user",        "dbname",     "passfile",
                        "connect_timeout", "sslmode", "sslrootcert", NULL};
    const char *val[] = {"127.0.0.1", port, PGCLUSTER_USER, dbname, c->passfile, "10",
                         c->tls ? "verify-full" : "prefer", c->tls ? ca : NULL, NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 0);
    free(ca);
    if (PQstatus(conn) != CONNECTION_OK) {
        util_err(err, errlen, "cannot connect to the private cluster: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Creates the pgpulse database once the server runs. */
static int pgcluster_create_db(const pgcluster *c, char *err, size_t errlen)
{
    PGconn *conn = pgcluster_connect_admin(c, "postgres", err, errlen);
    if (!conn) return -1;
    int rc = 0;
    PGresult *r = PQexecParams(conn, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
                               (const char *[]){PGCLUSTER_DBNAME}, NULL, NULL, 0);
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!exists) {
        r = PQexec(conn, "CREATE DATABASE " PGCLUSTER_DBNAME);
        /* Another process may have created it a moment ago (42P04 duplicate_database). */
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !(state && strcmp(state, "42P04") == 0))
            rc = util_err(err, errlen, "CREATE DATABASE failed: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(conn);
    return rc;
}

/* Makes the running server read its settings again, and waits (up to 10 s) until a new
 * session sees them: pg_ctl reload only signals the server. */
static int pgcluster_reload(const pgcluster *c, char *err, size_t errlen)
{
    int64_t asked = util_now_us();
    char *pgctl = xasprintf("%s/pg_ctl", c->bindir);
    char *argv[] = {pgctl, "reload", "-D", c->datadir, NULL};
    int rc = pgcluster_exec(c, argv, 1);
    free(pgctl);
    if (rc != 0)
        return util_err(err, errlen, "pg_ctl reload failed (exit %d); see %s", rc, c->logfile);
    /* Connecting may fail until then (TLS just turned on): keep trying. */
    for (int64_t deadline = util_mono_us() + 10000000;;) {
        PGconn *conn = pgcluster_connect_admin(c, "postgres", err, errlen);
        int done = 0;
        if (conn) {
            PGresult *r = PQexec(conn, "SELECT (extract(epoch FROM pg_conf_load_time()) * "
                                       "1000000)::bigint");
            done = PQresultStatus(r) == PGRES_TUPLES_OK &&
                   strtoll(PQgetvalue(r, 0, 0), NULL, 10) >= asked;
            PQclear(r);
            PQfinish(conn);
        }
        if (done) return 0;
        if (util_mono_us() > deadline)
            return util_err(err, errlen, "the private PostgreSQL did not take its new settings "
                            "within 10 s; see %s", c->logfile);
        util_sleep_ms(50);
    }
}

/* Holds an exclusive lock on HOME/lock so that concurrent starts and stops take turns. */
static int pgcluster_lock(const pgcluster *c, char *err, size_t errlen)
{
    if (mkdir(c->home, 0755) != 0 && errno != EEXIST)
        return util_err(err, errlen, "cannot create %s: %s", c->home, strerror(errno));
    char *path = xasprintf("%s/lock", c->home);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0) return util_err(err, errlen, "cannot open %s/lock: %s", c->home, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return util_err(err, errlen, "cannot lock %s/lock: %s", c->home, strerror(errno));
        }
    }
    return fd;
}

/* Runs pg_ctl action (start, restart) on the server and waits until it accepts connections. */
static int pgcluster_pgctl_up(const pgcluster *c, const char *action, char *err, size_t errlen)
{
    char *pgctl = xasprintf("%s/pg_ctl", c->bindir);
    char *start[] = {pgctl, "start", "-w", "-t", "120", "-D", c->datadir, "-l", c->logfile, NULL};
    char *restart[] = {pgctl,      "restart", "-w", "-t",       "120", "-m", "fast",
                       "-D",       c->datadir, "-l", c->logfile, NULL};
    char **argv = strcmp(action, "start") ? restart : start;
    int rc = pgcluster_exec(c, argv, 1);
    free(pgctl);
    if (rc != 0)
        return util_err(err, errlen, "the private PostgreSQL did not %s (pg_ctl exit %d); see %s",
                        action, rc, c->logfile);
    return 0;
}

/* Starts the one server of c; the caller holds c's lock. */
static int pgcluster_start_locked(pgcluster *c, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    pgcluster_state st = pgcluster_get_state(c);
    if (st == PGCLUSTER_RUNNING) {
        /* Settings that changed (TLS asked for, a new slot WAL limit) take effect by a reload;
         * the port stays. Citus newly asked for must be loaded: a restart. */
        c->port = pgcluster_read_port(c);
        if (c->tls && pgcluster_tls_make(c, uid, gid, err, errlen) != 0) return -1;
        int changed = pgcluster_write_conf(c, uid, gid, err, errlen);
        if (changed < 0 || pgcluster_save_settings(c, err, errlen) != 0) return -1;
        if (c->citus && pgcluster_citus_write_passfile(c, uid, gid, err, errlen) != 0) return -1;
        if (changed) {
            int loaded = c->citus ? pgcluster_citus_loaded(c, err, errlen) : 1;
            if (loaded < 0) return -1;
            if (loaded ? pgcluster_reload(c, err, errlen) != 0
                       : pgcluster_pgctl_up(c, "restart", err, errlen) != 0)
                return -1;
        }
    } else {
        if (st == PGCLUSTER_ABSENT && pgcluster_initdb(c, uid, gid, err, errlen) != 0) return -1;
        if (pgcluster_mkdir(c->rundir, 0700, uid, gid, err, errlen) != 0) return -1;
        if (c->tls && pgcluster_tls_make(c, uid, gid, err, errlen) != 0) return -1;

        c->port = pgcluster_read_port(c);
        if (c->port == 0 || !pgcluster_port_free(c->port)) c->port = pgcluster_pick_port();
        if (c->port == 0) return util_err(err, errlen, "cannot find a free TCP port on 127.0.0.1");
        if (pgcluster_write_conf(c, uid, gid, err, errlen) < 0) return -1;
        if (pgcluster_save_settings(c, err, errlen) != 0) return -1;
        if (c->citus && pgcluster_citus_write_passfile(c, uid, gid, err, errlen) != 0) return -1;
        if (pgcluster_pgctl_up(c, "start", err, errlen) != 0) return -1;
    }
    if (pgcluster_create_db(c, err, errlen) != 0) return -1;
    if (pgcluster_logins_ensure(c, err, errlen) != 0) return -1;
    /* The logins' passwords may be new: the server's copy follows. */
    if (c->citus && pgcluster_citus_write_passfile(c, uid, gid, err, errlen) != 0) return -1;
    return 0;
}

int pgcluster_start(pgcluster *c, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (pgcluster_server_ids(&uid, &gid) != 0)
        return util_err(err, errlen,
                        "PostgreSQL refuses to run as root and there is no '%s' user to run it "
                        "as; install the postgresql package (make deps) or run as another user",
                        PGCLUSTER_SERVER_USER);
    int lockfd = pgcluster_lock(c, err, errlen);
    if (lockfd < 0) return -1;
    int rc = 0;
    if (c->citus_workers > 0) rc = pgcluster_citus_record(c, err, errlen);
    if (rc == 0) rc = pgcluster_start_locked(c, uid, gid, err, errlen);
    /* The workers (each under its own lock) and Citus's setup, under the coordinator's. */
    if (rc == 0 && c->citus_workers > 0) rc = pgcluster_citus_start_workers(c, err, errlen);
    close(lockfd);
    return rc;
}

/* Stops the one server of c; the caller holds c's lock. */
static int pgcluster_stop_locked(pgcluster *c, char *err, size_t errlen)
{
    if (pgcluster_get_state(c) != PGCLUSTER_RUNNING) return 0;
    char *pgctl = xasprintf("%s/pg_ctl", c->bindir);
    char *argv[] = {pgctl, "stop", "-w", "-t", "60", "-m", "fast", "-D", c->datadir, NULL};
    int st = pgcluster_exec(c, argv, 1);
    free(pgctl);
    if (st != 0) return util_err(err, errlen, "pg_ctl stop failed (exit %d); see %s", st, c->logfile);
    return 0;
}

int pgcluster_stop(pgcluster *c, char *err, size_t errlen)
{
    int lockfd = pgcluster_lock(c, err, errlen);
    if (lockfd < 0) return -1;
    int rc = 0;
    /* Workers first: the coordinator's sessions then see them go, not the reverse. */
    for (int k = 1; k <= c->citus_workers; k++) {
        pgcluster *w = pgcluster_node(c, k, err, errlen);
        int wrc = w ? pgcluster_stop(w, err, errlen) : -1;
        pgcluster_free(w);
        if (wrc != 0) rc = -1;
    }
    if (pgcluster_stop_locked(c, err, errlen) != 0) rc = -1;
    close(lockfd);
    return rc;
}

int pgcluster_restart(pgcluster *c, char *err, size_t errlen)
{
    if (pgcluster_get_state(c) != PGCLUSTER_RUNNING) return pgcluster_start(c, err, errlen);
    int lockfd = pgcluster_lock(c, err, errlen);
    if (lockfd < 0) return -1;
    int rc = pgcluster_pgctl_up(c, "restart", err, errlen);
    close(lockfd);
    return rc;
}

/* Appends s to out percent-encoded as a URI query value. */
static void pgcluster_urlencode(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", ch);
        }
    }
    out[o] = '\0';
}

char *pgcluster_url_as(const pgcluster *c, pgcluster_role role)
{
    char pass[4096 * 3], ca[4096 * 3];
    pgcluster_urlencode(pass, sizeof pass, c->passfile);
    char *ca_path = xasprintf("%s/ca.crt", c->tlsdir);
    pgcluster_urlencode(ca, sizeof ca, ca_path);
    free(ca_path);
    return xasprintf("postgresql://%s@127.0.0.1:%d/%s?passfile=%s%s%s", pgcluster_login(role),
                     c->port, PGCLUSTER_DBNAME, pass,
                     c->tls ? "&sslmode=verify-full&sslrootcert=" : "", c->tls ? ca : "");
}

char *pgcluster_url(const pgcluster *c)
{
    return pgcluster_url_as(c, PGCLUSTER_OWNER);
}
