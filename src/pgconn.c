/* pgconn: database resolution, connection with backoff, result helpers, and keeping passwords
 * out of what pgpulse prints and of its command line. */
#include "pgconn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgcluster.h"
#include "util.h"

static int pgconn_libpq_env_set(void)
{
    static const char *const vars[] = {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE",
                                       "PGUSER", "PGSERVICE",  "PGSSLMODE"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(vars); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

char *pgconn_resolve(const char *db_flag, char *err, size_t errlen)
{
    if (db_flag && *db_flag) return xstrdup(db_flag);
    const char *env = getenv("PGPULSE_DB");
    if (env && *env) return xstrdup(env);
    if (pgconn_libpq_env_set()) return xstrdup("");

    pgcluster *c = pgcluster_open(NULL, err, errlen);
    if (!c) return NULL;
    char *url = NULL;
    switch (pgcluster_get_state(c)) {
    case PGCLUSTER_ABSENT:
        util_err(err, errlen,
                 "no database configured: pass --db URL, set PGPULSE_DB or the PG* variables, "
                 "or create a private one with `pgpulse db start` (none in %s)",
                 c->home);
        break;
    case PGCLUSTER_STOPPED:
        if (pgcluster_start(c, err, errlen) == 0) url = pgcluster_url(c);
        break;
    case PGCLUSTER_RUNNING:
        url = pgcluster_url(c);
        break;
    }
    pgcluster_free(c);
    return url;
}

char *pgconn_describe(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return xstrdup("(unparsable connection string)");
    }
    const char *host = NULL, *port = NULL, *db = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val) continue;
        if (!strcmp(o->keyword, "host")) host = o->val;
        if (!strcmp(o->keyword, "port")) port = o->val;
        if (!strcmp(o->keyword, "dbname")) db = o->val;
    }
    if (!host) host = getenv("PGHOST");
    if (!port) port = getenv("PGPORT");
    if (!db) db = getenv("PGDATABASE");
    char *s = xasprintf("%s:%s/%s", host ? host : "(default host)", port ? port : "5432",
                        db ? db : "(default database)");
    PQconninfoFree(opts);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Secrets in connection strings */

#define PGCONN_MASK "***"
#define PGCONN_REDACT_MIN 4 /* shorter secrets are not searched for in messages */

typedef struct pgconn_span {
    size_t at;  /* offset of a secret value in the string */
    size_t len; /* its length (for a quoted value: with its quotes) */
} pgconn_span;

