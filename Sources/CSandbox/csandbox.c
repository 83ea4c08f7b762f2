#define _GNU_SOURCE
#include "csandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void limit(int resource, long value) {
    struct rlimit r = { (rlim_t)value, (rlim_t)value };
    if (setrlimit(resource, &r) != 0) _exit(121);
}

static void close_other_fds(void) {
    for (int fd = 3; fd < 4096; fd++) close(fd);
}

pid_t csb_spawn(const char *const argv[], const char *const envp[], int in_fd, int out_fd, const csb_limits *l) {
    pid_t outer = fork();
    if (outer != 0) return outer;   // parent (or -1)

    // Outer child: dies with the trainer's wish (SIGKILL from it), creates the namespaces.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) _exit(120);
    close_other_fds();
    if (unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS) != 0) _exit(122);
    pid_t init = fork();
    if (init < 0) _exit(123);
    if (init > 0) {
        int status = 0;
        while (waitpid(init, &status, 0) < 0 && errno == EINTR) {}
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    // PID 1 of the new namespace: it dies with the outer child, and with it every process here.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(124);
    char opts[64];
    long mb = l->tmp_bytes >> 20; if (mb < 1) mb = 1;
    // "size=NNm,mode=1777" without snprintf (not async-signal-safe).
    char digits[24]; int n = 0; do { digits[n++] = (char)('0' + mb % 10); mb /= 10; } while (mb > 0);
    int k = 0; const char *p = "size="; while (*p) opts[k++] = *p++;
    while (n > 0) opts[k++] = digits[--n];
    p = "m,mode=1777"; while (*p) opts[k++] = *p++; opts[k] = 0;
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) _exit(125);
    mount("tmpfs", "/var/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777");
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) _exit(126);
    pid_t program = fork();
    if (program < 0) _exit(127);
    if (program > 0) {
        int status = 0;
        while (waitpid(program, &status, 0) < 0 && errno == EINTR) {}
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    // The program: unprivileged, limited, in its scratch directory.
    if (chdir("/tmp") != 0) _exit(118);
    limit(RLIMIT_CPU, l->cpu_seconds);
    limit(RLIMIT_AS, l->address_space_bytes);
    limit(RLIMIT_FSIZE, l->max_file_bytes);
    limit(RLIMIT_NOFILE, l->max_open_files);
    limit(RLIMIT_CORE, 0);
    if (setgroups(0, NULL) != 0) _exit(117);
    if (setresgid(l->uid, l->uid, l->uid) != 0 || setresuid(l->uid, l->uid, l->uid) != 0) _exit(116);
    // RLIMIT_NPROC counts processes of the uid: set it once we are that uid.
    limit(RLIMIT_NPROC, l->max_processes);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(argv[0], (char *const *)argv, (char *const *)envp);
    _exit(119);
}

int csb_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
