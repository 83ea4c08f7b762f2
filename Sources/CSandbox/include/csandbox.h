// The sandbox's process set-up in C: everything between fork and exec must be
// async-signal-safe system calls, which Swift cannot promise.
#ifndef CSANDBOX_H
#define CSANDBOX_H
#include <stdint.h>
#include <sys/types.h>
#include "ccontained.h"

typedef struct {
    int uid;                 // unprivileged uid (and gid) of the program
    long cpu_seconds, address_space_bytes, max_processes, max_file_bytes, max_open_files;
    long tmp_bytes;          // size of the tmpfs mounted on /tmp
    // cgroup.procs files the run joins before it creates its namespaces (the
    // run's memory and pids limits), or NULL: at most two (cgroup v1 keeps
    // memory and pids in separate hierarchies).
    const char *cgroup_procs[2];
} csb_limits;

/// Why a run could not start: a stage (CSB_STAGE_*) and the errno it failed with,
/// written by the sandbox's own processes to the report channel, never by the program.
enum {
    CSB_STAGE_CGROUP = 1, CSB_STAGE_NAMESPACES, CSB_STAGE_FORK, CSB_STAGE_MOUNTS,
    CSB_STAGE_READ_ONLY, CSB_STAGE_PROC, CSB_STAGE_LIMITS, CSB_STAGE_IDENTITY, CSB_STAGE_SECCOMP,
    CSB_STAGE_EXEC,
};

/// One record on the report channel: either the run's PID namespace (`stage` 0,
/// `value` its inode, to find anything of the run left afterwards) or a failure
/// (`stage` CSB_STAGE_*, `value` the errno).
typedef struct {
    int32_t stage;
    int32_t pad;
    uint64_t value;
} csb_report;

/// Starts `argv` (argv[0] an absolute path, envp its whole environment) in new
/// PID, network, mount, IPC and UTS namespaces, with the whole file system
/// read-only but fresh tmpfs on /tmp, /var/tmp and /dev/shm, as `uid` with the
/// rlimits and a seccomp filter (no new user namespaces, no keyrings), cwd /tmp,
/// stdin from `in_fd`, stdout+stderr to `out_fd`, `result_fd` as its fd 3 (or
/// nothing there when -1), and `report_fd` receiving csb_report records.
/// Returns the pid to wait for and to kill (killing it tears the whole
/// namespace down), or -1 with errno.
pid_t csb_spawn(const char *const argv[], const char *const envp[], int in_fd, int out_fd, int result_fd,
                int report_fd, const csb_limits *limits);

/// pipe2(fds, O_CLOEXEC): the other runs started meanwhile must not inherit our ends.
int csb_pipe(int fds[2]);

#endif
