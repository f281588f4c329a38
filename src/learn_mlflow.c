/* learn_mlflow: experiments, runs and registered models in MLflow's file-store layout.
 *
 * Each writer checks all of its input first (names, ids, keys, UTF-8), so a refused call writes
 * nothing, then creates the directories and writes each file through a temporary file renamed
 * over it. The field-by-field sources in MLflow are in docs/learn.md (its MLflow section). */
#include "learn_mlflow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "learn_mlflow_yaml.h"
#include "utf8.h"
#include "util.h"

#define MAX_KEY_LEN 250         /* validation.py: MAX_ENTITY_KEY_LENGTH */
#define MAX_EXPERIMENT_NAME 500 /* validation.py: MAX_EXPERIMENT_NAME_LENGTH */
#define MAX_ALIAS_LEN 255       /* validation.py: MAX_REGISTERED_MODEL_ALIAS_LENGTH */

/* ---- Python's repr(float) ---- */

/* Does the decimal 0.DIGITS x 10^decpt (nd digits) read back as d (> 0)? */
static int reads_back(const char *digits, int nd, int decpt, double d)
{
    char s[48];
    snprintf(s, sizeof s, "0.%.*se%d", nd, digits, decpt);
    return strtod(s, NULL) == d;
}

/* Adds delta (+1 or -1) to the nd-digit integer in digits, keeping nd digits: a carry out of
 * the first digit or a borrow that empties it moves the decimal point (*decpt). */
static void step_digits(char *digits, int nd, int *decpt, int delta)
{
    int i = nd - 1;
    if (delta > 0) {
        while (i >= 0 && digits[i] == '9')
            digits[i--] = '0';
        if (i >= 0) {
            digits[i]++;
        } else { /* 999 + 1 = 1000: "100" one place up */
            digits[0] = '1';
            (*decpt)++;
        }
    } else {
        while (i >= 0 && digits[i] == '0')
            digits[i--] = '9';
        digits[i]--;            /* the first digit is not 0, so i >= 0 */
        if (digits[0] == '0') { /* 100 - 1 = 099: "99.." one place down */
            memmove(digits, digits + 1, (size_t)nd - 1);
            digits[nd - 1] = '9';
            (*decpt)--;
        }
    }
}

char *learn_mlflow_float_repr(double d, char *out)
{
    if (isnan(d)) {
        strcpy(out, "nan");
        return out;
    }
    if (isinf(d)) {
        strcpy(out, d < 0 ? "-inf" : "inf");
        return out;
    }
    int neg = signbit(d) != 0;
    double a = fabs(d);
    /* The fewest significant digits that read back as d, as Python's repr (David Gay's
     * shortest mode) finds them: for each count, the correctly rounded digits (glibc's
     * printf rounds correctly), or else the neighbour on the other side of d — at a power of
     * two the interval that reads back is wider above than below, and the rounded digits can
     * fall outside it while the next ones up do not. */
    char digits[24] = "0";
    int nd = 1, decpt = 1;
    if (a != 0) {
        for (nd = 1; nd <= 17; nd++) {
            char sci[40];
            snprintf(sci, sizeof sci, "%.*e", nd - 1, a);
            int k = 0;
            const char *p = sci;
            for (; *p != 'e'; p++)
                if (*p != '.') digits[k++] = *p;
            digits[k] = '\0';
            decpt = atoi(p + 1) + 1; /* a = 0.DIGITS x 10^decpt */
            if (reads_back(digits, nd, decpt, a)) break;
            char up[24], down[24];
            int dup = decpt, ddown = decpt;
            memcpy(up, digits, sizeof up);
            memcpy(down, digits, sizeof down);
            step_digits(up, nd, &dup, +1);
            step_digits(down, nd, &ddown, -1);
            if (reads_back(up, nd, dup, a)) {
                memcpy(digits, up, sizeof digits);
                decpt = dup;
                break;
            }
            if (reads_back(down, nd, ddown, a)) {
                memcpy(digits, down, sizeof digits);
                decpt = ddown;
                break;
            }
        }
        while (nd > 1 && digits[nd - 1] == '0') /* a carry can leave trailing zeros */
            nd--;
        digits[nd] = '\0';
    }
    int exp10 = decpt - 1;

    /* Python's float_repr_style 'short' rule (Python/pystrtod.c, format_float_short with
     * mode 'r'): exponent notation when decpt <= -4 or decpt > 16, else positional with at
     * least one digit after the point. */
    char *o = out;
    if (neg) *o++ = '-';
    if (decpt <= -4 || decpt > 16) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o[nd] = '\0';
    } else {
        for (int i = 0; i < decpt; i++)
            *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd > decpt) {
            memcpy(o, digits + decpt, (size_t)(nd - decpt));
            o += nd - decpt;
        } else {
            *o++ = '0';
        }
        *o = '\0';
    }
    return out;
}

