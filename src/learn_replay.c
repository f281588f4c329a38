/* learn_replay: prequential learning over a CSV file (see learn_replay.h). */
#include "learn_replay.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "csvin.h"
#include "learn_feat.h"
#include "learn_metrics.h"
#include "learn_model.h"
#include "numparse.h"
#include "util.h"

#define LR_MAX_REPORTS 10
#define LR_MAX_DISTINCT 1024 /* target values tracked by the first pass */

enum { LR_INPUT, LR_TARGET, LR_KEY, LR_IGNORE };

typedef struct lr_class {
    char *text;     /* as first written in the file (trimmed) */
    double num;     /* its value, when every class is a number */
} lr_class;

typedef struct lr_run {
    const learn_replay_opts *o;
    size_t ncols;
    char **names;
    int *role;
    int *input_of;           /* column -> input index, or -1 */
    int ninputs;
    int target, key;
    int classify, numeric_classes;
    lr_class *classes;
    int nclasses, positive;
    int has_text;            /* some input column holds text */
    int64_t rejected, reported;
} lr_run;

static void lr_trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t')) (*p)++, (*n)--;
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) (*n)--;
}

static int lr_open(const char *path, csvin **in, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return util_err(err, errlen, "%s: %s", path, strerror(errno));
    *in = csvin_new(fd, 0);
    return fd;
}

/* The column called name: exactly, else ignoring case and surrounding spaces. */
static int lr_find(const lr_run *r, const char *name)
{
    for (size_t c = 0; c < r->ncols; c++)
        if (!strcmp(r->names[c], name)) return (int)c;
    const char *p = name;
    size_t n = strlen(name);
    lr_trim(&p, &n);
    for (size_t c = 0; c < r->ncols; c++) {
        const char *q = r->names[c];
        size_t m = strlen(q);
        lr_trim(&q, &m);
        if (m == n && !strncasecmp(p, q, n)) return (int)c;
    }
    return -1;
}

static void lr_reject(lr_run *r, uint64_t line, const char *fmt, const char *detail)
{
    r->rejected++;
    if (!r->o->msgs) return;
    if (r->reported++ < LR_MAX_REPORTS) {
        fprintf(r->o->msgs, "pgpulse learn: %s:%llu: ", r->o->in, (unsigned long long)line);
        fprintf(r->o->msgs, fmt, detail);
        fputs(" (row skipped)\n", r->o->msgs);
    } else if (r->reported == LR_MAX_REPORTS + 1) {
        fprintf(r->o->msgs, "pgpulse learn: %s: further rejected rows are counted, not shown\n", r->o->in);
    }
}

static int lr_header(lr_run *r, csvin *in, char *err, size_t errlen)
{
    csvin_row row;
    int got = csvin_next(in, &row, -1, err, errlen);
    if (got == CSVIN_IOERR) return -1;
    if (got == CSVIN_EOF) return util_err(err, errlen, "%s: empty file (a header line is needed)", r->o->in);
    if (row.error) return util_err(err, errlen, "%s:%llu: header: %s", r->o->in,
                                   (unsigned long long)row.line_no, row.error);
    r->ncols = row.nfields;
    r->names = xcalloc(r->ncols, sizeof *r->names);
    r->role = xcalloc(r->ncols, sizeof *r->role);
    r->input_of = xcalloc(r->ncols, sizeof *r->input_of);
    for (size_t c = 0; c < r->ncols; c++) r->names[c] = xstrndup(row.fields[c].p, row.fields[c].len);
    r->target = lr_find(r, r->o->target);
    if (r->target < 0) return util_err(err, errlen, "%s: no column '%s' in the header (--target)", r->o->in, r->o->target);
    r->role[r->target] = LR_TARGET;
    r->key = -1;
    if (r->o->key) {
        r->key = lr_find(r, r->o->key);
        if (r->key < 0) return util_err(err, errlen, "%s: no column '%s' in the header (--key)", r->o->in, r->o->key);
        if (r->key == r->target) return util_err(err, errlen, "--key and --target are the same column");
        r->role[r->key] = LR_KEY;
    }
    if (r->o->ignore) {
        char *list = xstrdup(r->o->ignore), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int c = lr_find(r, t);
            if (c < 0) {
                util_err(err, errlen, "%s: no column '%s' in the header (--ignore)", r->o->in, t);
                free(list);
                return -1;
            }
            if (r->role[c] == LR_INPUT) r->role[c] = LR_IGNORE;
        }
        free(list);
    }
    for (size_t c = 0; c < r->ncols; c++)
        r->input_of[c] = r->role[c] == LR_INPUT ? r->ninputs++ : -1;
    return 0;
}

