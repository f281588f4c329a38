/* learn_mlflow_yaml: MLflow's meta.yaml as yaml.dump(..., Dumper=CSafeDumper) writes it.
 *
 * The style of a str follows libyaml's emitter (src/emitter.c: yaml_emitter_analyze_scalar,
 * yaml_emitter_select_scalar_style, yaml_emitter_write_{plain,single_quoted,double_quoted}
 * _scalar), and whether a plain str would read back as a str follows PyYAML's implicit
 * resolvers (lib/yaml/resolver.py), which PyYAML's C dumper still consults. The state kept
 * (column, indent, whitespace, indention) is libyaml's, so that wrapping past column 80 falls
 * on the same spaces. */
#include "learn_mlflow_yaml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define BEST_WIDTH 80 /* libyaml's default best_width (PyYAML passes width=None) */
#define BEST_INDENT 2 /* libyaml's default best_indent */

/* PyYAML's implicit resolvers as POSIX extended expressions (the verbose-mode spaces of the
 * originals removed; "[ \t]" holds a real tab). A str that matches one is quoted, since plain
 * it would read back as a bool, int, float, null, timestamp, merge key, '=' or an indicator. */
static const char *const resolver_patterns[LEARN_MLFLOW_YAML_NRE] = {
    "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    "|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
    "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
    "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
    "^<<$",
    "^(~|null|Null|NULL|)$",
    "^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]"
    "(\\.[0-9]*)?([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)$",
    "^=$",
    "^(!|&|\\*)$",
};

void learn_mlflow_yaml_init(learn_mlflow_yaml *y, buf *out)
{
    memset(y, 0, sizeof *y);
    y->out = out;
    y->whitespace = 1;
    y->indention = 1;
    for (int i = 0; i < LEARN_MLFLOW_YAML_NRE; i++) {
        if (regcomp(&y->re[i], resolver_patterns[i], REG_EXTENDED | REG_NOSUB) != 0) {
            fprintf(stderr, "learn_mlflow_yaml: pattern %d does not compile\n", i);
            abort();
        }
    }
}

void learn_mlflow_yaml_free(learn_mlflow_yaml *y)
{
    if (!y || !y->out) return;
    for (int i = 0; i < LEARN_MLFLOW_YAML_NRE; i++)
        regfree(&y->re[i]);
    y->out = NULL;
}

/* ---- characters (libyaml's yaml_private.h) ---- */

static int is_break(uint32_t c)
{
    return c == '\r' || c == '\n' || c == 0x85 || c == 0x2028 || c == 0x2029;
}

static int is_blankz(uint32_t c) /* 0 stands for the end of the string */
{
    return c == 0 || c == ' ' || c == '\t' || is_break(c);
}

static int is_printable(uint32_t c)
{
    return c == 0x0A || (c >= 0x20 && c <= 0x7E) || (c >= 0xA0 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF);
}

/* Decodes valid UTF-8 into code points; returns a malloc'd array of *n. */
static uint32_t *decode(const char *s, size_t *n)
{
    size_t len = strlen(s), k = 0;
    uint32_t *cp = xmalloc((len + 1) * sizeof *cp);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char b = p[i];
        int w = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
        uint32_t v = w == 1 ? b : w == 2 ? b & 0x1Fu : w == 3 ? b & 0x0Fu : b & 0x07u;
        for (int j = 1; j < w && i + (size_t)j < len; j++)
            v = (v << 6) | (p[i + (size_t)j] & 0x3Fu);
        cp[k++] = v;
        i += (size_t)w;
    }
    *n = k;
    return cp;
}

/* ---- output (libyaml's PUT, PUT_BREAK, WRITE, WRITE_BREAK) ---- */

static void put(learn_mlflow_yaml *y, char ch)
{
    buf_append(y->out, &ch, 1);
    y->column++;
}

static void put_break(learn_mlflow_yaml *y)
{
    buf_append(y->out, "\n", 1);
    y->column = 0;
}

