/* learn_mlflow_yaml: the YAML that MLflow's meta.yaml files hold, written byte for byte as
 * MLflow writes it — yaml.dump(data, default_flow_style=False, allow_unicode=True,
 * sort_keys=True, Dumper=CSafeDumper), i.e. PyYAML's representer and resolver over libyaml's
 * emitter — for the few shapes those files use: a block mapping of str, int and None values, a
 * nested mapping of str (a registered model's aliases), a list of str, and empty [] / {}.
 *
 * A str is written plain when libyaml's analysis allows it and PyYAML's implicit resolver would
 * read it back as a str; else single-quoted, else double-quoted with escapes, and long values
 * wrap at spaces past column 80 as libyaml wraps them. The caller writes keys in sorted order
 * (Python's sort of str: byte order of UTF-8). Strings must be valid UTF-8 (the caller checks).
 *
 * A learn_mlflow_yaml compiles PyYAML's resolver patterns once (POSIX regular expressions);
 * learn_mlflow_yaml_free releases them. */
#ifndef PGPULSE_LEARN_MLFLOW_YAML_H
#define PGPULSE_LEARN_MLFLOW_YAML_H

#include <regex.h>
#include <stdint.h>

#include "buf.h"

enum { LEARN_MLFLOW_YAML_NRE = 8 };

typedef struct learn_mlflow_yaml {
    buf *out;                  /* where the document goes (appended to) */
    int column;                /* libyaml's emitter->column: characters on the current line */
    int indent;                /* libyaml's emitter->indent while a scalar is written */
    int whitespace, indention; /* libyaml's flags of the same names */
    regex_t re[LEARN_MLFLOW_YAML_NRE]; /* PyYAML's implicit resolvers (bool, int, float, ...) */
} learn_mlflow_yaml;

/* Starts a document appended to out. Aborts if a pattern does not compile (a bug). */
void learn_mlflow_yaml_init(learn_mlflow_yaml *y, buf *out);

/* Releases the compiled patterns. NULL-safe. */
void learn_mlflow_yaml_free(learn_mlflow_yaml *y);

/* Appends "key: <value>\n" at indent (0 for the document's mapping, 2 inside a nested one),
 * value written as yaml.dump writes a Python str; NULL writes null. */
void learn_mlflow_yaml_str(learn_mlflow_yaml *y, int indent, const char *key, const char *value);

/* Appends "key: <int>\n" (a Python int); LEARN_MLFLOW_YAML_NULL writes null. */
#define LEARN_MLFLOW_YAML_NULL INT64_MIN
void learn_mlflow_yaml_int(learn_mlflow_yaml *y, int indent, const char *key, int64_t v);

/* Appends "key: []\n" or "key: {}\n" (an empty list or mapping). */
void learn_mlflow_yaml_empty(learn_mlflow_yaml *y, int indent, const char *key, int mapping);

/* Appends "key:\n" that opens a nested mapping (entries at indent + 2) or a block list
 * (items at indent, as PyYAML writes a list inside a mapping). */
void learn_mlflow_yaml_open(learn_mlflow_yaml *y, int indent, const char *key);

/* Appends "- <value>\n", an item of a list opened at indent. */
void learn_mlflow_yaml_item(learn_mlflow_yaml *y, int indent, const char *value);

#endif