/* ---- checks ---- */

int learn_mlflow_check_key(const char *what, const char *key, char *err, size_t errlen)
{
    if (!key) return util_err(err, errlen, "%s name is missing", what);
    size_t n = strlen(key);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ' ' || c == '/'))
            return util_err(err, errlen,
                            "invalid %s name '%s': names may only contain alphanumerics, "
                            "underscores, dashes, periods, spaces and slashes",
                            what, key);
    }
    if (n > MAX_KEY_LEN)
        return util_err(err, errlen, "invalid %s name '%.40s...': longer than %d", what, key,
                        MAX_KEY_LEN);
    /* posixpath.normpath(key) must be key itself, not "." and not start with ".." or "/". */
    int bad = n == 0 || key[0] == '/' || key[n - 1] == '/' || strncmp(key, "..", 2) == 0 ||
              strstr(key, "//") != NULL;
    for (const char *c = key; !bad && *c;) {
        size_t len = strcspn(c, "/");
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) bad = 1;
        c += len;
        if (*c == '/') c++;
    }
    if (bad)
        return util_err(err, errlen,
                        "invalid %s name '%s': it must not resolve to another path (no leading "
                        "or trailing '/', no '//', no '.' or '..' part)",
                        what, key);
    return 0;
}

/* MLflow's _RUN_ID_REGEX / _EXPERIMENT_ID_REGEX: [a-zA-Z0-9][\w\-]{0,max-1}. */
static int check_id(const char *what, const char *id, size_t max, char *err, size_t errlen)
{
    size_t n = id ? strlen(id) : 0;
    int ok = n >= 1 && n <= max;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        ok = alnum || (i > 0 && (c == '_' || c == '-'));
    }
    if (!ok)
        return util_err(err, errlen, "invalid %s '%s': [A-Za-z0-9][A-Za-z0-9_-]{0,%zu} expected",
                        what, id ? id : "(null)", max - 1);
    return 0;
}

static int check_text(const char *what, const char *s, char *err, size_t errlen)
{
    if (s && !utf8_valid(s, strlen(s))) return util_err(err, errlen, "%s is not valid UTF-8", what);
    return 0;
}

static int check_kvs(const char *what, const learn_mlflow_kv *kv, size_t n, char *err,
                     size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (learn_mlflow_check_key(what, kv[i].key, err, errlen) < 0) return -1;
        if (check_text(what, kv[i].value, err, errlen) < 0)
            return util_err(err, errlen, "%s '%s': value is not valid UTF-8", what, kv[i].key);
        for (size_t j = 0; j < i; j++)
            if (strcmp(kv[i].key, kv[j].key) == 0)
                return util_err(err, errlen, "%s '%s' given twice", what, kv[i].key);
    }
    return 0;
}

/* A registered model's name becomes a directory: file_store.py's _validate_model_name refuses
 * '/' and '%'; "." and ".." would leave models/. */
static int check_model_name(const char *name, char *err, size_t errlen)
{
    if (!name || !*name) return util_err(err, errlen, "registered model name is empty");
    if (strchr(name, '/') || strchr(name, '%') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return util_err(err, errlen,
                        "invalid registered model name '%s': no '/', no '%%', not '.' or '..'",
                        name);
    return check_text("registered model name", name, err, errlen);
}

/* validation.py's _validate_model_alias_name. */
static int check_alias(const char *alias, char *err, size_t errlen)
{
    size_t n = alias ? strlen(alias) : 0;
    int ok = n >= 1 && n <= MAX_ALIAS_LEN;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)alias[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    }
    if (!ok)
        return util_err(err, errlen,
                        "invalid alias name '%s': alphanumerics, underscores and dashes only",
                        alias ? alias : "(null)");
    if (strcasecmp(alias, "latest") == 0)
        return util_err(err, errlen, "alias name 'latest' is reserved");
    if ((alias[0] == 'v' || alias[0] == 'V') && n > 1 && strspn(alias + 1, "0123456789") == n - 1)
        return util_err(err, errlen, "alias name '%s' is reserved (a version alias)", alias);
    return 0;
}