static void write_cp(learn_mlflow_yaml *y, uint32_t c)
{
    unsigned char u[4];
    size_t w;
    if (c < 0x80) {
        u[0] = (unsigned char)c;
        w = 1;
    } else if (c < 0x800) {
        u[0] = (unsigned char)(0xC0 | (c >> 6));
        u[1] = (unsigned char)(0x80 | (c & 0x3F));
        w = 2;
    } else if (c < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (c >> 12));
        u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (c & 0x3F));
        w = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (c >> 18));
        u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (c & 0x3F));
        w = 4;
    }
    buf_append(y->out, u, w);
    y->column++;
}

static void write_break(learn_mlflow_yaml *y, uint32_t c)
{
    if (c == '\n') {
        put_break(y);
    } else {
        write_cp(y, c);
        y->column = 0;
    }
}

static void write_indent(learn_mlflow_yaml *y)
{
    int indent = y->indent >= 0 ? y->indent : 0;
    if (!y->indention || y->column > indent || (y->column == indent && !y->whitespace))
        put_break(y);
    while (y->column < indent)
        put(y, ' ');
    y->whitespace = 1;
    y->indention = 1;
}

static void write_indicator(learn_mlflow_yaml *y, const char *ind, int need_whitespace,
                            int is_whitespace, int is_indention)
{
    if (need_whitespace && !y->whitespace) put(y, ' ');
    while (*ind)
        put(y, *ind++);
    y->whitespace = is_whitespace;
    y->indention = y->indention && is_indention;
}

/* ---- choosing a style (yaml_emitter_analyze_scalar, yaml_emitter_select_scalar_style) ---- */

enum style { STYLE_PLAIN, STYLE_SINGLE, STYLE_DOUBLE };

static enum style choose_style(const learn_mlflow_yaml *y, const char *s, const uint32_t *cp,
                               size_t n, int simple_key)
{
    int block_indicators = 0, line_breaks = 0, special = 0;
    int leading_space = 0, leading_break = 0, trailing_space = 0, trailing_break = 0;
    int break_space = 0, space_break = 0, previous_space = 0, previous_break = 0;

    /* Would PyYAML's resolver read the plain text back as something other than a str? */
    int plain_implicit = 1;
    for (int i = 0; i < LEARN_MLFLOW_YAML_NRE; i++)
        if (regexec(&y->re[i], s, 0, NULL, 0) == 0) plain_implicit = 0;

    if (n == 0) /* block plain is allowed, but '' reads back as null: quoted below */
        return plain_implicit && !simple_key ? STYLE_PLAIN : STYLE_SINGLE;

    if (n >= 3 && ((cp[0] == '-' && cp[1] == '-' && cp[2] == '-') ||
                   (cp[0] == '.' && cp[1] == '.' && cp[2] == '.')))
        block_indicators = 1;

    int preceded_by_ws = 1;
    int followed_by_ws = is_blankz(n > 1 ? cp[1] : 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (i == 0) {
            if (c != 0 && c < 0x80 && strchr("#,[]{}&*!|>'\"%@`", (int)c)) block_indicators = 1;
            if ((c == '?' || c == ':' || c == '-') && followed_by_ws) block_indicators = 1;
        } else {
            if (c == ':' && followed_by_ws) block_indicators = 1;
            if (c == '#' && preceded_by_ws) block_indicators = 1;
        }
        if (!is_printable(c)) special = 1;
        if (is_break(c)) line_breaks = 1;
        if (c == ' ') {
            if (i == 0) leading_space = 1;
            if (i == n - 1) trailing_space = 1;
            if (previous_break) break_space = 1;
            previous_space = 1;
            previous_break = 0;
        } else if (is_break(c)) {
            if (i == 0) leading_break = 1;
            if (i == n - 1) trailing_break = 1;
            if (previous_space) space_break = 1;
            previous_space = 0;
            previous_break = 1;
        } else {
            previous_space = 0;
            previous_break = 0;
        }
        preceded_by_ws = is_blankz(c);
        if (i + 1 < n) followed_by_ws = is_blankz(i + 2 < n ? cp[i + 2] : 0);
    }

    int block_plain = 1, single_quoted = 1;
    if (leading_space || leading_break || trailing_space || trailing_break) block_plain = 0;
    if (break_space) block_plain = single_quoted = 0;
    if (space_break || special) block_plain = single_quoted = 0;
    if (line_breaks) block_plain = 0;
    if (block_indicators) block_plain = 0;

    if (simple_key && line_breaks) return STYLE_DOUBLE;
    enum style st = STYLE_PLAIN;
    if (!block_plain || !plain_implicit) st = STYLE_SINGLE;
    if (st == STYLE_SINGLE && !single_quoted) st = STYLE_DOUBLE;
    return st;
}