static int lr_class_cmp(const void *a, const void *b)
{
    const lr_class *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num ? 1 : 0;
}

static int lr_class_cmp_text(const void *a, const void *b)
{
    return strcmp(((const lr_class *)a)->text, ((const lr_class *)b)->text);
}

/* The first pass: the target's distinct values decide the task and the classes. */
static int lr_scan_target(lr_run *r, char *err, size_t errlen)
{
    csvin *in;
    int fd = lr_open(r->o->in, &in, err, errlen);
    if (fd < 0) return -1;
    csvin_row row;
    int rc = -1, all_num = 1, all_int = 1, got;
    int64_t values = 0, numbers = 0;
    lr_class *d = xcalloc(LR_MAX_DISTINCT, sizeof *d);
    int nd = 0, overflow = 0;
    if (csvin_next(in, &row, -1, err, errlen) == CSVIN_IOERR) goto done; /* the header */
    while ((got = csvin_next(in, &row, -1, err, errlen)) == CSVIN_ROW) {
        if (row.error || row.nfields != r->ncols) continue;
        for (size_t c = 0; c < r->ncols && !r->has_text; c++) {
            if (r->input_of[c] < 0) continue;
            const char *q = row.fields[c].p;
            size_t m = row.fields[c].len;
            double ignored;
            lr_trim(&q, &m);
            /* Only a field with a character no number has is parsed to be sure. */
            size_t k = 0;
            while (k < m && strchr("0123456789+-.eE", q[k]) && q[k]) k++;
            if (k < m) r->has_text = numparse_double(q, m, &ignored) != NUMPARSE_OK;
        }
        const char *p = row.fields[r->target].p;
        size_t n = row.fields[r->target].len;
        lr_trim(&p, &n);
        if (!n) continue;
        values++;
        double v = NAN;
        int isnum = numparse_double(p, n, &v) == NUMPARSE_OK;
        numbers += isnum;
        if (!isnum) all_num = 0;
        else if (v != floor(v) || fabs(v) > 1e15) all_int = 0;
        int seen = 0;
        for (int i = 0; i < nd && !seen; i++)
            seen = isnum && all_num ? d[i].num == v : (strlen(d[i].text) == n && !memcmp(d[i].text, p, n));
        if (seen) continue;
        if (nd == LR_MAX_DISTINCT) {
            overflow = 1;
            continue;
        }
        d[nd].text = xstrndup(p, n);
        d[nd].num = v;
        nd++;
    }
    if (got == CSVIN_IOERR) goto done;
    if (!values) {
        util_err(err, errlen, "%s: column '%s' has no value to learn from", r->o->in, r->names[r->target]);
        goto done;
    }
    const char *task = r->o->task;
    int fits = !overflow && nd <= LEARN_MAXC;
    if (!task) task = !all_num || (all_int && fits) ? "classify" : "regress";
    if (!strcmp(task, "regress")) {
        if (!numbers) {
            util_err(err, errlen, "%s: column '%s' holds text; it can be classified, not regressed",
                     r->o->in, r->names[r->target]);
            goto done;
        }
        r->classify = 0;
    } else {
        if (!fits) {
            util_err(err, errlen, "%s: column '%s' has %s%d distinct values; at most %d classes "
                     "can be learned (--task regress for numbers)", r->o->in, r->names[r->target],
                     overflow ? "more than " : "", nd, LEARN_MAXC);
            goto done;
        }
        if (nd < 2) {
            util_err(err, errlen, "%s: column '%s' has one value only: nothing to classify",
                     r->o->in, r->names[r->target]);
            goto done;
        }
        r->classify = 1;
        r->numeric_classes = all_num;
        qsort(d, (size_t)nd, sizeof *d, all_num ? lr_class_cmp : lr_class_cmp_text);
        r->positive = nd - 1;
        if (r->o->positive) {
            r->positive = -1;
            for (int i = 0; i < nd; i++)
                if (!strcmp(d[i].text, r->o->positive)) r->positive = i;
            if (r->positive < 0) {
                util_err(err, errlen, "--positive %s: not a value of column '%s'", r->o->positive,
                         r->names[r->target]);
                goto done;
            }
        }
        r->classes = d;
        r->nclasses = nd;
        d = NULL;
    }
    rc = 0;
done:
    if (d)
        for (int i = 0; i < nd; i++) free(d[i].text);
    free(d);
    csvin_free(in);
    close(fd);
    return rc;
}

