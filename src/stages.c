/* stages: the stage registry. A new stage adds its ops here. */
#include "stages.h"

#include <string.h>

#include "stage_detect.h"
#include "stage_learn.h"
#include "stage_live.h"
#include "stage_warehouse.h"
#include "util.h"

static const stream_stage_ops *const stages_all[] = {&stage_live_ops, &stage_detect_ops, &stage_learn_ops,
                                                    &stage_warehouse_ops};

const stream_stage_ops *stages_find(const char *name)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(stages_all); i++)
        if (!strcmp(stages_all[i]->name, name)) return stages_all[i];
    return NULL;
}

const char *stages_names(void)
{
    return "live, detect, learn, warehouse";
}

int stages_parse(const char *list, const stream_stage_ops **ops, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char name[64];
        if (len == 0 || len >= sizeof name)
            return util_err(err, errlen, "--stages: bad list '%s'", list);
        memcpy(name, p, len);
        name[len] = '\0';
        const stream_stage_ops *s = stages_find(name);
        if (!s) return util_err(err, errlen, "unknown stage '%s' (stages: %s)", name, stages_names());
        for (int i = 0; i < n; i++)
            if (ops[i] == s) return util_err(err, errlen, "stage '%s' named twice", name);
        if (n == max) return util_err(err, errlen, "too many stages");
        ops[n++] = s;
        p += len;
        if (*p == ',') p++;
    }
    if (n == 0) return util_err(err, errlen, "--stages: no stage named");
    return n;
}
