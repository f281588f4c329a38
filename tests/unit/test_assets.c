/* Unit tests of assets' pure half (no database): header recognition, the KEY/VALUE pivot,
 * typed values, and every kind of defect with its line number, on small files written to a
 * temporary directory; and the workshop's real files when ../shared is present. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "assets.h"
#include "util.h"

#define BOM "\xEF\xBB\xBF"

/* ---- fixtures ---- */

static char *tmp_dir(void)
{
    char *d = xstrdup("/tmp/pgpulse-test-assets-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void put(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    free(path);
}

/* Removes dir and what it holds (one level of subdirectories). */
static void rm_dir(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *p = xasprintf("%s/%s", dir, de->d_name);
            if (unlink(p) != 0) rmdir(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static assets_model *read_ok(const char *dir)
{
    assets_model *m = assets_model_new();
    char err[512] = "";
    int rc = assets_read_dir(m, dir, err, sizeof err);
    if (rc != 0) fail_msg("assets_read_dir: %s", err);
    return m;
}

static const char *base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The defect of that kind at file:line (file by base name), or NULL. */
static const assets_defect *defect_at(const assets_model *m, const char *file, uint64_t line,
                                      assets_defect_kind kind)
{
    for (size_t i = 0; i < m->ndefects; i++) {
        const assets_defect *d = &m->defects[i];
        if (d->kind == kind && d->line == line && !strcmp(base(d->file), file)) return d;
    }
    return NULL;
}

/* Asserts that a defect of that kind at file:line has a message containing `text`;
 * returns it. */
static const assets_defect *expect(const assets_model *m, const char *file, uint64_t line,
                                   assets_defect_kind kind, const char *text)
{
    for (size_t i = 0; i < m->ndefects; i++) {
        const assets_defect *d = &m->defects[i];
        if (d->kind == kind && d->line == line && !strcmp(base(d->file), file) &&
            strstr(d->message, text))
            return d;
    }
    for (size_t i = 0; i < m->ndefects; i++)
        fprintf(stderr, "  have %s:%llu kind %d: %s\n", m->defects[i].file,
                (unsigned long long)m->defects[i].line, (int)m->defects[i].kind,
                m->defects[i].message);
    fail_msg("no defect of kind %d at %s:%llu saying '%s'", (int)kind, file,
             (unsigned long long)line, text);
    return NULL;
}

static size_t count_kind(const assets_model *m, assets_defect_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ndefects; i++)
        n += m->defects[i].kind == kind;
    return n;
}

/* True if a directory note (MISSING) contains text. */
static int missing_note(const assets_model *m, const char *text)
{
    for (size_t i = 0; i < m->ndefects; i++)
        if (m->defects[i].kind == ASSETS_D_MISSING && strstr(m->defects[i].message, text)) return 1;
    return 0;
}

/* ---- the pivot ---- */

static void test_plant_and_shop_pivot(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "plants.csv",
        BOM "PLANT_ID,KEY,VALUE\r\n1,NAME,North Plant\r\n1,LOCATION,Cambridge\r\n"
            "1,Manager,A. Smith\r\n2,NAME,  South Plant  \r\n2,LOCATION,\"Guelph, ON\"\r\n");
    put(d, "shops.csv",
        BOM "SHOP_ID,KEY,VALUE,PLANT_ID\r\n7,PROCESS,UNDERBODY,2\r\n7,NAME,Weld,2\r\n"
            "7,PROCESS,SIDE MEMBER R,2\r\n7,Shift,night,2\r\n7,PROCESS,HATCH,2\r\n"
            "8,NAME,Paint,1\r\n");
    assets_model *m = read_ok(d);

    assert_int_equal(m->nplants, 2);
    const assets_plant *p = assets_find_plant(m, 1);
    assert_non_null(p);
    assert_string_equal(p->name, "North Plant");
    assert_string_equal(p->location, "Cambridge");
    assert_int_equal(p->attrs.n, 1);
    assert_string_equal(assets_attr_get(&p->attrs, "Manager"), "A. Smith");
    p = assets_find_plant(m, 2);
    assert_string_equal(p->name, "South Plant"); /* trimmed */
    assert_string_equal(p->location, "Guelph, ON");
    assert_int_equal(p->attrs.n, 0);
    assert_null(assets_find_plant(m, 3));

    assert_int_equal(m->nshops, 2);
    const assets_shop *s = assets_find_shop(m, 7);
    assert_non_null(s);
    assert_string_equal(s->name, "Weld");
    assert_int_equal(s->plant_id, 2);
    assert_int_equal(s->plant_line, 2);
    assert_int_equal(s->nprocesses, 3);
    assert_string_equal(s->processes[0], "UNDERBODY");
    assert_string_equal(s->processes[1], "SIDE MEMBER R");
    assert_string_equal(s->processes[2], "HATCH");
    assert_string_equal(assets_attr_get(&s->attrs, "Shift"), "night");
    assert_int_equal(assets_find_shop(m, 8)->plant_id, 1);

    /* No defect but the five formats this directory lacks. */
    assert_int_equal(count_kind(m, ASSETS_D_MISSING), 5);
    assert_int_equal(m->ndefects, 5);
    assert_int_equal(m->nplaceholder_plants, 0);
    assets_model_free(m);
    rm_dir(d);
}

static void test_header_any_case_and_order(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "a.csv", "value , Plant_Id,key\n10,3,name\nBig,3,Location\n");
    put(d, "b.csv", "detail_id,key,value\n");
    assets_model *m = read_ok(d);
    const assets_shop *s = assets_find_shop(m, 10); /* columns of the shop format */
    assert_null(s);
    const assets_plant *p = assets_find_plant(m, 3);
    assert_non_null(p);
    assert_string_equal(p->name, "10");
    assert_string_equal(p->location, "Big");
    /* b.csv is a part-details file with no rows: noted, and the format counts as present. */
    expect(m, "b.csv", 1, ASSETS_D_EMPTY, "no data rows");
    assert_false(missing_note(m, "no part details file"));
    assert_true(missing_note(m, "no shop file"));
    assert_int_equal(count_kind(m, ASSETS_D_MISSING), 5); /* shop, equipment, part, source, feed */
    assets_model_free(m);
    rm_dir(d);
}

