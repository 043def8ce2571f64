/*
 * Capabilities, no_new_privs and the seccomp allow-lists of the daemons
 * (cb_sandbox.h). The lists are by name, resolved for the running
 * architecture; a name the architecture lacks (open, stat on arm64) is
 * skipped. What is not listed, the serving daemons never do: exec, ptrace,
 * mount, new io_uring rings (the ones they have are restricted to their
 * operations, st_srv_loop.c), listen and accept outside the rings, module
 * or key calls, changing ids. docs/security.md explains the lists.
 */
#include "cb_sandbox.h"

#include "cb_common.h"
#include "cb_log.h"

#include <cap-ng.h>
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int cb_caps_limit(const unsigned *keep, size_t n)
{
	bool bound;
	int ret;

	/* the bounding set can be cleared only with CAP_SETPCAP: kept otherwise */
	capng_get_caps_process();
	bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	capng_clear(CAPNG_SELECT_ALL);
	for (size_t i = 0; i < n; i++)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, keep[i]);
	ret = capng_apply(bound ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
	if (ret < 0) {
		cb_err("cannot limit capabilities (capng_apply %d)", ret);
		return -EPERM;
	}
	return 0;
}

/* Every serving daemon: memory, threads, time, signals, files, sockets, logs. */
static const char *const common_calls[] = {
	"read",
	"write",
	"readv",
	"writev",
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"lseek",
	"close",
	"openat",
	"open",
	"stat",
	"fstat",
	"lstat",
	"newfstatat",
	"statx",
	"fstatfs",
	"statfs",
	"fcntl",
	"dup",
	"dup2",
	"dup3",
	"ioctl",
	"access",
	"faccessat",
	"faccessat2",
	"readlink",
	"readlinkat",
	"getdents64",
	/* memory */
	"mmap",
	"munmap",
	"mremap",
	"mprotect",
	"madvise",
	"brk",
	"msync",
	"mincore",
	/* threads and process */
	"futex",
	"set_robust_list",
	"get_robust_list",
	"rseq",
	"clone",
	"clone3",
	"exit",
	"exit_group",
	"gettid",
	"getpid",
	"getppid",
	"tgkill",
	"tkill",
	"sched_yield",
	"sched_getaffinity",
	"prctl",
	"membarrier",
	/* signals, time, randomness, identity, limits */
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"rt_sigtimedwait",
	"sigaltstack",
	"restart_syscall",
	"clock_gettime",
	"clock_getres",
	"gettimeofday",
	"time",
	"nanosleep",
	"clock_nanosleep",
	"getrandom",
	"uname",
	"sysinfo",
	"getrlimit",
	"prlimit64",
	"getrusage",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getgroups",
	"getresuid",
	"getresgid",
	"getcwd",
	/* waiting */
	"poll",
	"ppoll",
	"select",
	"pselect6",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"eventfd2",
	"pipe",
	"pipe2",
	/* sockets: fills, DNS (netlink for AI_ADDRCONFIG), discovery */
	"socket",
	"connect",
	"bind",
	"getsockname",
	"getpeername",
	"setsockopt",
	"getsockopt",
	"sendto",
	"recvfrom",
	"sendmsg",
	"recvmsg",
	"sendmmsg",
	"recvmmsg",
	"shutdown",
	NULL,
};

/* The file server beside those: its rings, the shards, splice. */
static const char *const storage_calls[] = {
	"io_uring_enter",
	"io_uring_register",
	"splice",
	"tee",
	"fsync",
	"fdatasync",
	"sync_file_range",
	"fallocate",
	"ftruncate",
	"fadvise64",
	"flock",
	"rename",
	"renameat",
	"renameat2",
	"unlink",
	"unlinkat",
	"mkdir",
	"mkdirat",
	"link",
	"linkat",
	"fchmod",
	NULL,
};

/*
 * What the sanitizers' own run time does in a test build: LeakSanitizer
 * stops the world with ptrace from a cloned task at exit (which lists
 * /proc/self/task with the old getdents, with every signal blocked, so a
 * trap there kills it silently and the process spins), reads the maps, and
 * a report forks and execs llvm-symbolizer. Never part of a release build.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CB_SANITIZED 1
#endif
#endif
#ifdef CB_SANITIZED
static const char *const sanitizer_calls[] = {
	"ptrace",
	"wait4",
	"waitid",
	"process_vm_readv",
	"kill",
	"personality",
	"sched_setaffinity",
	"getdents",
	"fork",
	"vfork",
	"execve",
	"arch_prctl",
	"set_tid_address",
	NULL,
};
#endif

static const char *seccomp_who = "cachebox";

/*
 * SIGSYS from the filter: one line saying which call, then the default
 * action, so the process dies of SIGSYS and its supervisor restarts it.
 * Only async-signal-safe calls (write, and tgkill through raise).
 */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[160];
	int n;

	(void)uc;
	n = snprintf(line, sizeof(line),
		     "%s: seccomp: system call %d is not on the allow-list (docs/security.md); "
		     "stopping\n",
		     seccomp_who, si->si_syscall);
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		n = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static int allow_list(scmp_filter_ctx ctx, const char *const *names)
{
	for (; *names; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		int ret;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (ret < 0 && ret != -EEXIST) {
			cb_err("seccomp: cannot allow %s: %s", *names, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int cb_seccomp_enter(enum cb_seccomp_profile profile)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	scmp_filter_ctx ctx;
	int ret;

	seccomp_who = profile == CB_SECCOMP_STORAGE ? "cachebox-storage" : "cachebox-dataplane";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		cb_err("no_new_privs: %s", strerror(errno));
		return ret;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		cb_err("seccomp_init failed");
		return -ENOMEM;
	}
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!ret)
		ret = allow_list(ctx, common_calls);
	if (!ret && profile == CB_SECCOMP_STORAGE)
		ret = allow_list(ctx, storage_calls);
#ifdef CB_SANITIZED
	if (!ret)
		ret = allow_list(ctx, sanitizer_calls);
#endif
	if (!ret) {
		ret = seccomp_load(ctx);
		if (ret < 0)
			cb_err("seccomp_load: %s", strerror(-ret));
	}
	seccomp_release(ctx);
	return ret < 0 ? ret : 0;
}
