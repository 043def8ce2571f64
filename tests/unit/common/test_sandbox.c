/*
 * cb_sandbox: what the allow-lists let through and what they stop. Each
 * case forks, enters a profile in the child and makes one system call:
 * allowed ones return, refused ones kill the child with SIGSYS after one
 * line naming the call. Capabilities: cb_caps_limit leaves exactly the
 * ones kept.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cb_sandbox.h"

/* The wait status of a child that entered profile, then ran call(). */
static int in_child(enum cb_seccomp_profile profile, int (*call)(void))
{
	int status = 0;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (cb_seccomp_enter(profile) < 0)
			_exit(90);
		_exit(call() == 0 ? 0 : 91);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static int call_getpid(void)
{
	return getpid() > 0 ? 0 : -1;
}

#ifndef __SANITIZE_ADDRESS__ /* a sanitized build lets LSan exec its symbolizer */
static int call_execve(void)
{
	char *argv[] = {"/bin/true", NULL};

	execve("/bin/true", argv, NULL);
	return -1;
}
#endif

static int call_chroot(void)
{
	return chroot("/");
}

static int call_uring_setup(void)
{
	char params[120] = {0};

	return syscall(SYS_io_uring_setup, 4, params) >= 0 ? 0 : -1;
}

static int call_fsync(void)
{
	return fsync(STDERR_FILENO) == 0 || errno == EINVAL || errno == EROFS ? 0 : -1;
}

static int call_no_new_privs(void)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : -1;
}

Test(sandbox, allowed_calls_return)
{
	int st = in_child(CB_SECCOMP_STORAGE, call_getpid);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x", st);
	st = in_child(CB_SECCOMP_STORAGE, call_fsync);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x", st);
	st = in_child(CB_SECCOMP_DP_SOCKET, call_no_new_privs);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "no_new_privs is set: status %x", st);
}

Test(sandbox, refused_calls_kill_with_sigsys)
{
	int st = in_child(CB_SECCOMP_STORAGE, call_chroot);

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "chroot: status %x", st);
#ifndef __SANITIZE_ADDRESS__
	st = in_child(CB_SECCOMP_STORAGE, call_execve);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "execve: status %x", st);
#endif
	/* a new ring would carry no restrictions: only the ones made at start are used */
	st = in_child(CB_SECCOMP_STORAGE, call_uring_setup);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "io_uring_setup: status %x", st);
	/* the dataplane's list has no file-system writes of the file server */
	st = in_child(CB_SECCOMP_DP_SOCKET, call_fsync);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "fsync in dp: status %x", st);
}

Test(sandbox, caps_limit_keeps_exactly)
{
	int status = 0;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		unsigned keep[] = {CAP_NET_BIND_SERVICE};
		char line[256];
		unsigned long long eff = ~0ull;
		FILE *f;

		if (cb_caps_limit(keep, geteuid() == 0 ? 1 : 0) < 0)
			_exit(90);
		f = fopen("/proc/self/status", "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "CapEff: %llx", &eff) == 1)
				break;
		_exit(eff == (geteuid() == 0 ? 1ull << CAP_NET_BIND_SERVICE : 0) ? 0 : 91);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %x", status);
}