/* ---- files ---- */

/* mkdir -p: creates path and its missing parents. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            rc = util_err(err, errlen, "cannot create directory %s: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (c == '\0') break;
    }
    if (rc == 0) {
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            rc = util_err(err, errlen, "%s is not a directory", path);
    }
    free(p);
    return rc;
}

/* Writes data to dir/name (name may hold '/': its directories are created) through a
 * temporary file in the same directory, renamed over the old file. */
static int write_file(const char *dir, const char *name, const void *data, size_t len, char *err,
                      size_t errlen)
{
    static atomic_uint counter; /* with the pid, a name no other writer is using */
    char *path = xasprintf("%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    char *tmp = NULL;
    int rc = make_dirs(path, err, errlen);
    *slash = '/';
    if (rc < 0) goto cleanup;
    tmp = xasprintf("%.*s/.%s.tmp%ld.%u", (int)(slash - path), path, slash + 1, (long)getpid(),
                    atomic_fetch_add(&counter, 1u));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = util_err(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    const char *q = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, q, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            rc = util_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        q += w;
        left -= (size_t)w;
    }
    if (close(fd) < 0 && rc == 0)
        rc = util_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = util_err(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0) unlink(tmp);
cleanup:
    free(tmp);
    free(path);
    return rc;
}

static int write_buf(const char *dir, const char *name, const buf *b, char *err, size_t errlen)
{
    return write_file(dir, name, b->data ? (const void *)b->data : "", b->len, err, errlen);
}

static int write_kvs(const char *dir, const learn_mlflow_kv *kv, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = kv[i].value ? kv[i].value : ""; /* _writeable_value(None) is "" */
        if (write_file(dir, kv[i].key, v, strlen(v), err, errlen) < 0) return -1;
    }
    return 0;
}

/* MLflow's append_to_uri_path for the simple case: base + "/" + part, one slash between. */
static char *uri_join(const char *base, const char *part)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return xasprintf("%.*s/%s", (int)n, base, part);
}

/* pathlib.Path(p).as_uri() for an absolute POSIX path: "file://" and the path percent-encoded
 * except letters, digits, "_.-~" and "/" (urllib.parse.quote_from_bytes). */
static char *file_uri(const char *abs)
{
    buf b = {0};
    buf_puts(&b, "file://");
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("_.-~/", *p))
            buf_append(&b, p, 1);
        else
            buf_printf(&b, "%%%02X", *p);
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* os.path.abspath: cwd joined when relative, then ".", ".." and "//" folded lexically. */
static char *abs_path(const char *path, char *err, size_t errlen)
{
    char *joined;
    if (path[0] == '/') {
        joined = xstrdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) {
            util_err(err, errlen, "cannot get the current directory: %s", strerror(errno));
            return NULL;
        }
        joined = xasprintf("%s/%s", cwd, path);
        free(cwd);
    }
    char *out = xmalloc(strlen(joined) + 2);
    size_t o = 0;
    for (char *c = joined; *c;) {
        while (*c == '/')
            c++;
        size_t len = strcspn(c, "/");
        if (len == 0) break;
        if (len == 1 && c[0] == '.') {
        } else if (len == 2 && c[0] == '.' && c[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0) o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, c, len);
            o += len;
        }
        c += len;
    }
    if (o == 0) out[o++] = '/';
    out[o] = '\0';
    free(joined);
    return out;
}

/* ---- the store ---- */

