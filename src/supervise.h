/* supervise: runs the pipeline's stages as child processes of one terminal — each child's
 * output prefixed with its name, a child that exits or crashes restarted with backoff (1 s
 * doubling to 30 s, back to 1 s once it has run for a minute), and a clean stop: SIGTERM to
 * every child, SIGKILL after 10 s. */
#ifndef PGPULSE_SUPERVISE_H
#define PGPULSE_SUPERVISE_H

#include <signal.h>

typedef struct supervise_child {
    const char *name;        /* the log prefix */
    char *const *argv;       /* arguments to this program (argv[0] is the subcommand) */
    const char *db;          /* the child's PGPULSE_DB (NULL: inherited): a connection string
                                travels in the environment, which other users cannot read,
                                never on the command line, which they can */
} supervise_child;

/* Runs the children until *stop becomes non-zero, then stops them. Returns 0, or -1 if this
 * program's path cannot be found. */
int supervise_run(const supervise_child *children, int n, volatile sig_atomic_t *stop);

#endif