static void test_detail_pivot_and_dates(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "details.csv",
        "DETAIL_ID,KEY,VALUE\n"
        "1,PROVIDER,Kawasaki\n"         /* 2 */
        "1,PART_NUMBER,48048-E010-00\n" /* 3 */
        "1,MODEL_NUMBER,T52\n"          /* 4 */
        "1,SERIAL NUMBER,SN-1\n"        /* 5: space for underscore */
        "1,PURCHASE DATE,12/15/2007\n"  /* 6 */
        "1,Warranty,5 years\n"          /* 7 */
        "2,purchase_date,2/29/2008\n"   /* 8: leap day */
        "3,PURCHASE DATE,2/29/2007\n"   /* 9: no such day */
        "3,PURCHASE DATE,13/1/2007\n"   /* 10: no such month */
        "3,PURCHASE DATE,2007-03-04\n"  /* 11: ISO accepted */
        "4,PURCHASE DATE,yesterday\n"); /* 12 */
    assets_model *m = read_ok(d);
    const assets_detail *x = assets_find_detail(m, 1);
    assert_string_equal(x->provider, "Kawasaki");
    assert_string_equal(x->part_number, "48048-E010-00");
    assert_string_equal(x->model_number, "T52");
    assert_string_equal(x->serial_number, "SN-1");
    assert_string_equal(x->purchase_date, "2007-12-15");
    assert_string_equal(assets_attr_get(&x->attrs, "Warranty"), "5 years");
    assert_string_equal(assets_find_detail(m, 2)->purchase_date, "2008-02-29");
    assert_null(assets_find_detail(m, 2)->provider);
    assert_string_equal(assets_find_detail(m, 3)->purchase_date, "2007-03-04");
    assert_null(assets_find_detail(m, 4)); /* its only row was rejected */
    const assets_defect *e =
        expect(m, "details.csv", 9, ASSETS_D_VALUE, "'2/29/2007' is not a date");
    assert_string_equal(e->raw, "3,PURCHASE DATE,2/29/2007");
    assert_non_null(strstr(e->message, "row rejected"));
    expect(m, "details.csv", 10, ASSETS_D_VALUE, "'13/1/2007' is not a date");
    expect(m, "details.csv", 12, ASSETS_D_VALUE, "'yesterday' is not a date");
    assert_int_equal(count_kind(m, ASSETS_D_VALUE), 3);
    assets_model_free(m);
    rm_dir(d);
}

