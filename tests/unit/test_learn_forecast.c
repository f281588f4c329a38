/* Unit tests for learn_forecast: on simulated robots (src/gen.c, no faults) the forecaster
 * finds the program cycle, aligns runs to its waveform memory and forecasts every axis, 1 and
 * 10 readings ahead, with a mean absolute error below the best naive baseline (last value,
 * same phase of the previous run, same phase of the previous cycle, running mean, running
 * median) on every axis. Randomised: the seed is printed and
 * PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gen.h"
#include "learn_forecast.h"
#include "seed.h"

static uint64_t seed;

static const char *method_name[LEARN_FC_METHODS] = {"model", "last", "prev_run", "prev_cycle", "mean", "median"};

static void run_robots(int robots, double hours, learn_fc *fc)
{
    genprof p;
    genprof_default(&p);
    gen_opts o = {.robots = robots, .first_robot = 1, .seed = seed, .start_us = 1767225600000000LL,
                  .interval_scale = 1, .faults = GEN_FAULTS_NONE};
    gen *g = gen_new(&p, &o);
    int64_t end = o.start_us + (int64_t)(hours * 3600e6);
    reading r;
    for (;;) {
        gen_next(g, &r);
        if (r.ts_us >= end) break;
        learn_fc_step(&fc[r.robot_id - 1], r.ts_us, r.axis);
    }
    gen_free(g);
}

/* A state made elsewhere and read back (as the API reads the stage's) goes on as it would have
 * there: a child process learns a robot for two hours, sends its state, ten more minutes of
 * readings and the state after them; this process, which has not made a forecaster of its own
 * (so this test runs first), takes the same readings from the copy and must end in the same
 * bytes. */
static void read_all_of(int fd, void *p, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t got = read(fd, (char *)p + off, n - off);
        assert_true(got > 0);
        off += (size_t)got;
    }
}

static void test_state_read_back(void **state)
{
    (void)state;
    enum { MAXR = 4096 };
    static learn_fc a, b;
    static reading more[MAXR];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        genprof p;
        genprof_default(&p);
        gen_opts o = {.robots = 1, .first_robot = 1, .seed = seed, .start_us = 1767225600000000LL,
                      .interval_scale = 1, .faults = GEN_FAULTS_NONE};
        gen *g = gen_new(&p, &o);
        learn_fc_init(&a);
        reading r;
        int n = 0;
        for (;;) {
            gen_next(g, &r);
            if (r.ts_us >= o.start_us + 7200000000LL) break;
            learn_fc_step(&a, r.ts_us, r.axis);
        }
        b = a;
        for (more[n++] = r; n < MAXR; n++) {
            gen_next(g, &more[n]);
            if (more[n].ts_us >= o.start_us + 7800000000LL) break;
        }
        for (int i = 0; i < n; i++) learn_fc_step(&b, more[i].ts_us, more[i].axis);
        gen_free(g);
        int ok = write(fds[1], &a, sizeof a) == (ssize_t)sizeof a && write(fds[1], &n, sizeof n) == (ssize_t)sizeof n &&
                 write(fds[1], more, sizeof *more * (size_t)n) == (ssize_t)(sizeof *more * (size_t)n) &&
                 write(fds[1], &b, sizeof b) == (ssize_t)sizeof b;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    int n;
    read_all_of(fds[0], &a, sizeof a);
    read_all_of(fds[0], &n, sizeof n);
    assert_true(n > 100 && n <= MAXR);
    read_all_of(fds[0], more, sizeof *more * (size_t)n);
    read_all_of(fds[0], &b, sizeof b);
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < n; i++) learn_fc_step(&a, more[i].ts_us, more[i].axis);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_beats_naive_baselines(void **state)
{
    (void)state;
    enum { ROBOTS = 3 };
    static learn_fc fc[ROBOTS];
    for (int i = 0; i < ROBOTS; i++) learn_fc_init(&fc[i]);
    run_robots(ROBOTS, 96, fc);
    for (int i = 0; i < ROBOTS; i++) printf("robot %d: cycle %d runs, run %.1f s, %d runs\n", i + 1,
                                            fc[i].period, fc[i].run_us / 1e6, fc[i].runs);
    int skilled = 0;
    for (int h = 0; h < LEARN_FC_HORIZONS; h++)
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            double mae[LEARN_FC_METHODS] = {0};
            int64_t n = 0;
            for (int i = 0; i < ROBOTS; i++) {
                n += fc[i].score[h][a].n;
                for (int k = 0; k < LEARN_FC_METHODS; k++) mae[k] += fc[i].score[h][a].abs[k];
            }
            double best = INFINITY;
            int bestk = 0;
            for (int k = 0; k < LEARN_FC_METHODS; k++) {
                mae[k] /= (double)n;
                if (k && mae[k] < best) best = mae[k], bestk = k;
            }
            printf("h%d axis%d: n %lld model %.3f best naive %.3f (%s) ratio %.2f\n",
                   learn_fc_horizon[h], a + 1, (long long)n, mae[0], best, method_name[bestk], mae[0] / best);
            /* Four days of three robots: the waveform memory has filled, and the forecast is
             * below every naive baseline (the running median included) on every axis — one
             * reading ahead by 5 % or more (typically 10-18 %), ten ahead never worse (a target
             * ten readings on is in another run more often than not, where only its
             * distribution is known).
             * Since the simulator draws the real robot's run edges (axes switching on and off
             * one after another, issue 13), over seeds 101-170 the worst axis's ratio was
             * 0.82-0.91 one ahead and 0.95-0.98 ten ahead, with 8-11 axis-horizons 10 % below
             * the best naive (without edge rows: 0.69-0.81 one ahead before that issue). The
             * bounds, with a margin for seeds not seen: 0.95 one ahead, never worse than the
             * best naive ten ahead, and at least 6 axis-horizons 10 % below it. */
            assert_true(mae[0] <= (h == 0 ? 0.95 : 1.0) * best);
            if (mae[0] < 0.9 * best) skilled++;
        }
    printf("%d of %d axis-horizons at least 10 %% below the best naive baseline\n", skilled,
           LEARN_FC_HORIZONS * LEARN_FC_AXES);
    assert_true(skilled >= 6);
}

int main(void)
{
    seed = test_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_read_back), /* first: see there */
        cmocka_unit_test(test_beats_naive_baselines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