static int pgconn_is_word(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* Length of the keyword password or sslpassword at s[i] followed by '=' (spaces around it
 * allowed outside a URI): the offset of the value from i, or 0 if there is none. */
static size_t pgconn_secret_key(const char *s, size_t i, int in_uri)
{
    static const char *const keys[] = {"sslpassword", "password"};
    if (i > 0 && pgconn_is_word(s[i - 1])) return 0;
    for (size_t k = 0; k < UTIL_ARRAY_LEN(keys); k++) {
        size_t n = strlen(keys[k]);
        if (strncmp(s + i, keys[k], n) != 0) continue;
        size_t j = i + n;
        while (!in_uri && (s[j] == ' ' || s[j] == '\t')) j++;
        if (s[j] != '=') return 0;
        j++;
        while (!in_uri && (s[j] == ' ' || s[j] == '\t')) j++;
        return j - i;
    }
    return 0;
}

/* The end of a value starting at s[j]: a quoted one (key=value form) ends after its closing
 * quote (backslash escapes), an unquoted one at white space (and, in a URI, at '&' or '#'). */
static size_t pgconn_value_end(const char *s, size_t j, int in_uri)
{
    if (!in_uri && s[j] == '\'') {
        for (j++; s[j] && s[j] != '\''; j++)
            if (s[j] == '\\' && s[j + 1]) j++;
        return s[j] ? j + 1 : j;
    }
    while (s[j] && !isspace((unsigned char)s[j]) && !(in_uri && (s[j] == '&' || s[j] == '#')))
        j++;
    return j;
}

/* Finds the secrets of s (see pgconn_mask): returns them in order (newly allocated, the
 * caller frees) and their count in *count. */
static pgconn_span *pgconn_secrets(const char *s, size_t *count)
{
    /* Every secret takes at least four characters of s ("p:x@", "password=x"). */
    pgconn_span *spans = xcalloc(strlen(s) / 4 + 1, sizeof *spans);
    size_t n = 0;
    int in_uri = 0;
    for (size_t i = 0; s[i];) {
        if (isspace((unsigned char)s[i])) {
            in_uri = 0;
            i++;
            continue;
        }
        size_t scheme = !strncmp(s + i, "postgresql://", 13) ? 13
                        : !strncmp(s + i, "postgres://", 11) ? 11
                                                              : 0;
        if (scheme) {
            /* libpq takes the user info up to the first '@' before any '/'. */
            in_uri = 1;
            size_t j = i + scheme, at = j;
            while (s[at] && s[at] != '@' && s[at] != '/' && !isspace((unsigned char)s[at])) at++;
            if (s[at] == '@') {
                const char *colon = memchr(s + j, ':', at - j);
                if (colon && (size_t)(colon - s) + 1 < at) {
                    size_t from = (size_t)(colon - s) + 1;
                    spans[n++] = (pgconn_span){from, at - from};
                }
                i = at + 1;
            } else {
                i = j;
            }
            continue;
        }
        size_t v = pgconn_secret_key(s, i, in_uri);
        if (v) {
            size_t from = i + v, end = pgconn_value_end(s, from, in_uri);
            if (end > from) spans[n++] = (pgconn_span){from, end - from};
            i = end > from ? end : from;
            continue;
        }
        i++;
    }
    *count = n;
    return spans;
}

char *pgconn_mask(const char *s)
{
    size_t n;
    pgconn_span *spans = pgconn_secrets(s, &n);
    size_t len = strlen(s);
    char *out = xmalloc(len + n * sizeof PGCONN_MASK + 1);
    size_t o = 0, from = 0;
    for (size_t k = 0; k < n; k++) {
        memcpy(out + o, s + from, spans[k].at - from);
        o += spans[k].at - from;
        memcpy(out + o, PGCONN_MASK, strlen(PGCONN_MASK));
        o += strlen(PGCONN_MASK);
        from = spans[k].at + spans[k].len;
    }
    memcpy(out + o, s + from, len - from);
    out[o + len - from] = '\0';
    free(spans);
    return out;
}

static int pgconn_hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* The value as libpq reads it: percent-decoded (URI) or unquoted (key=value). */
static char *pgconn_secret_value(const char *s, pgconn_span sp)
{
    char *v = xmalloc(sp.len + 1);
    size_t o = 0, i = sp.at, end = sp.at + sp.len;
    if (s[i] == '\'' && sp.len >= 2 && s[end - 1] == '\'') {
        for (i++, end--; i < end; i++) {
            if (s[i] == '\\' && i + 1 < end) i++;
            v[o++] = s[i];
        }
    } else {
        for (; i < end; i++) {
            int hi, lo;
            if (s[i] == '%' && i + 2 < end && (hi = pgconn_hexval(s[i + 1])) >= 0 &&
                (lo = pgconn_hexval(s[i + 2])) >= 0) {
                v[o++] = (char)(hi * 16 + lo);
                i += 2;
            } else {
                v[o++] = s[i];
            }
        }
    }
    v[o] = '\0';
    return v;
}

/* Replaces every occurrence of secret in *text (reallocated) by the mask. */
static void pgconn_replace_all(char **text, const char *secret)
{
    size_t n = strlen(secret);
    if (n < PGCONN_REDACT_MIN) return;
    const char *hit;
    while ((hit = strstr(*text, secret))) {
        size_t at = (size_t)(hit - *text);
        char *next = xasprintf("%.*s%s%s", (int)at, *text, PGCONN_MASK, hit + n);
        free(*text);
        *text = next;
    }
}

char *pgconn_redact(const char *msg, const char *conninfo)
{
    char *out = xstrdup(msg ? msg : "");
    if (!conninfo) return out;
    size_t n;
    pgconn_span *spans = pgconn_secrets(conninfo, &n);
    for (size_t k = 0; k < n; k++) {
        char *raw = xstrndup(conninfo + spans[k].at, spans[k].len);
        char *value = pgconn_secret_value(conninfo, spans[k]);
        pgconn_replace_all(&out, raw);
        pgconn_replace_all(&out, value);
        free(raw);
        free(value);
    }
    free(spans);
    return out;
}

/* The original arguments, kept reachable (argv points at them) until the process exits. */
static char **pgconn_argv_copies;

int pgconn_hide_argv(int argc, char **argv)
{
    int changed = 0;
    for (int i = 1; i < argc; i++) {
        size_t n;
        pgconn_span *spans = pgconn_secrets(argv[i], &n);
        if (n == 0) {
            free(spans);
            continue;
        }
        if (!pgconn_argv_copies)
            pgconn_argv_copies = xcalloc((size_t)argc, sizeof *pgconn_argv_copies);
        char *orig = argv[i];
        size_t len = strlen(orig);
        char *masked = pgconn_mask(orig);
        pgconn_argv_copies[i] = xstrdup(orig);
        if (strlen(masked) <= len) {
            /* The masked text, then NULs up to the argument's old end. */
            memset(orig, 0, len);
            memcpy(orig, masked, strlen(masked));
        } else {
            /* A secret shorter than the mask: star it out in place. */
            for (size_t k = 0; k < n; k++) memset(orig + spans[k].at, '*', spans[k].len);
        }
        free(masked);
        free(spans);
        argv[i] = pgconn_argv_copies[i];
        changed++;
    }
    return changed;
}

/* ---------------------------------------------------------------------------------------- */
/* Results */

void pgconn_result_error(const PGresult *r, PGconn *conn, char *err, size_t errlen)
{
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !*msg) msg = conn ? PQerrorMessage(conn) : "unknown error";
    /* A connection the server ended says why (FATAL: terminating connection due to
     * administrator command) in the connection's message; the result only has libpq's "server
     * closed the connection unexpectedly". */
    if (conn && PQstatus(conn) == CONNECTION_BAD) {
        const char *cm = PQerrorMessage(conn);
        if (cm && strlen(cm) > strlen(msg)) msg = cm;
    }
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    util_err(err, errlen, "%.*s", (int)n, msg);
    /* Multi-line messages (DETAIL, HINT) read better joined. */
    for (char *p = err; err && *p; p++)
        if (*p == '\n') *p = ' ';
}