static void test_equipment_robots_and_controllers(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "shops.csv", "SHOP_ID,KEY,VALUE,PLANT_ID\n1,NAME,Weld,1\n");
    put(d, "plants.csv", "PLANT_ID,KEY,VALUE\n1,NAME,North\n");
    put(d, "details.csv", "DETAIL_ID,KEY,VALUE\n1,PROVIDER,Kawasaki\n");
    put(d, "equipment.csv",
        "TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID\n"
        "1,Robot,10.34.22.183,Spot,1,1\n" /* 2 */
        "2,ROBOT,::1,Sealer,,\n"          /* 3: class in any case, IPv6, no refs */
        "3,Controller,,Spot,1,1\n"        /* 4: no IP */
        "4,Conveyor,10.0.0.1,Belt,1,1\n"  /* 5: unknown class */
        "5,Robot,10.0.0.300,Hem,1,1\n"    /* 6: bad IP: NULL, row loaded */
        "6,Robot,10.0.0.6,,1,1\n"         /* 7: no name */
        "7,,10.0.0.7,X,1,1\n");           /* 8: empty class */
    assets_model *m = read_ok(d);
    assert_int_equal(m->nrobots, 4);
    assert_int_equal(m->ncontrollers, 1);
    const assets_equipment *r = assets_find_robot(m, 1);
    assert_string_equal(r->name, "Spot");
    assert_string_equal(r->ip_address, "10.34.22.183");
    assert_int_equal(r->detail_id, 1);
    assert_int_equal(r->shop_id, 1);
    r = assets_find_robot(m, 2);
    assert_string_equal(r->ip_address, "::1");
    assert_int_equal(r->detail_id, 0);
    assert_int_equal(r->shop_id, 0);
    const assets_equipment *c = assets_find_controller(m, 3);
    assert_non_null(c);
    assert_null(c->ip_address);
    assert_null(assets_find_robot(m, 3));
    assert_null(assets_find_robot(m, 4));
    assert_null(assets_find_controller(m, 4));
    assert_null(assets_find_robot(m, 5)->ip_address);
    assert_string_equal(assets_find_robot(m, 5)->name, "Hem");
    assert_null(assets_find_robot(m, 6)->name);

    const assets_defect *e =
        expect(m, "equipment.csv", 5, ASSETS_D_CLASS, "unknown TYPE_CLASS 'Conveyor'");
    assert_string_equal(e->raw, "4,Conveyor,10.0.0.1,Belt,1,1");
    expect(m, "equipment.csv", 8, ASSETS_D_CLASS, "unknown TYPE_CLASS ''");
    e = expect(m, "equipment.csv", 6, ASSETS_D_VALUE, "'10.0.0.300' is not an IP address");
    assert_non_null(e->raw); /* not fully applied: recorded */
    e = expect(m, "equipment.csv", 7, ASSETS_D_NO_NAME, "name NULL");
    assert_null(e->raw); /* applied: not recorded */
    assert_int_equal(count_kind(m, ASSETS_D_UNDEFINED), 0);
    assets_model_free(m);
    rm_dir(d);
}

static void test_part_axes(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "part.csv",
        "PART_ID,TYPE,COMMENTS,DETAIL_ID\n"
        "1,Joint,Joint 3,\n"       /* 2 */
        "2,Joint,Joint 1 FANUC,\n" /* 3 */
        "3,joint,JOINT 14,\n"      /* 4 */
        "4,Joint,Joint 15,\n"      /* 5: out of range */
        "5,Joint,Wrist,\n"         /* 6: no number */
        "6,Servo,Joint 2,\n"       /* 7: not a joint: no axis, no defect */
        "7,,Joint 2,\n"            /* 8: no TYPE */
        "8,Joint,Joint 3a,\n"      /* 9: not a number */
        "9,Joint,,\n");            /* 10: no comment */
    assets_model *m = read_ok(d);
    assert_int_equal(assets_find_part(m, 1)->axis, 3);
    assert_string_equal(assets_find_part(m, 1)->kind, "Joint");
    assert_string_equal(assets_find_part(m, 1)->comment, "Joint 3");
    assert_int_equal(assets_find_part(m, 2)->axis, 1);
    assert_int_equal(assets_find_part(m, 3)->axis, 14);
    assert_int_equal(assets_find_part(m, 4)->axis, 0);
    assert_int_equal(assets_find_part(m, 5)->axis, 0);
    assert_int_equal(assets_find_part(m, 6)->axis, 0);
    assert_null(assets_find_part(m, 7));
    assert_int_equal(assets_find_part(m, 8)->axis, 0);
    assert_null(assets_find_part(m, 9)->comment);
    expect(m, "part.csv", 5, ASSETS_D_NO_AXIS, "'Joint 15'");
    expect(m, "part.csv", 6, ASSETS_D_NO_AXIS, "'Wrist'");
    expect(m, "part.csv", 9, ASSETS_D_NO_AXIS, "axis NULL");
    expect(m, "part.csv", 10, ASSETS_D_NO_AXIS, "axis NULL");
    expect(m, "part.csv", 8, ASSETS_D_VALUE, "empty TYPE");
    assert_int_equal(count_kind(m, ASSETS_D_NO_AXIS), 4);
    assets_model_free(m);
    rm_dir(d);
}

