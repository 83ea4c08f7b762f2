// The sandbox's pieces that Swift cannot write: the seccomp filter (BPF built
// from the C library's system-call numbers), file descriptors passed over a
// Unix socket (SCM_RIGHTS, whose CMSG_* macros Swift does not import), and
// signals sent through a pidfd. The runs themselves are set up by the fork
// server (Sources/Sandbox/ForkServer.swift).
#ifndef CSANDBOX_H
#define CSANDBOX_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ccontained.h"

/// One record on a run's report channel, written by the sandbox's own processes, never by the
/// program: `stage` 0 is the run's PID namespace (`value` its inode), `stage` -1 the run's exit
/// status (`value`), any other stage a set-up step that failed (`value` the errno).
typedef struct {
    int32_t stage;
    int32_t pad;
    uint64_t value;
} csb_report;

/// Copies the program's seccomp filter (struct sock_filter records, 8 bytes each) into `out`
/// (room for `capacity` records); returns the number of records, or -1 where no filter is
/// built (an architecture other than x86-64 or little-endian arm64).
/// What it refuses: new user namespaces (unshare, setns, clone with CLONE_NEWUSER; clone3,
/// whose flags a filter cannot read, answers ENOSYS and the C library falls back to clone),
/// the kernel keyrings (a key added to the uid's keyring would outlive the run), and every
/// system call of another architecture (killed).
int csb_seccomp_filter(void *out, int capacity);

/// Sends `data` with the descriptors `fds` (SCM_RIGHTS) on the Unix socket `sock`; 0 or -1 with errno.
int csb_send_fds(int sock, const void *data, size_t length, const int *fds, int count);

/// Receives a message of at most `capacity` bytes and at most one descriptor (`*fd`, or -1 when
/// none came); returns the bytes received (0: the other end closed), or -1 with errno.
ssize_t csb_recv_fd(int sock, void *buffer, size_t capacity, int *fd);

/// pidfd_send_signal(2): signals the process `pidfd` refers to, never one that took its pid later.
int csb_pidfd_kill(int pidfd, int signal);

/// socketpair(AF_UNIX, SOCK_SEQPACKET, O_CLOEXEC): message boundaries kept.
int csb_socketpair(int fds[2]);

/// pipe2(fds, O_CLOEXEC): the other runs started meanwhile must not inherit our ends.
int csb_pipe(int fds[2]);

#endif