int learn_mlflow_store_open(learn_mlflow_store *st, const char *root, const char *artifact_root,
                            char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (!root || !*root) return util_err(err, errlen, "no MLflow directory given");
    if (check_text("artifact root", artifact_root, err, errlen) < 0) return -1;
    char *trash = xasprintf("%s/.trash", root), *models = xasprintf("%s/models", root);
    int rc = make_dirs(root, err, errlen);
    if (rc == 0) rc = make_dirs(trash, err, errlen);
    if (rc == 0) rc = make_dirs(models, err, errlen);
    free(trash);
    free(models);
    if (rc < 0) return -1;
    if (artifact_root) {
        st->artifact_root = xstrdup(artifact_root);
    } else {
        char *abs = abs_path(root, err, errlen);
        if (!abs) return -1;
        st->artifact_root = file_uri(abs);
        free(abs);
    }
    st->root = xstrdup(root);
    return 0;
}

void learn_mlflow_store_close(learn_mlflow_store *st)
{
    if (!st) return;
    free(st->root);
    free(st->artifact_root);
    st->root = st->artifact_root = NULL;
}

/* ---- experiments ---- */

int learn_mlflow_write_experiment(const learn_mlflow_store *st, const learn_mlflow_experiment *e,
                                  char *err, size_t errlen)
{
    if (check_id("experiment id", e->id, 64, err, errlen) < 0) return -1;
    /* file_store.py lists every directory of the root but .trash and models as experiments. */
    if (strcmp(e->id, "models") == 0)
        return util_err(err, errlen, "experiment id 'models' is the model registry's directory");
    if (!e->name || !*e->name || strlen(e->name) > MAX_EXPERIMENT_NAME)
        return util_err(err, errlen, "experiment %s: name empty or longer than %d", e->id,
                        MAX_EXPERIMENT_NAME);
    if (check_text("experiment name", e->name, err, errlen) < 0 ||
        check_text("artifact location", e->artifact_location, err, errlen) < 0 ||
        check_kvs("tag", e->tags, e->ntags, err, errlen) < 0)
        return -1;

    char *dir = xasprintf("%s/%s", st->root, e->id);
    char *loc =
        e->artifact_location ? xstrdup(e->artifact_location) : uri_join(st->artifact_root, e->id);
    buf b = {0};
    learn_mlflow_yaml y;
    learn_mlflow_yaml_init(&y, &b);
    /* dict(Experiment) without tags, keys sorted (file_store.py _create_experiment_with_id). */
    learn_mlflow_yaml_str(&y, 0, "artifact_location", loc);
    learn_mlflow_yaml_int(&y, 0, "creation_time", e->creation_ms);
    learn_mlflow_yaml_str(&y, 0, "experiment_id", e->id);
    learn_mlflow_yaml_int(&y, 0, "last_update_time", e->last_update_ms);
    learn_mlflow_yaml_str(&y, 0, "lifecycle_stage", "active");
    learn_mlflow_yaml_str(&y, 0, "name", e->name);
    learn_mlflow_yaml_free(&y);

    char *tags = xasprintf("%s/tags", dir);
    int rc = make_dirs(dir, err, errlen);
    if (rc == 0) rc = write_buf(dir, "meta.yaml", &b, err, errlen);
    if (rc == 0) rc = write_kvs(tags, e->tags, e->ntags, err, errlen);
    free(tags);
    buf_free(&b);
    free(loc);
    free(dir);
    return rc;
}

/* ---- runs ---- */

static int check_run(const learn_mlflow_run *r, char *err, size_t errlen)
{
    if (check_id("run id", r->run_id, 256, err, errlen) < 0 ||
        check_id("experiment id", r->experiment_id, 64, err, errlen) < 0)
        return -1;
    /* file_store.py's RESERVED_EXPERIMENT_FOLDERS sit beside the runs. */
    if (!strcmp(r->run_id, "tags") || !strcmp(r->run_id, "datasets") ||
        !strcmp(r->run_id, "traces"))
        return util_err(err, errlen, "run id '%s' is a reserved directory name", r->run_id);
    if (r->status < LEARN_MLFLOW_RUNNING || r->status > LEARN_MLFLOW_KILLED)
        return util_err(err, errlen, "run %s: unknown status %d", r->run_id, (int)r->status);
    if (check_text("run name", r->name, err, errlen) < 0 ||
        check_text("user id", r->user_id, err, errlen) < 0 ||
        check_text("artifact uri", r->artifact_uri, err, errlen) < 0 ||
        check_kvs("param", r->params, r->nparams, err, errlen) < 0 ||
        check_kvs("tag", r->tags, r->ntags, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < r->nmetrics; i++) {
        const learn_mlflow_metric *m = &r->metrics[i];
        if (learn_mlflow_check_key("metric", m->key, err, errlen) < 0) return -1;
        if (m->npoints == 0) return util_err(err, errlen, "metric '%s' has no values", m->key);
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->key, r->metrics[j].key) == 0)
                return util_err(err, errlen, "metric '%s' given twice", m->key);
        for (size_t j = 0; j < m->npoints; j++)
            if (m->points[j].timestamp_ms < 0) /* validation.py: a nonnegative long */
                return util_err(err, errlen, "metric '%s': negative timestamp", m->key);
    }
    return 0;
}