static void test_feed_pivot(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "feeds.csv",
        "FEED_ID,KEY,VALUE\n1,NAME,Temperature\n1,UNIT,Degrees Celsius\n1,UPPER LIMIT,40.00\n"
        "1,LOWER LIMIT,-5.5\n1,Sensor,PT100\n2,UNIT,A\n2,UPPER LIMIT,abc\n2,LOWER LIMIT,nan\n"
        "1,UPPER LIMIT,40\n");
    assets_model *m = read_ok(d);
    const assets_feed *f = assets_find_feed(m, 1);
    assert_string_equal(f->name, "Temperature");
    assert_string_equal(f->unit, "Degrees Celsius");
    assert_true(f->has_upper && f->has_lower);
    assert_true(f->upper == 40.0);
    assert_true(f->lower == -5.5);
    assert_string_equal(assets_attr_get(&f->attrs, "Sensor"), "PT100");
    f = assets_find_feed(m, 2);
    assert_false(f->has_upper);
    assert_false(f->has_lower);
    expect(m, "feeds.csv", 8, ASSETS_D_VALUE, "UPPER LIMIT 'abc': not a number");
    expect(m, "feeds.csv", 9, ASSETS_D_VALUE, "LOWER LIMIT 'nan'");
    /* 40 and 40.00 are the same number: a duplicate, not a conflict. */
    expect(m, "feeds.csv", 10, ASSETS_D_DUPLICATE, "repeats line 4");
    expect(m, "feeds.csv", 7, ASSETS_D_NO_NAME, "feed 2 has no NAME");
    assets_model_free(m);
    rm_dir(d);
}

/* ---- row defects ---- */

static void test_row_defects_with_line_numbers(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "plant.csv",
        BOM "PLANT_ID,KEY,VALUE\r\n"
            "1,NAME,North\r\n"         /* 2 */
            "x,NAME,Bad\r\n"           /* 3: non-integer id */
            "1.5,NAME,Bad\r\n"         /* 4 */
            "0,NAME,Zero\r\n"          /* 5: ids start at 1 */
            ",NAME,None\r\n"           /* 6: empty id */
            "1,NAME,North\r\n"         /* 7: same value again: duplicate */
            "1,name,Other\r\n"         /* 8: same key, other value: conflict */
            "2,NAME\r\n"               /* 9: too few fields */
            "2,NAME,B,extra\r\n"       /* 10: too many */
            "\r\n"                     /* 11: blank, skipped */
            "2,,B\r\n"                 /* 12: empty KEY */
            "2,LOCATION,\r\n"          /* 13: empty VALUE */
            "2,NAME,\"open\r\n"        /* 14: unterminated quote */
            "2,NAME,\xff\xfe\r\n"      /* 15: not UTF-8 */
            "3,NAME,Third\r\n"         /* 16 */
            "99999999999,NAME,X\r\n"); /* 17: out of range */
    assets_model *m = read_ok(d);
    assert_int_equal(m->nplants, 2);
    assert_string_equal(assets_find_plant(m, 1)->name, "North");
    assert_string_equal(assets_find_plant(m, 3)->name, "Third");
    assert_null(assets_find_plant(m, 2));

    const assets_defect *e = expect(m, "plant.csv", 3, ASSETS_D_ID, "PLANT_ID 'x' is not an id");
    assert_string_equal(e->raw, "x,NAME,Bad");
    assert_string_equal(base(e->file), "plant.csv");
    expect(m, "plant.csv", 4, ASSETS_D_ID, "'1.5'");
    expect(m, "plant.csv", 5, ASSETS_D_ID, "'0'");
    expect(m, "plant.csv", 6, ASSETS_D_ID, "empty PLANT_ID");
    expect(m, "plant.csv", 17, ASSETS_D_ID, "'99999999999'");
    e = expect(m, "plant.csv", 7, ASSETS_D_DUPLICATE, "repeats line 2");
    assert_non_null(e->raw);
    e = expect(m, "plant.csv", 8, ASSETS_D_CONFLICT, "name is 'North' on line 2 but 'Other' here");
    assert_non_null(strstr(e->message, "first value is kept"));
    assert_string_equal(e->raw, "1,name,Other");
    expect(m, "plant.csv", 9, ASSETS_D_FIELDS, "2 fields where the header has 3");
    expect(m, "plant.csv", 10, ASSETS_D_FIELDS, "4 fields where the header has 3");
    expect(m, "plant.csv", 12, ASSETS_D_VALUE, "empty KEY");
    expect(m, "plant.csv", 13, ASSETS_D_VALUE, "empty VALUE for LOCATION");
    expect(m, "plant.csv", 14, ASSETS_D_SYNTAX, "unterminated quoted field");
    e = expect(m, "plant.csv", 15, ASSETS_D_SYNTAX, "not valid UTF-8");
    assert_string_equal(e->raw,
                        "2,NAME,\xEF\xBF\xBD\xEF\xBF\xBD"); /* made valid for the database */
    assert_null(defect_at(m, "plant.csv", 11, ASSETS_D_SYNTAX));
    /* Every one of the 13 rejected rows is recorded; the MISSING notes are not. */
    assert_int_equal(assets_count_recorded(m), 13);
    assets_model_free(m);
    rm_dir(d);
}

