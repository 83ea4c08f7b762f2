#define _GNU_SOURCE
#include "csandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS SECCOMP_RET_KILL
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int csb_seccomp_filter(void *out, int capacity) {
#if (defined(__x86_64__) || defined(__aarch64__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#if defined(__x86_64__)
#define CSB_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define CSB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#define CSB_DENY(nr, err) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))
    const struct sock_filter filter[] = {
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
    int count = (int)(sizeof filter / sizeof filter[0]);
    if (count > capacity) { errno = ENOSPC; return -1; }
    memcpy(out, filter, sizeof filter);
    return count;
#else
    (void)out; (void)capacity;
    errno = ENOSYS;
    return -1;
#endif
}

int csb_send_fds(int sock, const void *data, size_t length, const int *fds, int count) {
    if (count < 0 || count > 8) { errno = EINVAL; return -1; }
    char control[CMSG_SPACE(8 * sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec io = { (void *)data, length };
    struct msghdr m = { 0 };
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    if (count > 0) {
        m.msg_control = control;
        m.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(c), fds, count * sizeof(int));
    }
    ssize_t sent;
    do { sent = sendmsg(sock, &m, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -1;
    if ((size_t)sent != length) { errno = EMSGSIZE; return -1; }
    return 0;
}

ssize_t csb_recv_fd(int sock, void *buffer, size_t capacity, int *fd) {
    *fd = -1;
    char control[CMSG_SPACE(8 * sizeof(int))];
    struct iovec io = { buffer, capacity };
    struct msghdr m = { 0 };
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t got;
    do { got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC); } while (got < 0 && errno == EINTR);
    if (got < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int received[8];
        memcpy(received, CMSG_DATA(c), n * sizeof(int));
        // One descriptor is expected: any more are closed, never leaked.
        for (int i = 0; i < n; i++) {
            if (*fd < 0) *fd = received[i]; else close(received[i]);
        }
    }
    return got;
}

int csb_pidfd_kill(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

int csb_socketpair(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

int csb_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