/* The run's meta.yaml: dict(RunInfo) plus what _make_persisted_run_info_dict adds (tags: [],
 * source_type LOCAL = 4, empty source_name, entry_point_name and source_version; status as its
 * RunStatus number), keys sorted. deleted_time is absent: MLflow drops it when it rewrites the
 * file, which it does on the mlflow.runName tag of every new run. */
static void run_meta(const learn_mlflow_store *st, const learn_mlflow_run *r, buf *b)
{
    char *art = NULL;
    if (r->artifact_uri) {
        art = xstrdup(r->artifact_uri);
    } else {
        char *exp = uri_join(st->artifact_root, r->experiment_id);
        char *run = uri_join(exp, r->run_id);
        art = uri_join(run, "artifacts");
        free(exp);
        free(run);
    }
    learn_mlflow_yaml y;
    learn_mlflow_yaml_init(&y, b);
    learn_mlflow_yaml_str(&y, 0, "artifact_uri", art);
    learn_mlflow_yaml_int(&y, 0, "end_time",
                          r->end_ms == LEARN_MLFLOW_NO_TIME ? LEARN_MLFLOW_YAML_NULL : r->end_ms);
    learn_mlflow_yaml_str(&y, 0, "entry_point_name", "");
    learn_mlflow_yaml_str(&y, 0, "experiment_id", r->experiment_id);
    learn_mlflow_yaml_str(&y, 0, "lifecycle_stage", "active");
    learn_mlflow_yaml_str(&y, 0, "run_id", r->run_id);
    learn_mlflow_yaml_str(&y, 0, "run_name", r->name ? r->name : "");
    learn_mlflow_yaml_str(&y, 0, "run_uuid", r->run_id);
    learn_mlflow_yaml_str(&y, 0, "source_name", "");
    learn_mlflow_yaml_int(&y, 0, "source_type", 4);
    learn_mlflow_yaml_str(&y, 0, "source_version", "");
    learn_mlflow_yaml_int(&y, 0, "start_time", r->start_ms);
    learn_mlflow_yaml_int(&y, 0, "status", (int64_t)r->status);
    learn_mlflow_yaml_empty(&y, 0, "tags", 0);
    learn_mlflow_yaml_str(&y, 0, "user_id", r->user_id ? r->user_id : "");
    learn_mlflow_yaml_free(&y);
    free(art);
}

int learn_mlflow_write_run(const learn_mlflow_store *st, const learn_mlflow_run *r, char *err,
                           size_t errlen)
{
    if (check_run(r, err, errlen) < 0) return -1;
    char *dir = xasprintf("%s/%s/%s", st->root, r->experiment_id, r->run_id);
    char *metrics = xasprintf("%s/metrics", dir), *params = xasprintf("%s/params", dir);
    char *tags = xasprintf("%s/tags", dir), *artifacts = xasprintf("%s/artifacts", dir);
    buf b = {0};
    int rc = 0;

    /* create_run makes the run's directory and metrics/, params/, artifacts/ (tags/ comes with
     * the first tag, always mlflow.runName). */
    if (make_dirs(dir, err, errlen) < 0 || make_dirs(metrics, err, errlen) < 0 ||
        make_dirs(params, err, errlen) < 0 || make_dirs(artifacts, err, errlen) < 0 ||
        make_dirs(tags, err, errlen) < 0) {
        rc = -1;
        goto cleanup;
    }
    run_meta(st, r, &b);
    if (write_buf(dir, "meta.yaml", &b, err, errlen) < 0 ||
        write_kvs(params, r->params, r->nparams, err, errlen) < 0 ||
        write_kvs(tags, r->tags, r->ntags, err, errlen) < 0) {
        rc = -1;
        goto cleanup;
    }
    /* create_run adds mlflow.runName when the tags have none. */
    int has_name_tag = 0;
    for (size_t i = 0; i < r->ntags; i++)
        has_name_tag |= strcmp(r->tags[i].key, "mlflow.runName") == 0;
    if (!has_name_tag && r->name &&
        write_file(tags, "mlflow.runName", r->name, strlen(r->name), err, errlen) < 0) {
        rc = -1;
        goto cleanup;
    }
    /* _log_run_metric appends f"{timestamp} {value} {step}\n" a point. */
    for (size_t i = 0; i < r->nmetrics; i++) {
        const learn_mlflow_metric *m = &r->metrics[i];
        char v[LEARN_MLFLOW_REPR_MAX];
        buf_reset(&b);
        for (size_t j = 0; j < m->npoints; j++)
            buf_printf(&b, "%" PRId64 " %s %" PRId64 "\n", m->points[j].timestamp_ms,
                       learn_mlflow_float_repr(m->points[j].value, v), m->points[j].step);
        if (write_buf(metrics, m->key, &b, err, errlen) < 0) {
            rc = -1;
            goto cleanup;
        }
    }
cleanup:
    buf_free(&b);
    free(dir);
    free(metrics);
    free(params);
    free(tags);
    free(artifacts);
    return rc;
}