static void test_shop_parent_conflict_no_name_and_undefined_plant(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "plant_info.csv", "PLANT_ID,KEY,VALUE\n2,NAME,South\n3,NAME,West\n");
    put(d, "shop_info.csv",
        "SHOP_ID,KEY,VALUE,PLANT_ID\n"
        "1,NAME,West Weld,3\n"        /* 2 */
        "1,PROCESS,UNDERBODY,3\n"     /* 3 */
        "1,PROCESS,LH DOOR INNER,2\n" /* 4: names another plant */
        "1,PROCESS,HATCH,\n"          /* 5: no plant named: fine */
        "4,PROCESS,RH DOOR OUTER,2\n" /* 6: shop 4 has no NAME */
        "5,NAME,Ghost,9\n"            /* 7: plant 9 is not defined */
        "5,PROCESS,X,9\n"             /* 8 */
        "6,NAME,Nowhere,\n"           /* 9: no plant at all */
        "7,NAME,Bad,abc\n"            /* 10: bad PLANT_ID */
        "1,PROCESS,UNDERBODY,3\n");   /* 11: duplicate list entry */
    assets_model *m = read_ok(d);
    const assets_shop *s = assets_find_shop(m, 1);
    assert_int_equal(s->plant_id, 3);
    assert_int_equal(s->nprocesses, 2);
    assert_string_equal(s->processes[0], "UNDERBODY");
    assert_string_equal(s->processes[1], "HATCH");
    const assets_defect *e = expect(m, "shop_info.csv", 4, ASSETS_D_PARENT,
                                    "shop 1 is in plant 3 (line 2) but this row names plant 2");
    assert_string_equal(e->raw, "1,PROCESS,LH DOOR INNER,2");
    assert_non_null(strstr(e->message, "not applied"));

    s = assets_find_shop(m, 4);
    assert_non_null(s);
    assert_null(s->name);
    assert_int_equal(s->plant_id, 2);
    assert_string_equal(s->processes[0], "RH DOOR OUTER");
    e = expect(m, "shop_info.csv", 6, ASSETS_D_NO_NAME, "shop 4 has no NAME row");
    assert_null(e->raw);

    assert_int_equal(assets_find_shop(m, 5)->plant_id, 9);
    e = expect(m, "shop_info.csv", 7, ASSETS_D_UNDEFINED,
               "shop 5 refers to plant 9, which plant_info.csv does not define");
    assert_non_null(strstr(e->message, "placeholder"));
    assert_null(e->raw);
    assert_int_equal(count_kind(m, ASSETS_D_UNDEFINED), 1); /* once per shop, not per row */
    assert_int_equal(m->nplaceholder_plants, 1);
    assert_int_equal(m->placeholder_plants[0], 9);

    assert_int_equal(assets_find_shop(m, 6)->plant_id, 0);
    expect(m, "shop_info.csv", 9, ASSETS_D_NO_PARENT, "no row names its PLANT_ID");
    expect(m, "shop_info.csv", 10, ASSETS_D_ID, "PLANT_ID 'abc' is not an id");
    assert_null(assets_find_shop(m, 7));
    expect(m, "shop_info.csv", 11, ASSETS_D_DUPLICATE, "PROCESS 'UNDERBODY' repeats line 3");
    assets_model_free(m);
    rm_dir(d);
}

