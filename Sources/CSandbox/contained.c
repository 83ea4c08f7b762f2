#define _GNU_SOURCE
#include "ccontained.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

// Everything between fork and exec is async-signal-safe: no malloc, no stdio.

static int write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w; n -= (size_t)w;
    }
    return 0;
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = write_all(fd, text, strlen(text));
    close(fd);
    return r;
}

// "ID ID 1\n": the id mapped to itself, so the program runs as the same user.
static void identity_map(char *out, unsigned id) {
    char digits[16]; int n = 0;
    do { digits[n++] = (char)('0' + id % 10); id /= 10; } while (id > 0);
    int k = 0;
    for (int copy = 0; copy < 2; copy++) {
        for (int i = n - 1; i >= 0; i--) out[k++] = digits[i];
        out[k++] = ' ';
    }
    out[k++] = '1'; out[k++] = '\n'; out[k] = 0;
}

// A new PID namespace: directly with the privilege for it, else inside a new user namespace.
static int new_pid_namespace(void) {
    if (unshare(CLONE_NEWPID) == 0) return 1;
    uid_t uid = getuid(); gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0) return 0;
    char map[48];
    identity_map(map, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0) return -1;
    if (write_file("/proc/self/setgroups", "deny") != 0) return -1;
    identity_map(map, (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) != 0) return -1;
    return 1;
}

static void reset_signals(void) {
    // The trainer ignores SIGPIPE and may block signals in its threads; the program gets the defaults.
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    }
    sigset_t none; sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static _Noreturn void wait_and_exit(pid_t child) {
    // The program's standard streams are its own: while we held them, a program that closed
    // its stdout would not be seen to (the pipe stays open as long as any copy is).
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++) { if (null >= 0) dup2(null, fd); else close(fd); }
    if (null > 2) close(null);
    int status = 0;
    for (;;) {
        // Reaps every orphan too when we are the namespace's init.
        pid_t done = waitpid(-1, &status, 0);
        if (done == child) break;
        if (done < 0 && errno != EINTR) break;
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

pid_t csb_spawn_contained(const char *const argv[], const char *const envp[], const char *cwd, int in_fd,
                          int out_fd, int err_fd, int *in_namespace) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    pid_t outer = fork();
    if (outer < 0) { close(report[0]); close(report[1]); return -1; }
    if (outer > 0) {
        close(report[1]);
        // One byte: 'n' (PID namespace) or 'g' (process group only); none: the set-up failed.
        char mode = 0;
        ssize_t got;
        do { got = read(report[0], &mode, 1); } while (got < 0 && errno == EINTR);
        close(report[0]);
        if (got != 1) {
            int status;
            while (waitpid(outer, &status, 0) < 0 && errno == EINTR) {}
            errno = ECHILD;
            return -1;
        }
        *in_namespace = mode == 'n';
        return outer;
    }

    // The outer child: leads its own process group. No parent-death signal here: it would come
    // when the trainer's *thread* that started us ends (scoring threads come and go), not the
    // trainer; a trainer that dies closes the program's stdin, and a plugin exits at its end.
    setpgid(0, 0);
    reset_signals();
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(120);
    if (dup2(report[1], 3) < 0) _exit(120);
    for (int fd = 4; fd < 4096; fd++) close(fd);
    if (cwd && chdir(cwd) != 0) _exit(120);
    int made = new_pid_namespace();
    if (made < 0) _exit(120);
    if (write_all(3, made ? "n" : "g", 1) != 0) _exit(120);
    close(3);
    if (made) {
        pid_t init = fork();
        if (init < 0) _exit(121);
        if (init > 0) wait_and_exit(init);
        // PID 1 of the namespace: dies with the outer child, and with it every process here.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pid_t program = fork();
        if (program < 0) _exit(121);
        if (program > 0) wait_and_exit(program);
    }
    execve(argv[0], (char *const *)argv, envp ? (char *const *)envp : environ);
    _exit(127);
}