/* ---- writing (yaml_emitter_write_*_scalar) ---- */

static void write_plain(learn_mlflow_yaml *y, const uint32_t *cp, size_t n, int allow_breaks)
{
    int spaces = 0, breaks = 0;
    if (!y->whitespace && n) put(y, ' ');
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c == ' ') {
            if (allow_breaks && !spaces && y->column > BEST_WIDTH &&
                !(i + 1 < n && cp[i + 1] == ' '))
                write_indent(y);
            else
                write_cp(y, c);
            spaces = 1;
        } else if (is_break(c)) {
            if (!breaks && c == '\n') put_break(y);
            write_break(y, c);
            y->indention = 1;
            breaks = 1;
        } else {
            if (breaks) write_indent(y);
            write_cp(y, c);
            y->indention = 0;
            spaces = breaks = 0;
        }
    }
    y->whitespace = y->indention = 0;
}

static void write_single(learn_mlflow_yaml *y, const uint32_t *cp, size_t n, int allow_breaks)
{
    int spaces = 0, breaks = 0;
    write_indicator(y, "'", 1, 0, 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c == ' ') {
            if (allow_breaks && !spaces && y->column > BEST_WIDTH && i != 0 && i != n - 1 &&
                !(i + 1 < n && cp[i + 1] == ' '))
                write_indent(y);
            else
                write_cp(y, c);
            spaces = 1;
        } else if (is_break(c)) {
            if (!breaks && c == '\n') put_break(y);
            write_break(y, c);
            y->indention = 1;
            breaks = 1;
        } else {
            if (breaks) write_indent(y);
            if (c == '\'') put(y, '\'');
            write_cp(y, c);
            y->indention = 0;
            spaces = breaks = 0;
        }
    }
    if (breaks) write_indent(y);
    write_indicator(y, "'", 0, 0, 0);
    y->whitespace = y->indention = 0;
}

static void write_double(learn_mlflow_yaml *y, const uint32_t *cp, size_t n, int allow_breaks)
{
    static const char hex[] = "0123456789ABCDEF";
    int spaces = 0;
    write_indicator(y, "\"", 1, 0, 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (!is_printable(c) || c == 0xFEFF || is_break(c) || c == '"' || c == '\\') {
            const char *esc = NULL;
            switch (c) {
            case 0x00:
                esc = "0";
                break;
            case 0x07:
                esc = "a";
                break;
            case 0x08:
                esc = "b";
                break;
            case 0x09:
                esc = "t";
                break;
            case 0x0A:
                esc = "n";
                break;
            case 0x0B:
                esc = "v";
                break;
            case 0x0C:
                esc = "f";
                break;
            case 0x0D:
                esc = "r";
                break;
            case 0x1B:
                esc = "e";
                break;
            case 0x22:
                esc = "\"";
                break;
            case 0x5C:
                esc = "\\";
                break;
            case 0x85:
                esc = "N";
                break;
            case 0xA0:
                esc = "_";
                break;
            case 0x2028:
                esc = "L";
                break;
            case 0x2029:
                esc = "P";
                break;
            default:
                break;
            }
            put(y, '\\');
            if (esc) {
                put(y, esc[0]);
            } else {
                int digits = c <= 0xFF ? 2 : c <= 0xFFFF ? 4 : 8;
                put(y, c <= 0xFF ? 'x' : c <= 0xFFFF ? 'u' : 'U');
                for (int k = (digits - 1) * 4; k >= 0; k -= 4)
                    put(y, hex[(c >> k) & 0x0F]);
            }
            spaces = 0;
        } else if (c == ' ') {
            if (allow_breaks && !spaces && y->column > BEST_WIDTH && i != 0 && i != n - 1) {
                write_indent(y);
                if (i + 1 < n && cp[i + 1] == ' ') put(y, '\\');
            } else {
                write_cp(y, c);
            }
            spaces = 1;
        } else {
            write_cp(y, c);
            spaces = 0;
        }
    }
    write_indicator(y, "\"", 0, 0, 0);
    y->whitespace = y->indention = 0;
}