/* The class of a target value, or -1. */
static int lr_class_of(const lr_run *r, const char *p, size_t n)
{
    if (r->numeric_classes) {
        double v;
        if (numparse_double(p, n, &v) != NUMPARSE_OK) return -1;
        for (int i = 0; i < r->nclasses; i++)
            if (r->classes[i].num == v) return i;
        return -1;
    }
    for (int i = 0; i < r->nclasses; i++)
        if (strlen(r->classes[i].text) == n && !memcmp(r->classes[i].text, p, n)) return i;
    return -1;
}

static void lr_put_field(FILE *f, const char *p, size_t n)
{
    if (!memchr(p, ',', n) && !memchr(p, '"', n) && !memchr(p, '\n', n) && !memchr(p, '\r', n)) {
        fwrite(p, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') fputc('"', f);
        fputc(p[i], f);
    }
    fputc('"', f);
}

static void lr_json_num(json_t *o, const char *k, double v)
{
    json_object_set_new(o, k, isfinite(v) ? json_real(v) : json_null());
}

json_t *learn_replay_run(const learn_replay_opts *o, char *err, size_t errlen)
{
    lr_run r = {.o = o};
    json_t *res = NULL;
    csvin *in = NULL;
    FILE *out = NULL;
    learn_feat *feat = NULL;
    learn_model *model = NULL;
    double *val = NULL, *x = NULL, proba[LEARN_MAXC];
    const char **text = NULL;
    size_t *tlen = NULL;
    char *obuf = NULL;
    learn_metrics met;
    learn_metrics_init(&met, 0);
    int64_t t0 = util_mono_us();

    int fd = lr_open(o->in, &in, err, errlen);
    if (fd < 0) return NULL;
    if (lr_header(&r, in, err, errlen) || lr_scan_target(&r, err, errlen)) goto done;
    learn_metrics_init(&met, r.classify);
    feat = learn_feat_new(r.ninputs, r.key >= 0, r.has_text ? LEARN_FEAT_HASH : 0);
    int d = learn_feat_dim(feat);
    model = learn_model_new(o->model, d, r.classify ? r.nclasses : 0, o->seed, err, errlen);
    if (!model) goto done;
    if (o->out) {
        if (!strcmp(o->out, "-")) {
            out = stdout;
        } else if (!(out = fopen(o->out, "w"))) {
            util_err(err, errlen, "%s: %s", o->out, strerror(errno));
            goto done;
        }
        if (out != stdout) {
            obuf = xmalloc(1 << 20);
            setvbuf(out, obuf, _IOFBF, 1 << 20);
        }
        for (size_t c = 0; c < r.ncols; c++) {
            lr_put_field(out, r.names[c], strlen(r.names[c]));
            fputc(',', out);
        }
        fputs(r.classify && r.nclasses == 2 ? "prediction,score\n" : "prediction\n", out);
    }
    val = xcalloc((size_t)r.ninputs + 1, sizeof *val);
    text = xcalloc((size_t)r.ninputs + 1, sizeof *text);
    tlen = xcalloc((size_t)r.ninputs + 1, sizeof *tlen);
    x = xcalloc((size_t)d, sizeof *x);

    csvin_row row;
    int got;
    int64_t rowno = 0, rows = 0, learned = 0, test_rows = 0;
    while ((got = csvin_next(in, &row, -1, err, errlen)) == CSVIN_ROW) {
        rowno++;
        if (row.error) {
            lr_reject(&r, row.line_no, "%s", row.error);
            continue;
        }
        if (row.nfields != r.ncols) {
            char detail[64];
            snprintf(detail, sizeof detail, "%zu fields where the header has %zu", row.nfields, r.ncols);
            lr_reject(&r, row.line_no, "%s", detail);
            continue;
        }
        const char *tp = row.fields[r.target].p;
        size_t tn = row.fields[r.target].len;
        lr_trim(&tp, &tn);
        double y = NAN;
        if (tn) {
            if (r.classify) {
                y = lr_class_of(&r, tp, tn);
                if (y < 0) y = NAN; /* a value the first pass did not see cannot happen */
            } else if (numparse_double(tp, tn, &y) != NUMPARSE_OK) {
                lr_reject(&r, row.line_no, "target '%s' is not a number", r.names[r.target]);
                continue;
            }
        }
        for (size_t c = 0; c < r.ncols; c++) {
            int i = r.input_of[c];
            if (i < 0) continue;
            const char *p = row.fields[c].p;
            size_t n = row.fields[c].len;
            lr_trim(&p, &n);
            text[i] = NULL;
            tlen[i] = 0;
            if (!n || numparse_double(p, n, &val[i]) != NUMPARSE_OK) {
                val[i] = NAN;
                if (n) text[i] = p, tlen[i] = n;
            }
        }
        const char *kp = r.key >= 0 ? row.fields[r.key].p : NULL;
        size_t kn = r.key >= 0 ? row.fields[r.key].len : 0;
        if (kp) lr_trim(&kp, &kn);
        learn_feat_row(feat, val, text, tlen, kp, kn, x);
        double pred = learn_model_predict(model, x, proba);
        rows++;
        int test = o->test_from > 0 && rowno >= o->test_from;
        if (isfinite(y) && (test || o->test_from <= 0)) {
            if (r.classify)
                learn_metrics_add_class(&met, (int)pred, (int)y, proba[(int)y], r.nclasses == 2,
                                        proba[r.positive], (int)y == r.positive);
            else
                learn_metrics_add_value(&met, pred, y);
        }
        test_rows += test;
        if (isfinite(y) && !test) {
            learn_model_learn(model, x, y);
            learned++;
        }
        if (out) {
            for (size_t c = 0; c < r.ncols; c++) {
                lr_put_field(out, row.fields[c].p, row.fields[c].len);
                fputc(',', out);
            }
            if (r.classify) {
                const char *ct = r.classes[(int)pred].text;
                lr_put_field(out, ct, strlen(ct));
                if (r.nclasses == 2) fprintf(out, ",%.6g", proba[r.positive]);
            } else {
                fprintf(out, "%.6g", pred);
            }
            fputc('\n', out);
        }
    }
    if (got == CSVIN_IOERR) goto done;
    if (out && (fflush(out) != 0 || ferror(out))) {
        util_err(err, errlen, "%s: %s", o->out, strerror(errno));
        goto done;
    }
    double secs = (double)(util_mono_us() - t0) / 1e6;
    res = json_object();
    json_object_set_new(res, "rows", json_integer(rows));
    json_object_set_new(res, "rows_per_s", json_real(secs > 0 ? (double)rows / secs : 0));
    json_object_set_new(res, "seconds", json_real(secs));
    json_object_set_new(res, "task", json_string(r.classify ? "classify" : "regress"));
    json_object_set_new(res, "model", json_string(learn_model_name(model)));
    json_object_set_new(res, "target", json_string(r.names[r.target]));
    json_object_set_new(res, "features", json_integer(d));
    json_object_set_new(res, "keys", json_integer((json_int_t)learn_feat_keys(feat)));
    json_object_set_new(res, "learned", json_integer(learned));
    json_object_set_new(res, "rejected", json_integer(r.rejected));
    json_object_set_new(res, "test_rows", json_integer(test_rows));
    json_object_set_new(res, "scored", json_integer(met.n));
    if (r.classify) {
        json_object_set_new(res, "classes", json_integer(r.nclasses));
        lr_json_num(res, "accuracy", learn_metrics_accuracy(&met));
        lr_json_num(res, "log_loss", learn_metrics_logloss(&met));
        if (r.nclasses == 2) {
            json_object_set_new(res, "positive", json_string(r.classes[r.positive].text));
            lr_json_num(res, "roc_auc", learn_metrics_roc_auc(&met));
            lr_json_num(res, "pr_auc", learn_metrics_pr_auc(&met));
        }
    } else {
        lr_json_num(res, "mae", learn_metrics_mae(&met));
        lr_json_num(res, "rmse", learn_metrics_rmse(&met));
        lr_json_num(res, "r2", learn_metrics_r2(&met));
    }
done:
    if (out && out != stdout) fclose(out);
    else if (out) fflush(out);
    free(obuf);
    learn_metrics_free(&met);
    learn_model_free(model);
    learn_feat_free(feat);
    free(val);
    free(text);
    free(tlen);
    free(x);
    csvin_free(in);
    close(fd);
    for (size_t c = 0; c < r.ncols; c++) free(r.names[c]);
    free(r.names);
    free(r.role);
    free(r.input_of);
    for (int i = 0; i < r.nclasses; i++) free(r.classes[i].text);
    free(r.classes);
    return res;
}