static void test_undefined_details_and_shops_get_placeholders(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "details.csv", "DETAIL_ID,KEY,VALUE\n1,PROVIDER,Kawasaki\n");
    put(d, "equipment.csv",
        "TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID\n"
        "1,Robot,,A,1,\n"         /* 2 */
        "2,Robot,,B,8,\n"         /* 3: detail 8 */
        "3,Controller,,C,4,2\n"); /* 4: detail 4, shop 2 (no shop file) */
    put(d, "part.csv", "PART_ID,TYPE,COMMENTS,DETAIL_ID\n1,Joint,Joint 1,4\n");
    put(d, "sources.csv", "SOURCE_ID,NAME,PLANT_ID,SHOP_ID\n1,North,5,2\n");
    assets_model *m = read_ok(d);
    expect(m, "equipment.csv", 3, ASSETS_D_UNDEFINED,
           "robot 2 refers to asset detail 8, which details.csv does not define");
    expect(m, "equipment.csv", 4, ASSETS_D_UNDEFINED, "controller 3 refers to asset detail 4");
    expect(m, "equipment.csv", 4, ASSETS_D_UNDEFINED,
           "controller 3 refers to shop 2, and no shop file was read");
    expect(m, "part.csv", 2, ASSETS_D_UNDEFINED, "part 1 refers to asset detail 4");
    expect(m, "sources.csv", 2, ASSETS_D_UNDEFINED, "data source 1 refers to plant 5");
    expect(m, "sources.csv", 2, ASSETS_D_UNDEFINED, "data source 1 refers to shop 2");
    assert_int_equal(count_kind(m, ASSETS_D_UNDEFINED), 6);
    assert_int_equal(m->nplaceholder_details, 2);
    assert_int_equal(m->placeholder_details[0], 4);
    assert_int_equal(m->placeholder_details[1], 8);
    assert_int_equal(m->nplaceholder_shops, 1);
    assert_int_equal(m->placeholder_shops[0], 2);
    assert_int_equal(m->nplaceholder_plants, 1);
    assert_int_equal(m->placeholder_plants[0], 5);
    /* The references are kept. */
    assert_int_equal(assets_find_controller(m, 3)->detail_id, 4);
    assert_int_equal(assets_find_part(m, 1)->detail_id, 4);
    expect(m, base(d), 0, ASSETS_D_MISSING, "no shop file");
    assets_model_free(m);
    rm_dir(d);
}

static void test_duplicate_ids_in_one_row_per_id_files(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "equipment.csv",
        "TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID\n"
        "1,Robot,10.0.0.1,A,,\n"
        "1,Robot,10.0.0.1, A ,,\n"    /* 3: same after trimming */
        "1,Controller,10.0.0.1,A,,\n" /* 4: same id, other class */
        "2,Robot,,B,,\n");
    put(d, "sources.csv", "SOURCE_ID,NAME,PLANT_ID,SHOP_ID\n1,North,,\n1,South,,\n2,,,\n");
    assets_model *m = read_ok(d);
    assert_int_equal(m->nrobots, 2);
    assert_int_equal(m->ncontrollers, 0);
    expect(m, "equipment.csv", 3, ASSETS_D_DUPLICATE, "TYPE_ID 1 repeats line 2");
    expect(m, "equipment.csv", 4, ASSETS_D_CONFLICT,
           "TYPE_ID 1 is already defined on line 2 with other values");
    assert_string_equal(assets_find_source(m, 1)->name, "North");
    expect(m, "sources.csv", 3, ASSETS_D_CONFLICT, "data source 1 is already defined on line 2");
    expect(m, "sources.csv", 4, ASSETS_D_NO_NAME, "data source 2 has an empty NAME");
    assets_model_free(m);
    rm_dir(d);
}

static void test_data_source_at_odds_with_its_shop(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "plants.csv", "PLANT_ID,KEY,VALUE\n1,NAME,A\n2,NAME,B\n");
    put(d, "shops.csv", "SHOP_ID,KEY,VALUE,PLANT_ID\n3,NAME,S,2\n");
    put(d, "sources.csv", "SOURCE_ID,NAME,PLANT_ID,SHOP_ID\n1,ok,2,3\n2,odd,1,3\n");
    assets_model *m = read_ok(d);
    expect(m, "sources.csv", 3, ASSETS_D_MISMATCH,
           "data source 2 names plant 1 and shop 3, but shop 3 is in plant 2");
    assert_int_equal(count_kind(m, ASSETS_D_MISMATCH), 1);
    assert_int_equal(assets_find_source(m, 2)->plant_id, 1); /* stored as given */
    assets_model_free(m);
    rm_dir(d);
}

/* ---- files and directories ---- */

