/* Unit tests for webassets: the embedded dashboard files match web/ byte for byte (run from the
 * repository root), "/" is /index.html, the uPlot files are under /vendor/, unknown paths are
 * NULL, content types follow the extension and ETags are quoted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "webassets.h"

static void test_webassets_root_is_index(void **state)
{
    (void)state;
    const webasset *root = webasset_find("/");
    const webasset *index = webasset_find("/index.html");
    assert_non_null(root);
    assert_ptr_equal(root, index);
    assert_string_equal(root->content_type, "text/html; charset=utf-8");
    assert_true(root->len > 0);
    assert_non_null(strstr((const char *)root->data, "common.js"));
}

static void test_webassets_unknown_paths(void **state)
{
    (void)state;
    assert_null(webasset_find(NULL));
    assert_null(webasset_find(""));
    assert_null(webasset_find("/nope.html"));
    assert_null(webasset_find("index.html"));
    assert_null(webasset_find("/package.json"));
    assert_null(webasset_find("/package-lock.json"));
    assert_null(webasset_find("/node_modules/uplot/dist/uPlot.min.css"));
}

static void test_webassets_types_and_etags(void **state)
{
    (void)state;
    static const char *const paths[][2] = {
        {"/app.css", "text/css; charset=utf-8"},
        {"/common.js", "text/javascript; charset=utf-8"},
        {"/robot.html", "text/html; charset=utf-8"},
        {"/alerts.html", "text/html; charset=utf-8"},
        {"/pipeline.html", "text/html; charset=utf-8"},
        {"/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
        {"/vendor/uPlot.min.css", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const webasset *a = webasset_find(paths[i][0]);
        assert_non_null(a);
        assert_string_equal(a->path, paths[i][0]);
        assert_string_equal(a->content_type, paths[i][1]);
        size_t n = strlen(a->etag);
        assert_true(n > 2);
        assert_int_equal(a->etag[0], '"');
        assert_int_equal(a->etag[n - 1], '"');
        assert_string_not_equal(a->etag, webasset_find("/index.html")->etag);
    }
}

/* The bytes of FILE equal the asset's. */
static void same_as_file(const char *path, const char *file)
{
    const webasset *a = webasset_find(path);
    assert_non_null(a);
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        print_message("skipping %s: %s not readable from here\n", path, file);
        return;
    }
    unsigned char *buf = malloc(a->len + 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, a->len + 1, f);
    fclose(f);
    assert_int_equal(n, a->len);
    assert_memory_equal(buf, a->data, a->len);
    free(buf);
}

static void test_webassets_bytes_match(void **state)
{
    (void)state;
    same_as_file("/index.html", "web/index.html");
    same_as_file("/app.css", "web/app.css");
    same_as_file("/robot.js", "web/robot.js");
    same_as_file("/vendor/uPlot.iife.min.js", "web/node_modules/uplot/dist/uPlot.iife.min.js");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webassets_root_is_index),
        cmocka_unit_test(test_webassets_unknown_paths),
        cmocka_unit_test(test_webassets_types_and_etags),
        cmocka_unit_test(test_webassets_bytes_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
