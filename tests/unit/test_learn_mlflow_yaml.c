/* Unit tests for learn_mlflow_yaml: each string is written as a mapping value and compared
 * with what MLflow's write_yaml writes for {"k": string} — yaml.dump(default_flow_style=False,
 * allow_unicode=True, sort_keys=True, Dumper=CSafeDumper). The expected texts were produced by
 * PyYAML 6.0.3 over libyaml (the same call; see docs/learn-mlflow.md), covering plain text,
 * everything PyYAML's resolver would read back as another type, indicators, leading and
 * trailing spaces, line breaks, escapes and wrapping past column 80. Then the other shapes: a
 * nested mapping with keys that need quotes, a list, empty [] and {}, int and null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "learn_mlflow_yaml.h"

static const struct {
    const char *value;
    const char *yaml;
} cases[] = {
    {"abc", "k: abc\n"},
    {"", "k: ''\n"},
    {"123", "k: '123'\n"},
    {"0.5", "k: '0.5'\n"},
    {"1e5", "k: 1e5\n"},
    {"1.0e+5", "k: '1.0e+5'\n"},
    {"yes", "k: 'yes'\n"},
    {"No", "k: 'No'\n"},
    {"on", "k: 'on'\n"},
    {"null", "k: 'null'\n"},
    {"~", "k: '~'\n"},
    {"None", "k: None\n"},
    {"2024-01-01", "k: '2024-01-01'\n"},
    {"2001-12-14 21:59:43.10 -5", "k: '2001-12-14 21:59:43.10 -5'\n"},
    {"0x1F", "k: '0x1F'\n"},
    {"0o17", "k: 0o17\n"},
    {"1_000", "k: '1_000'\n"},
    {".inf", "k: '.inf'\n"},
    {"-.Inf", "k: '-.Inf'\n"},
    {".NaN", "k: '.NaN'\n"},
    {"1:20", "k: '1:20'\n"},
    {"<<", "k: '<<'\n"},
    {"=", "k: '='\n"},
    {"!", "k: '!'\n"},
    {"&", "k: '&'\n"},
    {"*", "k: '*'\n"},
    {"a: b", "k: 'a: b'\n"},
    {"a:b", "k: a:b\n"},
    {"- x", "k: '- x'\n"},
    {"-x", "k: -x\n"},
    {"#x", "k: '#x'\n"},
    {"x #y", "k: 'x #y'\n"},
    {"x#y", "k: x#y\n"},
    {"?", "k: '?'\n"},
    {"?x", "k: ?x\n"},
    {":x", "k: :x\n"},
    {"---", "k: '---'\n"},
    {"...", "k: '...'\n"},
    {"...x", "k: '...x'\n"},
    {" x", "k: ' x'\n"},
    {"x ", "k: 'x '\n"},
    {"it's", "k: it's\n"},
    {"runs:/3f2a/model", "k: runs:/3f2a/model\n"},
    {"file:///var/lib/pgpulse/mlruns/1", "k: file:///var/lib/pgpulse/mlruns/1\n"},
    {"caf\303\251 \303\240 la cr\303\250me", "k: caf\303\251 \303\240 la cr\303\250me\n"},
    {"a\nb", "k: 'a\n\n  b'\n"},
    {"a\n\nb", "k: 'a\n\n\n  b'\n"},
    {"a\n", "k: 'a\n\n  '\n"},
    {"\342\200\250", "k: '\342\200\250  '\n"},
    {"a\011b", "k: \"a\\tb\"\n"},
    {"a\015b", "k: \"a\\rb\"\n"},
    {"\302\205", "k: \"\\N\"\n"},
    {"\357\273\277", "k: \"\\uFEFF\"\n"},
    {"\360\237\230\200", "k: \"\\U0001F600\"\n"},
    {"\001\177", "k: \"\\x01\\x7F\"\n"},
    {"a \"q\" \\", "k: a \"q\" \\\n"},
    {"a  b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b "
     "c",
     "k: a  b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b\n  b b b b "
     "b b b c\n"},
    {"word word word word word word word word word word word word word word word word word word "
     "word word word word word word word word word word word word",
     "k: word word word word word word word word word word word word word word word word\n  word "
     "word word word word word word word word word word word word word\n"},
    {"it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's it's "
     "it's it's it's it's it's it's it's ",
     "k: 'it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s\n  it''s "
     "it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s '\n"},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxx y zzzzzzzzzz",
     "k: "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxx\n  y zzzzzzzzzz\n"},
    {"tab\011w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w "
     "w w w w w w w w w w w w w w w w w ",
     "k: \"tab\\tw w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w w\n  w w "
     "w w w w w w w w w w w w w w w w w w w w w \"\n"},
};

static void test_strings(void **state)
{
    (void)state;
    buf b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        learn_mlflow_yaml y;
        buf_reset(&b);
        learn_mlflow_yaml_init(&y, &b);
        learn_mlflow_yaml_str(&y, 0, "k", cases[i].value);
        learn_mlflow_yaml_free(&y);
        if (b.len != strlen(cases[i].yaml) || memcmp(b.data, cases[i].yaml, b.len) != 0)
            fail_msg("case %zu: want\n%s\ngot\n%.*s", i, cases[i].yaml, (int)b.len,
                     (const char *)b.data);
    }
    buf_free(&b);
}

static void test_shapes(void **state)
{
    (void)state;
    buf b = {0};
    learn_mlflow_yaml y;
    learn_mlflow_yaml_init(&y, &b);
    learn_mlflow_yaml_open(&y, 0, "aliases");
    learn_mlflow_yaml_str(&y, 2, "123", "3");
    learn_mlflow_yaml_str(&y, 2, "b-1", "1");
    learn_mlflow_yaml_str(&y, 2, "yes", "2");
    learn_mlflow_yaml_empty(&y, 0, "e", 0);
    learn_mlflow_yaml_int(&y, 0, "i", -5);
    learn_mlflow_yaml_open(&y, 0, "l");
    learn_mlflow_yaml_item(&y, 0, "x");
    learn_mlflow_yaml_item(&y, 0, "it's");
    learn_mlflow_yaml_item(&y, 0, "");
    learn_mlflow_yaml_empty(&y, 0, "m", 1);
    learn_mlflow_yaml_str(&y, 0, "n", NULL);
    learn_mlflow_yaml_int(&y, 0, "t", LEARN_MLFLOW_YAML_NULL);
    learn_mlflow_yaml_free(&y);
    learn_mlflow_yaml_free(&y); /* twice is harmless */
    learn_mlflow_yaml_free(NULL);
    const char *want = "aliases:\n  '123': '3'\n  b-1: '1'\n  'yes': '2'\ne: []\ni: -5\nl:\n- x\n"
                       "- it's\n- ''\nm: {}\nn: null\nt: null\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
