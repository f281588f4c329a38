/* learn_feat: the features `pgpulse learn --replay` gives a learner from one row of a table
 * (issue 11): numbers as they are, text as hashed one-hot slots, and with a key column the
 * key's rolling features, computed online (each row's features use that row and the key's
 * earlier rows only, never a later one and never a label).
 *
 * Layout of the vector (learn_feat_dim values):
 *   [0, m)            the m input columns' numbers (NaN: empty, or text)
 *   [m, m + H)        H hash slots (LEARN_FEAT_HASH, or 0 for a table without text): each
 *                     non-empty text value v of input column c adds 1 at hash(c, v) mod H — categorical columns become features, never errors,
 *                     whatever their cardinality (a level is one slot; two levels share a slot
 *                     rarely, by chance)
 *   with a key, then per input column (LEARN_FEAT_PER_COL each): the key's previous value
 *     (lag 1), the change from it, EWMA means over spans 4 and 32 rows, EWMA absolute
 *     deviations over the same spans, the deviation from the slow mean in units of the slow
 *     deviation, and the fraction of the key's recent rows where the column was non-zero
 *     (active fraction, span 32); and per key: rows seen (the current one included) and the
 *     log of it (a unit's age, which run-to-failure data rest on).
 * A NaN input leaves the key's state for that column as it was.
 *
 * The key's state is allocated when the key first appears; nothing per row. */
#ifndef PGPULSE_LEARN_FEAT_H
#define PGPULSE_LEARN_FEAT_H

#include <stddef.h>
#include <stdint.h>

#define LEARN_FEAT_HASH 32
#define LEARN_FEAT_PER_COL 8
#define LEARN_FEAT_PER_KEY 2

typedef struct learn_feat learn_feat;

/* A builder for m input columns (m >= 0), keyed (rolling features) or not, with hash slots for
 * text (0 or more; text is dropped without). */
learn_feat *learn_feat_new(int m, int keyed, int hash);

/* Values in a row's vector. */
int learn_feat_dim(const learn_feat *f);

/* The name of feature i (for messages and model exports), written into out. */
void learn_feat_name(const learn_feat *f, int i, const char *const *colnames, char *out, size_t len);

/* Builds the vector of one row into x (learn_feat_dim values): val[c] is column c's number
 * (NaN when empty or text), text[c]/tlen[c] its text when it is not a number (NULL otherwise),
 * key/klen the key's text (ignored unless keyed). Updates the key's rolling state. */
void learn_feat_row(learn_feat *f, const double *val, const char *const *text, const size_t *tlen,
                    const char *key, size_t klen, double *x);

/* Keys seen. */
size_t learn_feat_keys(const learn_feat *f);

/* Releases f. NULL-safe. */
void learn_feat_free(learn_feat *f);

#endif
