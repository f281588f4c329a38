/* supervise: child processes with prefixed logs, restarts and a clean stop (supervise.h). */
#define _GNU_SOURCE /* pipe2 */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define SUPERVISE_MAX 16
#define SUPERVISE_STOP_US (10 * 1000000)

typedef struct supervise_proc {
    const supervise_child *spec;
    pid_t pid;           /* 0: not running */
    int fd;              /* read end of its output, -1 if none */
    char line[4096];     /* a partial line */
    size_t len;
    int64_t started_us;
    int64_t restart_at_us; /* when to start it again (0: now) */
    int backoff_ms;
} supervise_proc;

static void supervise_emit(supervise_proc *p, const char *s, size_t n)
{
    printf("[%s] %.*s\n", p->spec->name, (int)n, s);
    fflush(stdout);
}

/* Prints the complete lines in p's buffer. */
static void supervise_drain(supervise_proc *p, int final)
{
    size_t start = 0;
    for (size_t i = 0; i < p->len; i++)
        if (p->line[i] == '\n') {
            supervise_emit(p, p->line + start, i - start);
            start = i + 1;
        }
    memmove(p->line, p->line + start, p->len - start);
    p->len -= start;
    if (p->len == sizeof p->line || (final && p->len)) {
        supervise_emit(p, p->line, p->len);
        p->len = 0;
    }
}

static int supervise_start(supervise_proc *p, const char *self)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        /* The children stop on the supervisor's SIGTERM, not on the terminal's Ctrl-C. */
        signal(SIGINT, SIG_IGN);
        if (p->spec->db && setenv("PGPULSE_DB", p->spec->db, 1) != 0) _exit(126);
        size_t argc = 0;
        while (p->spec->argv[argc]) argc++;
        char **av = xcalloc(argc + 2, sizeof *av);
        av[0] = (char *)self;
        for (size_t i = 0; i < argc; i++) av[i + 1] = p->spec->argv[i];
        execv(self, av);
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->fd = fds[0];
    p->started_us = util_mono_us();
    return 0;
}

int supervise_run(const supervise_child *children, int n, volatile sig_atomic_t *stop)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = '\0';
    if (n > SUPERVISE_MAX) n = SUPERVISE_MAX;
    supervise_proc procs[SUPERVISE_MAX];
    memset(procs, 0, sizeof procs);
    for (int i = 0; i < n; i++) {
        procs[i].spec = &children[i];
        procs[i].fd = -1;
        procs[i].backoff_ms = 1000;
    }
    int64_t stop_deadline = 0;
    for (;;) {
        int64_t now = util_mono_us();
        int running = 0;
        for (int i = 0; i < n; i++) {
            supervise_proc *p = &procs[i];
            if (!p->pid && !*stop && now >= p->restart_at_us) {
                if (supervise_start(p, self) != 0)
                    fprintf(stderr, "pgpulse run: cannot start %s: %s\n", p->spec->name,
                            strerror(errno));
            }
            running += p->pid != 0;
        }
        if (*stop) {
            if (!stop_deadline) {
                stop_deadline = now + SUPERVISE_STOP_US;
                for (int i = 0; i < n; i++)
                    if (procs[i].pid) kill(procs[i].pid, SIGTERM);
            } else if (now > stop_deadline) {
                for (int i = 0; i < n; i++)
                    if (procs[i].pid) kill(procs[i].pid, SIGKILL);
            }
            int open = 0;
            for (int i = 0; i < n; i++) open += procs[i].fd >= 0;
            if (!running && !open) break;
        }
        /* Wait for output (or a timeout, to notice exits and due restarts). */
        struct pollfd pfd[SUPERVISE_MAX];
        int np = 0, map[SUPERVISE_MAX];
        for (int i = 0; i < n; i++)
            if (procs[i].fd >= 0) {
                pfd[np] = (struct pollfd){.fd = procs[i].fd, .events = POLLIN};
                map[np++] = i;
            }
        if (poll(pfd, (nfds_t)np, 200) > 0) {
            for (int k = 0; k < np; k++) {
                if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                supervise_proc *p = &procs[map[k]];
                ssize_t got = read(p->fd, p->line + p->len, sizeof p->line - p->len);
                if (got > 0) {
                    p->len += (size_t)got;
                    supervise_drain(p, 0);
                } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                    supervise_drain(p, 1);
                    close(p->fd);
                    p->fd = -1;
                }
            }
        }
        /* Reap, and schedule restarts. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                supervise_proc *p = &procs[i];
                if (p->pid != pid) continue;
                p->pid = 0;
                if (*stop) break;
                int64_t ran = util_mono_us() - p->started_us;
                if (ran > 60 * INT64_C(1000000)) p->backoff_ms = 1000;
                char why[64];
                if (WIFEXITED(status))
                    snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
                else
                    snprintf(why, sizeof why, "was killed by signal %d", WTERMSIG(status));
                printf("[run] %s %s; restarting in %d ms\n", p->spec->name, why, p->backoff_ms);
                fflush(stdout);
                p->restart_at_us = util_mono_us() + (int64_t)p->backoff_ms * 1000;
                p->backoff_ms = p->backoff_ms * 2 > 30000 ? 30000 : p->backoff_ms * 2;
            }
        }
    }
    return 0;
}
