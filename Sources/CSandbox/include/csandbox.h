// The sandbox's process set-up in C: everything between fork and exec must be
// async-signal-safe system calls, which Swift cannot promise.
#ifndef CSANDBOX_H
#define CSANDBOX_H
#include <sys/types.h>
#include "ccontained.h"

typedef struct {
    int uid;                 // unprivileged uid (and gid) of the program
    long cpu_seconds, address_space_bytes, max_processes, max_file_bytes, max_open_files;
    long tmp_bytes;          // size of the tmpfs mounted on /tmp
} csb_limits;

/// Starts `argv` (argv[0] an absolute path, envp its whole environment) in new
/// PID, network and mount namespaces, with tmpfs on /tmp, /var/tmp and /dev/shm,
/// as `uid` with the rlimits, cwd /tmp, stdin from `in_fd` and stdout+stderr to
/// `out_fd`. Returns the pid to wait for and to kill (killing it tears the whole
/// namespace down), or -1 with errno.
pid_t csb_spawn(const char *const argv[], const char *const envp[], int in_fd, int out_fd, const csb_limits *limits);

/// pipe2(fds, O_CLOEXEC): the other runs started meanwhile must not inherit our ends.
int csb_pipe(int fds[2]);

#endif
