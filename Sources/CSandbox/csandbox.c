#define _GNU_SOURCE
#include "csandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The child's fds: 0 stdin, 1 and 2 output, 3 the result channel, 4 the report channel.
enum { RESULT_FD = 3, REPORT_FD = 4 };

// mount_setattr(2) (Linux 5.12): defined here because <linux/mount.h> and <sys/mount.h>
// clash on older C libraries. The number is the same on every architecture.
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct csb_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
enum { CSB_MOUNT_ATTR_RDONLY = 0x1, CSB_MOUNT_ATTR_NOSUID = 0x2, CSB_AT_RECURSIVE = 0x8000 };

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS SECCOMP_RET_KILL
#endif

static void report(int stage, uint64_t value) {
    csb_report r = { stage, 0, value };
    ssize_t ignored = write(REPORT_FD, &r, sizeof r);
    (void)ignored;
}

/// A set-up step failed: say which (with errno) and end this process.
static void fail(int stage) {
    report(stage, (uint64_t)errno);
    _exit(120);
}

static void limit(int resource, long value) {
    struct rlimit r = { (rlim_t)value, (rlim_t)value };
    if (setrlimit(resource, &r) != 0) fail(CSB_STAGE_LIMITS);
}

/// Joins a cgroup: writing 0 to cgroup.procs moves the writer (v1 and v2 alike).
static void join_cgroup(const char *procs) {
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(CSB_STAGE_CGROUP);
    if (write(fd, "0", 1) != 1) fail(CSB_STAGE_CGROUP);
    close(fd);
}

/// The program's seccomp filter. New user namespaces (unshare, setns, clone with
/// CLONE_NEWUSER; clone3, whose flags a filter cannot read, answers ENOSYS and the C
/// library falls back to clone) and the kernel keyrings (a key added to the uid's
/// keyring would outlive the run) are refused; other architectures' system calls kill.
static int install_seccomp(void) {
#if (defined(__x86_64__) || defined(__aarch64__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#if defined(__x86_64__)
#define CSB_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define CSB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#define CSB_DENY(nr, err) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CSB_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        // The x32 ABI shares the architecture tag: refuse all of it.
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
        CSB_DENY(SYS_add_key, EPERM),
        CSB_DENY(SYS_keyctl, EPERM),
        CSB_DENY(SYS_request_key, EPERM),
        CSB_DENY(SYS_unshare, EPERM),
        CSB_DENY(SYS_setns, EPERM),
        CSB_DENY(SYS_clone3, ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
        // clone's flags are its first argument; the low word holds CLONE_NEWUSER.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
#undef CSB_DENY
    struct sock_fprog program = { (unsigned short)(sizeof filter / sizeof filter[0]), filter };
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/// "size=NNm,mode=1777" without snprintf (not async-signal-safe).
static void tmpfs_options(char *opts, long bytes) {
    long mb = bytes >> 20; if (mb < 1) mb = 1;
    char digits[24]; int n = 0;
    do { digits[n++] = (char)('0' + mb % 10); mb /= 10; } while (mb > 0);
    int k = 0; const char *p = "size="; while (*p) opts[k++] = *p++;
    while (n > 0) opts[k++] = digits[--n];
    p = "m,mode=1777"; while (*p) opts[k++] = *p++; opts[k] = 0;
}

/// Waits for `child` and ends this process the way it ended (status, or 128 + signal).
static void exit_like(pid_t child) {
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

// The namespace's init and the program are made with clone(CLONE_VM | CLONE_VFORK), as
// posix_spawn makes its children: they borrow the outer process's memory (each on a stack
// of its own) while their parent waits, instead of copying the page tables of the whole
// trainer, which the outer process inherited, twice more per run. Anything shared that
// they change (errno) belongs to a parent that is not running meanwhile; uid and group
// changes use the system calls directly, not the C library's wrappers, which would try to
// reach the other threads of what they take for the same process.
static char init_stack[64 * 1024] __attribute__((aligned(16)));
static char program_stack[64 * 1024] __attribute__((aligned(16)));

struct spawn_request {
    const char *const *argv;
    const char *const *envp;
    const csb_limits *limits;
};

/// The program: unprivileged, limited, in its scratch directory.
static int program_main(void *arg) {
    const struct spawn_request *r = arg;
    const csb_limits *l = r->limits;
    if (chdir("/tmp") != 0) fail(CSB_STAGE_MOUNTS);
    limit(RLIMIT_CPU, l->cpu_seconds);
    limit(RLIMIT_AS, l->address_space_bytes);
    limit(RLIMIT_FSIZE, l->max_file_bytes);
    limit(RLIMIT_NOFILE, l->max_open_files);
    limit(RLIMIT_CORE, 0);
    if (syscall(SYS_setgroups, 0, NULL) != 0) fail(CSB_STAGE_IDENTITY);
    if (syscall(SYS_setresgid, l->uid, l->uid, l->uid) != 0) fail(CSB_STAGE_IDENTITY);
    if (syscall(SYS_setresuid, l->uid, l->uid, l->uid) != 0) fail(CSB_STAGE_IDENTITY);
    // RLIMIT_NPROC counts processes of the uid: set it once we are that uid.
    limit(RLIMIT_NPROC, l->max_processes);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(CSB_STAGE_SECCOMP);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (install_seccomp() != 0) fail(CSB_STAGE_SECCOMP);
    // The report channel is ours: closed by a successful exec, kept to report a failed one.
    if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) != 0) fail(CSB_STAGE_EXEC);
    execve(r->argv[0], (char *const *)r->argv, (char *const *)r->envp);
    fail(CSB_STAGE_EXEC);
    return 0;
}

/// PID 1 of the new namespace: it dies with the outer process, and with it every process here.
static int init_main(void *arg) {
    const struct spawn_request *r = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The namespace's identity (/proc is still the host's here: "self" is this process).
    struct stat ns;
    if (stat("/proc/self/ns/pid", &ns) == 0) report(0, (uint64_t)ns.st_ino);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail(CSB_STAGE_MOUNTS);
    // Every mount read-only (and set-uid bits ignored): no world-writable place of the
    // host (/run/lock, /var/lock, /dev/mqueue, ...) is writable from here.
    struct csb_mount_attr ro = { CSB_MOUNT_ATTR_RDONLY | CSB_MOUNT_ATTR_NOSUID, 0, 0, 0 };
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", CSB_AT_RECURSIVE, &ro, sizeof ro) != 0) fail(CSB_STAGE_READ_ONLY);
    // Scratch space the program may write, fresh and size-capped, gone with the namespace.
    char opts[64];
    tmpfs_options(opts, r->limits->tmp_bytes);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) fail(CSB_STAGE_MOUNTS);
    mount("tmpfs", "/var/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777");
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail(CSB_STAGE_PROC);
    pid_t program = clone(program_main, program_stack + sizeof program_stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                          (void *)r);
    if (program < 0) fail(CSB_STAGE_FORK);
    exit_like(program);
    return 0;
}