static void test_file_level_defects(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "empty.csv", "");
    put(d, "bom_only.csv", BOM);
    put(d, "blank.csv", "\r\n\r\n");
    put(d, "header_only.csv", BOM "FEED_ID,KEY,VALUE\r\n");
    put(d, "unknown.csv", "ID,NAME\n1,x\n");
    put(d, "plant_as_shop.csv", "PLANT_ID,KEY,VALUE,EXTRA\n1,NAME,x,y\n");
    put(d, "README.txt", "notes");
    char *sub = xasprintf("%s/sub", d);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(sub);
    assets_model *m = read_ok(d);
    expect(m, "empty.csv", 0, ASSETS_D_EMPTY, "empty file");
    expect(m, "bom_only.csv", 0, ASSETS_D_EMPTY, "empty file");
    expect(m, "blank.csv", 0, ASSETS_D_EMPTY, "empty file");
    expect(m, "header_only.csv", 1, ASSETS_D_EMPTY, "no data rows");
    const assets_defect *e =
        expect(m, "unknown.csv", 1, ASSETS_D_HEADER, "unrecognised header 'ID,NAME'");
    assert_string_equal(e->raw, "ID,NAME");
    assert_non_null(strstr(e->message, "file skipped"));
    expect(m, "plant_as_shop.csv", 1, ASSETS_D_HEADER, "file skipped");
    expect(m, "README.txt", 0, ASSETS_D_NOT_CSV, "not a .csv file");
    assert_int_equal(count_kind(m, ASSETS_D_NOT_CSV), 1); /* the subdirectory is passed over */
    assert_int_equal(count_kind(m, ASSETS_D_MISSING), 6); /* all but feed */
    assert_int_equal(m->nfiles, 6);
    assert_int_equal(m->nplants, 0);
    /* Directory notes come after the files' defects. */
    assert_int_equal(m->defects[m->ndefects - 1].line, 0);
    assert_string_equal(m->defects[m->ndefects - 1].file, d);
    assets_model_free(m);
    rm_dir(d);
}

static void test_directory_errors(void **state)
{
    (void)state;
    char err[512];
    assets_model *m = assets_model_new();
    assert_int_equal(assets_read_dir(m, "/nonexistent/pgpulse-assets", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/pgpulse-assets: No such file or directory"));
    assets_model_free(m);

    char *d = tmp_dir();
    put(d, "notes.txt", "x");
    m = assets_model_new();
    assert_int_equal(assets_read_dir(m, d, err, sizeof err), -1);
    assert_non_null(strstr(err, "no .csv files"));
    assets_model_free(m);

    /* A file over the bound is refused before it is read. */
    put(d, "a.csv", "PLANT_ID,KEY,VALUE\n1,NAME,x\n");
    char *big = xasprintf("%s/big.csv", d);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)ASSETS_MAX_FILE + 1), 0);
    close(fd);
    m = assets_model_new();
    assert_int_equal(assets_read_dir(m, d, err, sizeof err), -1);
    assert_non_null(strstr(err, "big.csv: 16777217 bytes"));
    assert_non_null(strstr(err, "at most 16777216 bytes"));
    assets_model_free(m);
    /* Exactly at the bound is accepted (it is all NUL bytes: one rejected line). */
    fd = open(big, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "PLANT_ID,KEY,VALUE\n", 19), 19);
    assert_int_equal(ftruncate(fd, (off_t)ASSETS_MAX_FILE), 0);
    close(fd);
    m = read_ok(d);
    expect(m, "big.csv", 2, ASSETS_D_SYNTAX, "line longer than 65536 bytes: row rejected");
    assets_model_free(m);
    free(big);
    rm_dir(d);
}

static void test_defects_are_sorted_and_printed(void **state)
{
    (void)state;
    char *d = tmp_dir();
    put(d, "b.csv", "PLANT_ID,KEY,VALUE\n1,NAME,x\nbad,NAME,y\n");
    put(d, "a.csv", "SHOP_ID,KEY,VALUE,PLANT_ID\n1,PROCESS,P,7\nz,NAME,S,1\n");
    char *slashed = xasprintf("%s//", d);
    assets_model *m = read_ok(slashed);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assets_print_defects(m, f);
    fclose(f);
    /* a.csv was read first (name order); its line 2 (no NAME, undefined plant) precedes
     * line 3; then b.csv; then the directory's notes. */
    char *expect_start = xasprintf(
        "%s/a.csv:2: shop 1 has no NAME row: loaded with name NULL\n"
        "%s/a.csv:2: shop 1 refers to plant 7, which b.csv does not define: reference kept, "
        "plant 7 stored as a placeholder (unless already stored)\n"
        "%s/a.csv:3: SHOP_ID 'z' is not an id (a whole number from 1 to 2147483647): row "
        "rejected\n"
        "%s/b.csv:3: PLANT_ID 'bad' is not an id (a whole number from 1 to 2147483647): row "
        "rejected\n"
        "%s: no part details file",
        d, d, d, d, d);
    if (strncmp(out, expect_start, strlen(expect_start)) != 0)
        fail_msg("printed:\n%s\nexpected to start with:\n%s", out, expect_start);
    free(expect_start);
    free(out);
    free(slashed);
    assets_model_free(m);
    rm_dir(d);
}

