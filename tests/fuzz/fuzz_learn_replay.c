/* libFuzzer target: `pgpulse learn --replay` over arbitrary bytes as the CSV file — with the
 * first header column as the target, with and without the second as the key, classifying and
 * regressing. It must end with figures or an error message, never crash, hang or leak; the
 * figures, when given, count no more rows than the input has lines. The input is written to a
 * file (the replay reads a file twice, as a user's does). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "learn_replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_learn_replay.%d.csv", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    /* The first column's name, as the target. */
    char target[64] = "";
    size_t n = 0;
    while (n < size && n + 1 < sizeof target && data[n] != ',' && data[n] != '\n' && data[n] != '\r') {
        target[n] = (char)data[n];
        n++;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    static const char *const tasks[] = {NULL, "classify", "regress"};
    for (int k = 0; k < 6; k++) {
        learn_replay_opts o = {.in = path, .target = target, .task = tasks[k % 3],
                               .key = k >= 3 ? "b" : NULL, .model = k == 2 ? "rls" : NULL, .seed = 1};
        char err[512];
        json_t *res = learn_replay_run(&o, err, sizeof err);
        if (!res) continue;
        json_t *rows = json_object_get(res, "rows");
        if (!json_is_integer(rows) || (size_t)json_integer_value(rows) > lines) abort();
        json_decref(res);
    }
    return 0;
}
