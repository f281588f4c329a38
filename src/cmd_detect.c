/* pgpulse detect: the outlier stage over new readings (a stream consumer, like `live`), or with
 * --replay the same detectors over a CSV file (detect_replay.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "detect.h"
#include "detect_replay.h"

static void cmd_detect_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse detect [consumer options]      the live stage (see pgpulse live --help)\n"
            "       pgpulse detect --replay IN.csv [--out OUT.csv] [options]\n"
            "Runs the outlier detectors. Live, over new readings: anomaly episodes into the\n"
            "anomaly table and a NOTIFY on pgpulse_anomaly, exactly once. With --replay, over a\n"
            "CSV file: a header, a time column (timestamp, ts or time: ISO 8601 or epoch\n"
            "seconds), an optional robot_id column keying the state, every other numeric column\n"
            "a channel; OUT repeats the input and appends anomaly_score (0..1) and label (0/1).\n\n"
            "  --replay FILE       the CSV to replay ('-': standard input)\n"
            "  --out FILE          where the scored CSV goes (default '-': standard output)\n"
            "  --detector LIST     all (default) or some of regress,robust,cusum,hst,quality\n"
            "  --episodes FILE     also write the merged episodes as CSV\n"
            "  --explain           add level, channel and detector columns to OUT\n"
            "  --channels LIST     the channel columns (default: every numeric column)\n"
            "  --bridge N          points without a flag that end an episode (default 10)\n"
            "  --max-keys N        robot_id values given a state (~29 KB each), at most; lines\n"
            "                      of further ones are skipped as bad (default %d)\n"
            "  --set NAME=NUMBER   a setting of the score's combiner (detect_combine.h), for\n"
            "                      tuning; repeatable\n",
            DETECT_REPLAY_MAX_KEYS);
}

static int cmd_detect_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"replay", required_argument, NULL, 'r'},   {"out", required_argument, NULL, 'o'},
        {"detector", required_argument, NULL, 'd'}, {"episodes", required_argument, NULL, 'e'},
        {"explain", no_argument, NULL, 'x'},        {"channels", required_argument, NULL, 'c'},
        {"bridge", required_argument, NULL, 'b'},   {"max-keys", required_argument, NULL, 'k'},
        {"set", required_argument, NULL, 's'},      {"help", no_argument, NULL, 'h'},
        {0}};
    const char *in_path = NULL, *out_path = "-", *ep_path = NULL;
    detect_cfg cfg;
    detect_cfg_default(&cfg);
    detect_replay_opts o = {.cfg = &cfg, .msgs = stderr};
    char err[1024];
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'd':
            if (detect_parse_enabled(optarg, &cfg.enabled, err, sizeof err)) {
                cli_error("detect", "--detector: %s", err);
                return CLI_USAGE;
            }
            break;
        case 'e': ep_path = optarg; break;
        case 'x': o.explain = 1; break;
        case 'c': o.channels = optarg; break;
        case 'b':
            if (cli_parse_long("detect", "--bridge", optarg, 1, 1000000, &v)) return CLI_USAGE;
            o.bridge = (int)v;
            break;
        case 'k':
            if (cli_parse_long("detect", "--max-keys", optarg, 1, 100000000, &v)) return CLI_USAGE;
            o.max_keys = v;
            break;
        case 's':
            if (detect_combine_cfg_set(&cfg.combine, optarg, err, sizeof err)) {
                cli_error("detect", "--set: %s", err);
                return CLI_USAGE;
            }
            break;
        case 'h': cmd_detect_usage(stdout); return CLI_OK;
        default: cmd_detect_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc || !in_path) {
        cmd_detect_usage(stderr);
        return CLI_USAGE;
    }
    int fd = 0;
    if (strcmp(in_path, "-") != 0 && (fd = open(in_path, O_RDONLY | O_CLOEXEC)) < 0) {
        cli_error("detect", "%s: %s", in_path, strerror(errno));
        return CLI_FAIL;
    }
    o.in_name = strcmp(in_path, "-") ? in_path : "stdin";
    FILE *out = stdout, *ep = NULL;
    int rc = CLI_FAIL;
    if (strcmp(out_path, "-") != 0 && !(out = fopen(out_path, "w"))) {
        cli_error("detect", "%s: %s", out_path, strerror(errno));
        out = NULL;
        goto cleanup;
    }
    if (ep_path && !(ep = fopen(ep_path, "w"))) {
        cli_error("detect", "%s: %s", ep_path, strerror(errno));
        goto cleanup;
    }
    o.episodes = ep;
    detect_replay_stats st;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (detect_replay_run(fd, out, &o, &st, err, sizeof err)) {
        cli_error("detect", "%s", err);
        goto cleanup;
    }
    if (fflush(out) != 0 || (ep && fflush(ep) != 0)) {
        cli_error("detect", "writing: %s", strerror(errno));
        goto cleanup;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr,
            "detect: %s: %lld lines (%lld skipped), %d channel%s, %lld key%s, %lld flagged, "
            "%lld episodes in %.2f s (%.0f lines/s)\n",
            o.in_name, (long long)st.lines, (long long)st.bad, st.channels, st.channels == 1 ? "" : "s",
            (long long)st.keys, st.keys == 1 ? "" : "s", (long long)st.flagged,
            (long long)st.episodes, s, s > 0 ? (double)st.lines / s : 0.0);
    rc = CLI_OK;

cleanup:
    if (fd > 0) close(fd);
    if (out && out != stdout && fclose(out) != 0 && rc == CLI_OK) {
        cli_error("detect", "%s: %s", out_path, strerror(errno));
        rc = CLI_FAIL;
    }
    if (ep && fclose(ep) != 0 && rc == CLI_OK) {
        cli_error("detect", "%s: %s", ep_path, strerror(errno));
        rc = CLI_FAIL;
    }
    return rc;
}

int cmd_detect(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--replay") || !strncmp(argv[i], "--replay=", 9)) return cmd_detect_replay(argc, argv);
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            cmd_detect_usage(stdout);
            return CLI_OK;
        }
    return cmd_consume_stage(argc, argv, "detect", "detect");
}
