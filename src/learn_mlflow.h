/* learn_mlflow: writes online-learning experiments, runs and registered models in MLflow's
 * file-store layout (the `mlruns/` directory of MLflow's tracking FileStore and its FileStore
 * model registry), so that MLflow's own UI and client read what `pgpulse models export DIR`
 * exports. Pure: it takes plain C structs and writes files; no database.
 *
 * Layout under the root (docs/learn.md (its MLflow section) has every field and the MLflow source it
 * follows):
 *
 *   <root>/.trash/                                  (MLflow's FileStore wants it)
 *   <root>/<experiment_id>/meta.yaml
 *   <root>/<experiment_id>/tags/<key>               (value only, no newline)
 *   <root>/<experiment_id>/<run_id>/meta.yaml
 *   <root>/<experiment_id>/<run_id>/params/<key>    (value only, no newline)
 *   <root>/<experiment_id>/<run_id>/tags/<key>      (value only, no newline)
 *   <root>/<experiment_id>/<run_id>/metrics/<key>   ("<timestamp_ms> <value> <step>\n" a point)
 *   <root>/<experiment_id>/<run_id>/artifacts/
 *   <root>/models/<name>/meta.yaml
 *   <root>/models/<name>/tags/<key>
 *   <root>/models/<name>/aliases/<alias>            (the version number, no newline)
 *   <root>/models/<name>/version-<n>/meta.yaml
 *   <root>/models/<name>/version-<n>/tags/<key>
 *
 * A key with '/' (MLflow allows "a/b") is a file b in a directory a. Keys, ids and names are
 * checked as MLflow checks them, so that nothing is written outside the root. Every file is
 * written to a temporary name in its directory and renamed over the old one, so a reader sees
 * the old file or the new one, never half of one. Strings are UTF-8 (invalid UTF-8 is refused);
 * YAML is written byte for byte as MLflow's yaml.dump (PyYAML with libyaml's CSafeDumper)
 * writes it.
 *
 * Errors: every function returns 0, or -1 with a message in err (naming the path and errno
 * for a file-system error, the key for a refused key). Threads may write different files of
 * one store at once; two writers of the same file leave one of the two versions. */
#ifndef PGPULSE_LEARN_MLFLOW_H
#define PGPULSE_LEARN_MLFLOW_H

#include <stddef.h>
#include <stdint.h>

/* MLflow's RunStatus enum (mlflow/protos/service.proto), stored as its number in meta.yaml. */
typedef enum learn_mlflow_status {
    LEARN_MLFLOW_RUNNING = 1,
    LEARN_MLFLOW_SCHEDULED = 2,
    LEARN_MLFLOW_FINISHED = 3,
    LEARN_MLFLOW_FAILED = 4,
    LEARN_MLFLOW_KILLED = 5,
} learn_mlflow_status;

#define LEARN_MLFLOW_NO_TIME INT64_MIN /* an absent time (end_time of a running run): null */

typedef struct learn_mlflow_kv {
    const char *key;   /* a param or tag name: see learn_mlflow_check_key */
    const char *value; /* written as is, without a newline; NULL writes "" as MLflow does */
} learn_mlflow_kv;

typedef struct learn_mlflow_point {
    int64_t timestamp_ms; /* when the value was logged, ms since the Unix epoch (>= 0) */
    double value;         /* any double: nan and inf are written as Python writes them */
    int64_t step;         /* the learner's step (records seen) */
} learn_mlflow_point;

typedef struct learn_mlflow_metric {
    const char *key;                  /* metric name: see learn_mlflow_check_key */
    const learn_mlflow_point *points; /* the history, in the order logged */
    size_t npoints;                   /* at least 1 (MLflow calls an empty file malformed) */
} learn_mlflow_metric;

typedef struct learn_mlflow_experiment {
    const char *id;                /* experiment_id: [A-Za-z0-9][A-Za-z0-9_-]{0,63} */
    const char *name;              /* non-empty, at most 500 characters */
    const char *artifact_location; /* NULL: <the store's artifact root>/<id> */
    int64_t creation_ms;           /* creation_time, ms; LEARN_MLFLOW_NO_TIME: null */
    int64_t last_update_ms;        /* last_update_time, ms; LEARN_MLFLOW_NO_TIME: null */
    const learn_mlflow_kv *tags;   /* experiment tags (tags/<key>) */
    size_t ntags;
} learn_mlflow_experiment;

typedef struct learn_mlflow_run {
    const char *run_id;        /* [A-Za-z0-9][A-Za-z0-9_-]{0,255}; MLflow's are 32 hex digits */
    const char *experiment_id; /* the experiment it belongs to (written first) */
    const char *name;          /* run_name; also the mlflow.runName tag unless tags have one */
    const char *user_id;       /* user_id; NULL writes "" */
    learn_mlflow_status status;
    int64_t start_ms;         /* start_time, ms */
    int64_t end_ms;           /* end_time, ms; LEARN_MLFLOW_NO_TIME (running): null */
    const char *artifact_uri; /* NULL: <artifact root>/<experiment_id>/<run_id>/artifacts */
    const learn_mlflow_kv *params;
    size_t nparams;
    const learn_mlflow_kv *tags;
    size_t ntags;
    const learn_mlflow_metric *metrics;
    size_t nmetrics;
} learn_mlflow_run;