pid_t csb_spawn(const char *const argv[], const char *const envp[], int in_fd, int out_fd, int result_fd,
                int report_fd, const csb_limits *l) {
    pid_t outer = fork();
    if (outer != 0) return outer;   // parent (or -1)

    // Outer child: dies with the trainer's wish (SIGKILL from it), creates the namespaces.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Move the inherited ends above the target numbers first, so no dup2 overwrites another.
    int in = fcntl(in_fd, F_DUPFD, 10), out = fcntl(out_fd, F_DUPFD, 10);
    int res = result_fd >= 0 ? fcntl(result_fd, F_DUPFD, 10) : -1, rep = fcntl(report_fd, F_DUPFD, 10);
    if (in < 0 || out < 0 || rep < 0 || (result_fd >= 0 && res < 0)) _exit(120);
    if (dup2(rep, REPORT_FD) < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(120);
    if (res >= 0) {
        if (dup2(res, RESULT_FD) < 0) _exit(120);
    } else {
        close(RESULT_FD);
    }
    for (int fd = REPORT_FD + 1; fd < 4096; fd++) close(fd);

    for (int i = 0; i < 2; i++) if (l->cgroup_procs[i]) join_cgroup(l->cgroup_procs[i]);
    if (unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
        fail(CSB_STAGE_NAMESPACES);
    }
    struct spawn_request request = { argv, envp, l };
    pid_t init = clone(init_main, init_stack + sizeof init_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    if (init < 0) fail(CSB_STAGE_FORK);
    exit_like(init);
    return -1;
}

int csb_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
