/* gen: the fleet simulator. A pure, deterministic generator of robot readings with labelled
 * faults: same profile, options and seed, same rows, byte for byte. No I/O; cmd_gen.c paces
 * it and writes it (CSV or the database).
 *
 * Each robot runs a motion program — a fixed per-axis current waveform of program_s seconds
 * (about 31 s for the workshop's robot), correlated across axes — then idles with every axis
 * exactly 0, and repeats. A sampler reads it at intervals drawn from the profile, so samples
 * fall at random phases of the program; that, the program's stratified levels and a little
 * measurement noise reproduce the profile's distributions (genprof.h). Around each program
 * the axes switch on (a start ramp) and off (an end ramp) one after another: a sample that
 * falls in a ramp is an edge row, with the profile's sets of non-zero axes and holding
 * currents on them (the others exactly 0). Ramp lengths are drawn so that the number of edge
 * rows per run end follows the profile; rows with one to three axes on therefore sit only
 * beside a rest, as on the real robot. A profile without edges has no ramps. Value faults act
 * on an edge row as on any row (an offset on an axis reading 0 there shows, as on idle
 * rows). Robots differ by
 * program (one of up to 8 models), payload (current scale 0.85..1.15) and idle habits; the
 * first robot is the reference: model 0, scale 1, so it reproduces the profile itself.
 * Currents are never negative.
 *
 * Faults (with --faults default or heavy), each reported with robot, axis (0: all), kind,
 * level and the time range of the rows it affected (earliest to latest timestamp, as emitted):
 *   plateau  15-45 rows offset by 2-4 sigma (ALERT, 70 %) or 4-6 sigma (ERROR, 30 %), sigma
 *            being the axis's overall standard deviation (the workshop's rule)
 *   spike    one row raised by 1.5-3 times the axis's largest running current, beyond anything
 *            it reads in normal operation (ERROR; magnitude in sigmas, some 15-40)
 *   stuck    the sensor repeats one non-zero value for 20-120 rows (ALERT)
 *   noise    20-100 rows with added noise of 1.5-3 sigma (ALERT)
 *   dropout  a silence longer than the robot's own pauses: 1.25-2.5 times the profile's
 *            longest gap (504-1008 s for the default profile), at least 60-900 s (ALERT)
 *   wear     6-48 h of one axis's current rising by 40-80 % and its noise doubling, ending in
 *            a failure, 1-4 h of repair without rows, then a healthy robot (ALERT; the failure
 *            and the repair are maintenance events)
 *   duplicate  a row sent twice; late  a row held back 5-120 s (so out of order);
 *   clock_jump the robot's clock off by 30-900 s (either way) for 5-60 min (ALERT)
 * Rates per robot and simulated hour (default): plateau 0.4, spike 0.5, stuck 0.1, noise 0.2,
 * dropout 0.05, wear 1 per 7 days, duplicate 0.5, late 0.5, clock_jump 0.03; heavy: 5 times
 * as many (wear 3 times). Faults draw from their own random streams: the same seed with and
 * without faults gives the same signal outside the faults' ranges. */
#ifndef PGPULSE_GEN_H
#define PGPULSE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "genprof.h"
#include "readingcsv.h"

typedef enum gen_faults {
    GEN_FAULTS_NONE = 0,
    GEN_FAULTS_DEFAULT = 1,
    GEN_FAULTS_HEAVY = 2,
} gen_faults;

typedef enum gen_kind {
    GEN_PLATEAU,
    GEN_SPIKE,
    GEN_STUCK,
    GEN_NOISE,
    GEN_DROPOUT,
    GEN_WEAR,
    GEN_DUPLICATE,
    GEN_LATE,
    GEN_CLOCK_JUMP,
    GEN_NKINDS
} gen_kind;

#define GEN_ALERT 1
#define GEN_ERROR 2

typedef struct gen_opts {
    int robots;            /* fleet size, >= 1 */
    int32_t first_robot;   /* id of the first robot; the others follow */
    uint64_t seed;
    int64_t start_us;      /* simulated start (µs since 1970) */
    double interval_scale; /* sampling intervals and gaps are the profile's times this (> 0) */
    gen_faults faults;
} gen_opts;

typedef struct gen_fault {
    int32_t robot_id;
    int axis;          /* 1..8; 0 for the whole robot */
    gen_kind kind;
    int level;         /* GEN_ALERT or GEN_ERROR */
    int64_t ts_start;  /* earliest timestamp of an affected row, as emitted (µs) */
    int64_t ts_end;    /* latest (for dropout: of the rows that are missing, as they would
                          have been stamped) */
    double magnitude;  /* plateau/spike/noise: sigmas; wear: rise (fraction); late, clock_jump,
                          dropout: seconds */
    int64_t rows;      /* rows affected (missing, for dropout and repair) */
} gen_fault;

typedef enum gen_event_kind { GEN_FAILURE, GEN_REPAIR } gen_event_kind;

/* A maintenance event (from wear). */
typedef struct gen_event {
    int32_t robot_id;
    int axis;
    gen_event_kind kind;
    int64_t ts;
} gen_event;

typedef struct gen gen;

/* Creates a simulator (the profile is copied). */
gen *gen_new(const genprof *p, const gen_opts *o);

/* The next row, in emission order (rows are not always in time order when faults reorder
 * them). The stream has no end. */
void gen_next(gen *g, reading *out);

/* The next row already queued (after gen_close: the late rows it released), without
 * simulating further: returns 1 and fills *out, or 0 when none is queued. */
int gen_next_queued(gen *g, reading *out);

/* Finished faults and maintenance events, in the order they finished: returns 1 and fills
 * *out while there are any. */
int gen_pop_fault(gen *g, gen_fault *out);
int gen_pop_event(gen *g, gen_event *out);

/* Ends every fault still in progress at the last row emitted, so that gen_pop_fault reports
 * it (call at the end of a run). */
void gen_close(gen *g);

/* Simulated time of the newest sample (µs). */
int64_t gen_now(const gen *g);

/* Releases g. NULL-safe. */
void gen_free(gen *g);

/* The mean sampling interval of the profile at interval_scale 1 (s, gaps included), and the
 * interval_scale that gives a mean interval of `seconds` (intervals and gaps both scale). */
double gen_mean_interval(const genprof *p);
double gen_scale_for_interval(const genprof *p, double seconds);

/* Tunes p->persist so that simulated lag-1 autocorrelations match p->target.lag1, and the
 * idle durations so that the all-idle share matches p->target.idle_fraction (12 rounds of
 * bisection, each on 150,000-row simulations of one robot with 3 seeds). */
void gen_calibrate(genprof *p, uint64_t seed);

/* Names: "plateau", ...; "ALERT"/"ERROR". gen_kind_parse returns -1 for an unknown name. */
const char *gen_kind_name(gen_kind k);
const char *gen_level_name(int level);

#endif