typedef struct learn_mlflow_alias {
    const char *alias; /* [A-Za-z0-9_-]+, not "latest", not v<digits> */
    int64_t version;   /* the version it points to */
} learn_mlflow_alias;

typedef struct learn_mlflow_registered_model {
    const char *name;        /* non-empty; no '/', no '%', not "." or ".." */
    int64_t creation_ms;     /* creation_timestamp */
    int64_t last_updated_ms; /* last_updated_timestamp */
    const char *description; /* NULL: null */
    const learn_mlflow_kv *tags;
    size_t ntags;
    const learn_mlflow_alias *aliases; /* aliases/<alias> files and the meta.yaml mapping */
    size_t naliases;
} learn_mlflow_registered_model;

typedef struct learn_mlflow_model_version {
    const char *name;             /* the registered model's name */
    int64_t version;              /* 1, 2, ... (version-<n>) */
    int64_t creation_ms;          /* creation_timestamp */
    int64_t last_updated_ms;      /* last_updated_timestamp */
    const char *description;      /* NULL: null */
    const char *user_id;          /* NULL: null */
    const char *current_stage;    /* NULL: "None" (MLflow's STAGE_NONE) */
    const char *source;           /* where the model is, e.g. runs:/<run_id>/model */
    const char *run_id;           /* NULL: null */
    const char *run_link;         /* NULL: null */
    const char *status;           /* NULL: "READY" */
    const char *status_message;   /* NULL: null */
    const char *storage_location; /* NULL: the source, as MLflow's FileStore sets it */
    const char *const *aliases;   /* the aliases pointing here, listed in meta.yaml */
    size_t naliases;
    const learn_mlflow_kv *tags;
    size_t ntags;
} learn_mlflow_model_version;

typedef struct learn_mlflow_store {
    char *root;          /* the directory (as given) */
    char *artifact_root; /* artifact root URI (file:// URI of the root's absolute path) */
} learn_mlflow_store;

/* Opens a store at root: creates root, root/.trash and root/models if missing, and sets the
 * artifact root URI to artifact_root, or when it is NULL to the file:// URI of root's absolute
 * path, as MLflow's FileStore does. Returns 0, or -1 with err set (st then holds nothing). */
int learn_mlflow_store_open(learn_mlflow_store *st, const char *root, const char *artifact_root,
                            char *err, size_t errlen);

/* Frees what learn_mlflow_store_open allocated. NULL-safe. */
void learn_mlflow_store_close(learn_mlflow_store *st);

/* Writes an experiment: <id>/meta.yaml and <id>/tags/. Returns 0, or -1 with err set. */
int learn_mlflow_write_experiment(const learn_mlflow_store *st, const learn_mlflow_experiment *e,
                                  char *err, size_t errlen);

/* Writes a run under its experiment: meta.yaml, params/, tags/ (with mlflow.runName), metrics/
 * (the whole history of each metric, replacing an older file) and an empty artifacts/.
 * Returns 0, or -1 with err set. */
int learn_mlflow_write_run(const learn_mlflow_store *st, const learn_mlflow_run *r, char *err,
                           size_t errlen);

/* Writes a registered model: models/<name>/meta.yaml, tags/ and aliases/. Returns 0, or -1. */
int learn_mlflow_write_registered_model(const learn_mlflow_store *st,
                                        const learn_mlflow_registered_model *m, char *err,
                                        size_t errlen);

/* Writes models/<name>/version-<n>/meta.yaml and its tags/. Returns 0, or -1 with err set. */
int learn_mlflow_write_model_version(const learn_mlflow_store *st,
                                     const learn_mlflow_model_version *v, char *err, size_t errlen);

/* Writes data as a run's artifact: <root>/<experiment_id>/<run_id>/artifacts/<name> (name a
 * relative path checked as a key is, '/' making directories), atomically (a temporary file
 * renamed). Returns 0, or -1 with err naming the path or the bad name. */
int learn_mlflow_write_artifact(const learn_mlflow_store *st, const char *experiment_id,
                                const char *run_id, const char *name, const void *data, size_t len,
                                char *err, size_t errlen);

/* Checks a metric, param or tag name as MLflow's _validate_*_name does: only ASCII letters,
 * digits, '_', '-', '.', ' ' and '/'; at most 250 bytes; and a path that normalises to itself
 * (no leading or trailing '/', no "//", no "." or ".." component, not starting with "..").
 * Returns 0, or -1 with err naming the key. */
int learn_mlflow_check_key(const char *what, const char *key, char *err, size_t errlen);

/* Writes d into out as Python's repr(float) does (the shortest digits that read back as d:
 * "0.1", "1.0", "1e-05", "1e+16", "nan", "inf", "-0.0"). out needs LEARN_MLFLOW_REPR_MAX
 * bytes. Returns out. */
#define LEARN_MLFLOW_REPR_MAX 32
char *learn_mlflow_float_repr(double d, char *out);

#endif
