/* Unit tests of progress: silent when stderr is not a terminal; on a terminal (a pseudo-
 * terminal here) a bar with percent, rows, rate and ETA, rate-limited, cleared at the end. */
#define _XOPEN_SOURCE 600
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "progress.h"
#include "util.h"

static void test_silent_without_terminal(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(2);
    dup2(fds[1], 2);
    progress p;
    progress_start(&p, 1000);
    assert_false(p.enabled);
    util_sleep_ms(120);
    progress_update(&p, 1024, 500);
    progress_finish(&p);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    char got[64];
    assert_int_equal(read(fds[0], got, sizeof got), 0); /* nothing was written */
    close(fds[0]);
    assert_true(progress_elapsed(&p) >= 0.1);
}

static void test_bar_on_a_terminal(void **state)
{
    (void)state;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) skip();
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    int saved = dup(2);
    dup2(slave, 2);
    progress p;
    progress_start(&p, 2000);
    progress_update(&p, 1024, 1000); /* too early: nothing drawn */
    util_sleep_ms(120);
    progress_update(&p, 1000, 1000); /* not a multiple of 1024: not even checked */
    progress_update(&p, 2048, 1000); /* drawn */
    progress_finish(&p);
    dup2(saved, 2);
    close(saved);
    /* Every write to the terminal has ended, but the master may hand them back in more than one
     * read (the bar and the clearing are two writes): read until the clearing is in or 5 s pass. */
    char got[512] = {0};
    size_t n = 0;
    for (int waited = 0; n < sizeof got - 1 && !strstr(got, "\r\033[K") && waited < 5000;) {
        struct pollfd pfd = {.fd = master, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) {
            waited += 100;
            continue;
        }
        ssize_t r = read(master, got + n, sizeof got - 1 - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    assert_true(n > 0);
    assert_non_null(strstr(got, "50.0%"));
    assert_non_null(strstr(got, "2,048 rows"));
    assert_non_null(strstr(got, "rows/s"));
    assert_non_null(strstr(got, "ETA"));
    assert_non_null(strstr(got, "\r\033[K")); /* cleared at the end */
    close(slave);
    close(master);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silent_without_terminal),
        cmocka_unit_test(test_bar_on_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
