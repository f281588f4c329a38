/* pgpulse learn: online learning — with --replay over any CSV file (learn_replay.h); without,
 * the live stage over new readings (stage_learn.h), a stream consumer like `detect`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "learn_replay.h"

static void cmd_learn_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse learn --replay IN.csv --target COL [options]\n"
            "       pgpulse learn [consumer options]     the live stage (see pgpulse live --help)\n"
            "With --replay: learns online over a CSV file with a header, predicting each row\n"
            "before learning it (prequential), and prints the figures as one JSON object, the\n"
            "last line of standard output. Every column but the target, the key and the ignored\n"
            "ones is an input; text columns are categories. See docs/learn.md.\n\n"
            "  --replay FILE       the CSV file\n"
            "  --target COL        the column to predict\n"
            "  --task T            classify or regress (default: classify a target of text or of\n"
            "                      at most 16 distinct integers, regress other numbers)\n"
            "  --key COL           a column naming the unit (machine, robot): adds each key's\n"
            "                      rolling features (lags, EWMA means and deviations, age)\n"
            "  --ignore COLS       comma separated columns that are not inputs (ids, leaks)\n"
            "  --test-from ROW     data rows from ROW on (1 = the first after the header) are\n"
            "                      predicted, not learned; the figures cover them only\n"
            "  --model NAME        forest (classification default), linear (regression\n"
            "                      default), rls (regression, up to 16 features)\n"
            "  --positive VALUE    the positive class for score, ROC-AUC and PR-AUC (default:\n"
            "                      the largest number, or the last text in byte order)\n"
            "  --out FILE          the rows with prediction (and score, the positive class's\n"
            "                      probability) appended ('-': standard output)\n"
            "  --seed S            the forest's random seed (default 1)\n");
}

static int cmd_learn_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"replay", required_argument, NULL, 'r'}, {"target", required_argument, NULL, 't'},
        {"task", required_argument, NULL, 'T'},   {"key", required_argument, NULL, 'k'},
        {"ignore", required_argument, NULL, 'i'}, {"test-from", required_argument, NULL, 'f'},
        {"model", required_argument, NULL, 'm'},  {"positive", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},    {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    learn_replay_opts o = {.seed = 1, .msgs = stderr};
    long v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r': o.in = optarg; break;
        case 't': o.target = optarg; break;
        case 'T':
            if (strcmp(optarg, "classify") && strcmp(optarg, "regress")) {
                cli_error("learn", "--task: expected classify or regress, got '%s'", optarg);
                return CLI_USAGE;
            }
            o.task = optarg;
            break;
        case 'k': o.key = optarg; break;
        case 'i': o.ignore = optarg; break;
        case 'f':
            if (cli_parse_long("learn", "--test-from", optarg, 1, 0x7fffffffffffffffL, &v)) return CLI_USAGE;
            o.test_from = v;
            break;
        case 'm': o.model = optarg; break;
        case 'p': o.positive = optarg; break;
        case 'o': o.out = optarg; break;
        case 's':
            if (cli_parse_long("learn", "--seed", optarg, 0, 0x7fffffffffffffffL, &v)) return CLI_USAGE;
            o.seed = (uint64_t)v;
            break;
        case 'h': cmd_learn_usage(stdout); return CLI_OK;
        default: cmd_learn_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc || !o.in || !o.target) {
        if (!o.target && o.in) cli_error("learn", "--target COL is needed with --replay");
        cmd_learn_usage(stderr);
        return CLI_USAGE;
    }
    char err[1024];
    json_t *res = learn_replay_run(&o, err, sizeof err);
    if (!res) {
        cli_error("learn", "%s", err);
        return CLI_FAIL;
    }
    char *line = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", line);
    free(line);
    json_decref(res);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

int cmd_learn(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--replay") || !strncmp(argv[i], "--replay=", 9)) return cmd_learn_replay(argc, argv);
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            cmd_learn_usage(stdout);
            return CLI_OK;
        }
    return cmd_consume_stage(argc, argv, "learn", "learn");
}