/* ---- the workshop's files ---- */

static void test_workshop_files(void **state)
{
    (void)state;
    const char *shared = getenv("PGPULSE_SHARED");
    if (!shared || !*shared) {
        printf("PGPULSE_SHARED is not set: the workshop's files are not checked here\n");
        skip();
    }
    char *dir = xasprintf("%s/data/workshop/assets", shared);
    assets_model *m = read_ok(dir);
    assert_int_equal(m->nfiles, 7);
    assert_int_equal(m->nplants, 3);
    assert_int_equal(m->nshops, 4);
    assert_int_equal(m->ndetails, 3);
    assert_int_equal(m->nrobots, 6);
    assert_int_equal(m->ncontrollers, 2);
    assert_int_equal(m->nparts, 15);
    assert_int_equal(m->nsources, 3);
    assert_int_equal(m->nfeeds, 2);
    assert_string_equal(assets_find_plant(m, 3)->location, "Woodstock");
    const assets_shop *s = assets_find_shop(m, 1);
    assert_int_equal(s->plant_id, 3);
    assert_int_equal(s->nprocesses, 3);
    assert_string_equal(s->processes[2], "HATCH");
    assert_null(assets_find_shop(m, 4)->name);
    assert_string_equal(assets_find_detail(m, 2)->purchase_date, "2007-12-15");
    assert_int_equal(assets_find_part(m, 8)->axis, 1);
    assert_int_equal(assets_find_part(m, 7)->axis, 7);
    assert_int_equal(assets_find_part(m, 9)->axis, 0);
    assert_true(assets_find_feed(m, 2)->upper == 40.0);
    assert_int_equal(m->nplaceholder_details, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(m->placeholder_details[i], (int32_t)i + 4);

    /* Exactly these defects. */
    assert_int_equal(m->ndefects, 9);
    expect(m, "equipment.csv", 5, ASSETS_D_UNDEFINED, "robot 4 refers to asset detail 4");
    expect(m, "equipment.csv", 6, ASSETS_D_UNDEFINED, "robot 5 refers to asset detail 6");
    expect(m, "equipment.csv", 7, ASSETS_D_UNDEFINED, "robot 6 refers to asset detail 5");
    expect(m, "equipment.csv", 8, ASSETS_D_UNDEFINED, "controller 7 refers to asset detail 7");
    expect(m, "equipment.csv", 9, ASSETS_D_UNDEFINED, "controller 8 refers to asset detail 8");
    expect(m, "part.csv", 9, ASSETS_D_UNDEFINED, "part 8 refers to asset detail 4");
    expect(m, "shop_info.csv", 10, ASSETS_D_PARENT, "names plant 2");
    expect(m, "shop_info.csv", 11, ASSETS_D_PARENT, "names plant 2");
    expect(m, "shop_info.csv", 13, ASSETS_D_NO_NAME, "shop 4 has no NAME row");
    assert_int_equal(assets_count_recorded(m), 2);
    assets_model_free(m);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plant_and_shop_pivot),
        cmocka_unit_test(test_header_any_case_and_order),
        cmocka_unit_test(test_detail_pivot_and_dates),
        cmocka_unit_test(test_equipment_robots_and_controllers),
        cmocka_unit_test(test_part_axes),
        cmocka_unit_test(test_feed_pivot),
        cmocka_unit_test(test_row_defects_with_line_numbers),
        cmocka_unit_test(test_shop_parent_conflict_no_name_and_undefined_plant),
        cmocka_unit_test(test_undefined_details_and_shops_get_placeholders),
        cmocka_unit_test(test_duplicate_ids_in_one_row_per_id_files),
        cmocka_unit_test(test_data_source_at_odds_with_its_shop),
        cmocka_unit_test(test_file_level_defects),
        cmocka_unit_test(test_directory_errors),
        cmocka_unit_test(test_defects_are_sorted_and_printed),
        cmocka_unit_test(test_workshop_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
