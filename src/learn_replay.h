/* learn_replay: `pgpulse learn --replay` — an online learner over any CSV file with a header,
 * prequentially (each row predicted, then learned), and the figures a user compares with
 * other tools (issue 11).
 *
 * The file is read twice: once for its target's values (the task, when not given, and the
 * classes: a target of text, or of at most LEARN_MAXC distinct integers, is classified; any
 * other numbers are regressed; the classes are ordered, numerically when every value is a
 * number, and the last one is the positive class unless `positive` names another), then for
 * the replay. Every column but the target, the key and the ignored ones is an input: numbers
 * as numbers, text as categories (learn_feat.h); with a key column the key's rolling features
 * are added. Data rows are numbered from 1; from row test_from on (0: never) rows are
 * predicted and not learned, and the metrics cover those rows only. A row with the wrong
 * number of fields, or a target that is not a number when regressing, is reported on msgs
 * (file and line, at most 10 times, then counted) and skipped: the rows before and after it
 * go on. A row with an empty target is predicted but neither learned nor scored.
 *
 * OUT repeats each kept row and appends `prediction` (the class, as written in the file, or
 * the value) and, classifying two classes, `score` (the positive class's probability). */
#ifndef PGPULSE_LEARN_REPLAY_H
#define PGPULSE_LEARN_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

typedef struct learn_replay_opts {
    const char *in;         /* the CSV file */
    const char *out;        /* NULL: no OUT; "-": standard output */
    const char *target;     /* the target column's name */
    const char *task;       /* "classify", "regress", or NULL (decided from the target) */
    const char *key;        /* key column, or NULL */
    const char *ignore;     /* comma separated column names, or NULL */
    const char *model;      /* learn_model name, or NULL (the task's default) */
    const char *positive;   /* the positive class's value, or NULL */
    int64_t test_from;      /* first test row (1-based), 0: none */
    uint64_t seed;
    FILE *msgs;             /* where rejected rows are reported */
} learn_replay_opts;

/* Replays o->in. Returns the figures as a JSON object (rows, rows_per_s, seconds, task, model,
 * target, features, keys, rejected, test_rows and the task's metrics: accuracy, log_loss,
 * roc_auc, pr_auc, positive; or mae, rmse, r2), or NULL with a message (a file that cannot be
 * read, a column that is not in the header, a target with no usable value). The caller
 * json_decref()s it. */
json_t *learn_replay_run(const learn_replay_opts *o, char *err, size_t errlen);

#endif