/* Server notices below WARNING (NOTICE, INFO: "relation already exists, skipping") are
 * expected chatter; warnings and up reach stderr. */
static void pgconn_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (!strcmp(sev, "NOTICE") || !strcmp(sev, "INFO") || !strcmp(sev, "LOG") ||
                !strncmp(sev, "DEBUG", 5)))
        return;
    fprintf(stderr, "pgpulse: server says: %s", PQresultErrorMessage(r));
}

PGconn *pgconn_connect(const char *conninfo, const char *role, char *err, size_t errlen)
{
    char appname[64];
    snprintf(appname, sizeof appname, "pgpulse-%s", role ? role : "cli");
    /* A conninfo that names its own application_name or keepalive settings keeps them
     * (expanded later, it wins). TCP keepalives notice a server that vanished without closing
     * the connection (a host powered off, a dropped NAT entry) in about two minutes, instead of
     * leaving a load or a consumer waiting forever. */
    const char *kw[] = {"application_name", "keepalives",       "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "dbname", NULL};
    const char *val[] = {appname, "1", "60", "10", "6", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        pgconn_connect_error(conn, conninfo, err, errlen);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, pgconn_notice, NULL);
    return conn;
}

PGconn *pgconn_connect_retry(const char *conninfo, const char *role, int retry_seconds, char *err,
                             size_t errlen)
{
    int64_t deadline = util_mono_us() + (int64_t)retry_seconds * 1000000;
    int delay_ms = 100;
    for (int attempt = 1;; attempt++) {
        PGconn *conn = pgconn_connect(conninfo, role, err, errlen);
        if (conn) return conn;
        if (util_mono_us() + (int64_t)delay_ms * 1000 > deadline) return NULL;
        if (attempt == 1 || attempt % 10 == 0)
            fprintf(stderr, "pgpulse: cannot connect (%s); retrying\n", err ? err : "");
        util_sleep_ms(delay_ms);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
}

int pgconn_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = pgconn_result_lost(conn, r) ? PGCONN_LOST : -1;
    }
    PQclear(r);
    return rc;
}

int pgconn_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                 ExecStatusType expect, PGresult **out, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != expect) {
        pgconn_result_error(r, conn, err, errlen);
        int lost = pgconn_result_lost(conn, r);
        PQclear(r);
        return lost ? PGCONN_LOST : -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

int pgconn_result_lost(PGconn *conn, const PGresult *r)
{
    if (!conn || PQstatus(conn) == CONNECTION_BAD) return 1;
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!s) return 1;
    return !strncmp(s, "08", 2) || !strcmp(s, "57P01") || !strcmp(s, "57P02") ||
           !strcmp(s, "57P03");
}

int pgconn_is_sqlstate(const PGresult *r, const char *sqlstate)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, sqlstate) == 0;
}

int pgconn_is_lost(PGconn *conn)
{
    return !conn || PQstatus(conn) == CONNECTION_BAD;
}

void pgconn_connect_error(PGconn *conn, const char *conninfo, char *err, size_t errlen)
{
    char *msg = pgconn_redact(PQerrorMessage(conn), conninfo);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n') *p = ' ';
    util_err(err, errlen, "%s", msg);
    free(msg);
}