/* ---- the model registry ---- */

static int cmp_alias(const void *a, const void *b)
{
    return strcmp(((const learn_mlflow_alias *)a)->alias, ((const learn_mlflow_alias *)b)->alias);
}

int learn_mlflow_write_registered_model(const learn_mlflow_store *st,
                                        const learn_mlflow_registered_model *m, char *err,
                                        size_t errlen)
{
    if (check_model_name(m->name, err, errlen) < 0 ||
        check_text("description", m->description, err, errlen) < 0 ||
        check_kvs("tag", m->tags, m->ntags, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < m->naliases; i++) {
        if (check_alias(m->aliases[i].alias, err, errlen) < 0) return -1;
        if (m->aliases[i].version < 1)
            return util_err(err, errlen, "alias '%s': version %" PRId64 " is not 1 or more",
                            m->aliases[i].alias, m->aliases[i].version);
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->aliases[i].alias, m->aliases[j].alias) == 0)
                return util_err(err, errlen, "alias '%s' given twice", m->aliases[i].alias);
    }

    char *dir = xasprintf("%s/models/%s", st->root, m->name);
    char *tags = xasprintf("%s/tags", dir), *aliases = xasprintf("%s/aliases", dir);
    learn_mlflow_alias *sorted = xmalloc((m->naliases + 1) * sizeof *sorted);
    if (m->naliases) memcpy(sorted, m->aliases, m->naliases * sizeof *sorted);
    qsort(sorted, m->naliases, sizeof *sorted, cmp_alias);

    /* dict(RegisteredModel) without tags and latest_versions, keys sorted; aliases is the
     * {alias: version-string} mapping MLflow read back from aliases/ before saving. */
    buf b = {0};
    learn_mlflow_yaml y;
    learn_mlflow_yaml_init(&y, &b);
    char num[24];
    if (m->naliases == 0) {
        learn_mlflow_yaml_empty(&y, 0, "aliases", 1);
    } else {
        learn_mlflow_yaml_open(&y, 0, "aliases");
        for (size_t i = 0; i < m->naliases; i++) {
            snprintf(num, sizeof num, "%" PRId64, sorted[i].version);
            learn_mlflow_yaml_str(&y, 2, sorted[i].alias, num);
        }
    }
    learn_mlflow_yaml_int(&y, 0, "creation_timestamp", m->creation_ms);
    learn_mlflow_yaml_str(&y, 0, "description", m->description);
    learn_mlflow_yaml_int(&y, 0, "last_updated_timestamp", m->last_updated_ms);
    learn_mlflow_yaml_str(&y, 0, "name", m->name);
    learn_mlflow_yaml_free(&y);

    int rc = make_dirs(dir, err, errlen);
    if (rc == 0) rc = write_buf(dir, "meta.yaml", &b, err, errlen);
    if (rc == 0) rc = write_kvs(tags, m->tags, m->ntags, err, errlen);
    /* set_registered_model_alias writes f"{version}" to aliases/<alias>. */
    for (size_t i = 0; rc == 0 && i < m->naliases; i++) {
        snprintf(num, sizeof num, "%" PRId64, m->aliases[i].version);
        rc = write_file(aliases, m->aliases[i].alias, num, strlen(num), err, errlen);
    }
    free(sorted);
    buf_free(&b);
    free(dir);
    free(tags);
    free(aliases);
    return rc;
}

