/*
 * Least privilege for the daemons once they have started: the capabilities
 * a process keeps (libcap-ng), no new privileges, and a seccomp allow-list
 * (libseccomp) of the system calls a serving process makes. Each daemon
 * calls these after its set-up (listeners bound, rings made, files open),
 * so the list covers serving only. docs/security.md says why each process
 * keeps what it keeps.
 */
#ifndef CB_SANDBOX_H
#define CB_SANDBOX_H

#include <stddef.h>

/* The system calls a profile allows beyond the common ones (cb_sandbox.c). */
enum cb_seccomp_profile {
	CB_SECCOMP_STORAGE,  /* the file server: io_uring, fills, TLS, the shards */
	CB_SECCOMP_DP_SOCKET /* the socket dataplane: UDP batches, the key file */
};

/*
 * Keeps exactly the n capabilities in keep (CAP_*) effective and permitted,
 * none inheritable or ambient, and clears the bounding set when the process
 * may. 0 or -EPERM (logged).
 */
int cb_caps_limit(const unsigned *keep, size_t n);

/*
 * Sets no_new_privs and loads the profile's allow-list on every thread of
 * the process (TSYNC). A system call off the list is refused with SIGSYS:
 * the process says which one, in its log, and dies of it. 0 or -errno
 * (logged).
 */
int cb_seccomp_enter(enum cb_seccomp_profile profile);

#endif