/* Writes a Python str as a scalar; its continuation lines (if it wraps) indent to indent. */
static void write_str(learn_mlflow_yaml *y, int indent, const char *s, int simple_key)
{
    size_t n;
    uint32_t *cp = decode(s, &n);
    y->indent = indent;
    switch (choose_style(y, s, cp, n, simple_key)) {
    case STYLE_PLAIN:
        write_plain(y, cp, n, !simple_key);
        break;
    case STYLE_SINGLE:
        write_single(y, cp, n, !simple_key);
        break;
    case STYLE_DOUBLE:
        write_double(y, cp, n, !simple_key);
        break;
    }
    free(cp);
}

/* Writes a scalar that is plain by construction (an int, null, [] or {}). */
static void write_plain_ascii(learn_mlflow_yaml *y, const char *s)
{
    if (!y->whitespace) put(y, ' ');
    while (*s)
        put(y, *s++);
    y->whitespace = y->indention = 0;
}

/* Starts an entry at the start of a line: pads to indent, writes the key and ':'. */
static void begin_entry(learn_mlflow_yaml *y, int indent, const char *key)
{
    while (y->column < indent)
        put(y, ' ');
    y->whitespace = y->indention = 1;
    write_str(y, indent + BEST_INDENT, key, 1);
    write_indicator(y, ":", 0, 0, 0);
    y->indent = indent + BEST_INDENT;
}

void learn_mlflow_yaml_str(learn_mlflow_yaml *y, int indent, const char *key, const char *value)
{
    begin_entry(y, indent, key);
    if (value)
        write_str(y, indent + BEST_INDENT, value, 0);
    else
        write_plain_ascii(y, "null");
    put_break(y);
}

void learn_mlflow_yaml_int(learn_mlflow_yaml *y, int indent, const char *key, int64_t v)
{
    char num[24];
    begin_entry(y, indent, key);
    if (v == LEARN_MLFLOW_YAML_NULL)
        write_plain_ascii(y, "null");
    else {
        snprintf(num, sizeof num, "%" PRId64, v);
        write_plain_ascii(y, num);
    }
    put_break(y);
}

void learn_mlflow_yaml_empty(learn_mlflow_yaml *y, int indent, const char *key, int mapping)
{
    begin_entry(y, indent, key);
    write_plain_ascii(y, mapping ? "{}" : "[]");
    put_break(y);
}

void learn_mlflow_yaml_open(learn_mlflow_yaml *y, int indent, const char *key)
{
    begin_entry(y, indent, key);
    put_break(y);
}

void learn_mlflow_yaml_item(learn_mlflow_yaml *y, int indent, const char *value)
{
    while (y->column < indent)
        put(y, ' ');
    y->whitespace = y->indention = 1;
    write_indicator(y, "-", 1, 0, 1);
    write_str(y, indent + BEST_INDENT, value, 0);
    put_break(y);
}