int learn_mlflow_write_model_version(const learn_mlflow_store *st,
                                     const learn_mlflow_model_version *v, char *err, size_t errlen)
{
    if (check_model_name(v->name, err, errlen) < 0) return -1;
    if (v->version < 1)
        return util_err(err, errlen, "model %s: version %" PRId64 " is not 1 or more", v->name,
                        v->version);
    const char *texts[] = {v->description, v->user_id,        v->current_stage,
                           v->source,      v->run_id,         v->run_link,
                           v->status,      v->status_message, v->storage_location};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(texts); i++)
        if (check_text("model version field", texts[i], err, errlen) < 0) return -1;
    for (size_t i = 0; i < v->naliases; i++)
        if (check_alias(v->aliases[i], err, errlen) < 0) return -1;
    if (check_kvs("tag", v->tags, v->ntags, err, errlen) < 0) return -1;

    char *dir = xasprintf("%s/models/%s/version-%" PRId64, st->root, v->name, v->version);
    char *tags = xasprintf("%s/tags", dir);
    buf b = {0};
    learn_mlflow_yaml y;
    learn_mlflow_yaml_init(&y, &b);
    /* dict(FileModelVersion) without tags, keys sorted (model_registry/file_store.py
     * _save_model_version_as_meta_file; storage_location is FileModelVersion's own). */
    if (v->naliases == 0) {
        learn_mlflow_yaml_empty(&y, 0, "aliases", 0);
    } else {
        learn_mlflow_yaml_open(&y, 0, "aliases");
        for (size_t i = 0; i < v->naliases; i++)
            learn_mlflow_yaml_item(&y, 0, v->aliases[i]);
    }
    learn_mlflow_yaml_int(&y, 0, "creation_timestamp", v->creation_ms);
    learn_mlflow_yaml_str(&y, 0, "current_stage", v->current_stage ? v->current_stage : "None");
    learn_mlflow_yaml_str(&y, 0, "description", v->description);
    learn_mlflow_yaml_int(&y, 0, "last_updated_timestamp", v->last_updated_ms);
    learn_mlflow_yaml_str(&y, 0, "name", v->name);
    learn_mlflow_yaml_str(&y, 0, "run_id", v->run_id);
    learn_mlflow_yaml_str(&y, 0, "run_link", v->run_link);
    learn_mlflow_yaml_str(&y, 0, "source", v->source);
    learn_mlflow_yaml_str(&y, 0, "status", v->status ? v->status : "READY");
    learn_mlflow_yaml_str(&y, 0, "status_message", v->status_message);
    learn_mlflow_yaml_str(&y, 0, "storage_location",
                          v->storage_location ? v->storage_location : v->source);
    learn_mlflow_yaml_str(&y, 0, "user_id", v->user_id);
    learn_mlflow_yaml_int(&y, 0, "version", v->version);
    learn_mlflow_yaml_free(&y);

    int rc = make_dirs(dir, err, errlen);
    if (rc == 0) rc = write_buf(dir, "meta.yaml", &b, err, errlen);
    if (rc == 0) rc = write_kvs(tags, v->tags, v->ntags, err, errlen);
    buf_free(&b);
    free(tags);
    free(dir);
    return rc;
}

int learn_mlflow_write_artifact(const learn_mlflow_store *st, const char *experiment_id,
                                const char *run_id, const char *name, const void *data, size_t len,
                                char *err, size_t errlen)
{
    if (learn_mlflow_check_key("artifact", name, err, errlen) ||
        learn_mlflow_check_key("experiment id", experiment_id, err, errlen) ||
        learn_mlflow_check_key("run id", run_id, err, errlen))
        return -1;
    char *dir = xasprintf("%s/%s/%s/artifacts", st->root, experiment_id, run_id);
    int rc = write_file(dir, name, data, len, err, errlen);
    free(dir);
    return rc;
}
