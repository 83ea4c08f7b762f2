// Helper programs the trainer trusts but must be able to stop (reward plugins,
// the interpreter check): started so that killing one kills everything it
// started, daemons included. Not the sandbox: no uid change, no limits, the
// host's file system and network.
#ifndef CCONTAINED_H
#define CCONTAINED_H
#include <sys/types.h>

/// Starts `argv` (argv[0] an absolute path) with the environment `envp` (NULL: this
/// process's) in `cwd` (or here, when NULL) with stdin, stdout and stderr from `in_fd`,
/// `out_fd` and `err_fd`, in a new process group and, where the system allows
/// one (as root, or in a new user namespace), a new PID namespace whose init is
/// our code: when the program exits, or the returned pid is killed, the kernel
/// kills every process left in the namespace (a daemon that called setsid too).
/// `*in_namespace` says which. Returns the pid to wait for and to kill (kill
/// its process group: -pid), or -1 with errno.
pid_t csb_spawn_contained(const char *const argv[], const char *const envp[], const char *cwd, int in_fd,
                          int out_fd, int err_fd, int *in_namespace);

#endif
