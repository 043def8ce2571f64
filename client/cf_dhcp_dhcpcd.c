/*
 * Asking a running dhcpcd for its lease: `dhcpcd -4 -U IF` prints the
 * lease as NAME=VALUE lines, and any user may run it (the daemon has an
 * unprivileged socket). But dhcpcd 9.x before 9.5.1, and 10.0.0, with
 * privilege separation serve only the first control client after they
 * start (dhcpcd issue #168): one -U of ours would leave the daemon deaf to
 * the commands of whoever manages it (NetworkManager's dhcpcd backend, an
 * admin's `dhcpcd -n`). So the version is asked first (`dhcpcd --version`
 * does not talk to the daemon) and those versions are not asked, unless
 * CACHEBOX_FETCH_DHCPCD_CONTROL=1 says to.
 */
#include "cf_dhcp.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cb_common.h"

#define DHCPCD_WAIT_MS 2000

extern char **environ;

/* The dhcpcd program: CACHEBOX_FETCH_DHCPCD, else dhcpcd in PATH or /usr/sbin, /sbin. */
static bool dhcpcd_path(char *out, size_t cap)
{
	const char *env = getenv("CACHEBOX_FETCH_DHCPCD"), *path = getenv("PATH");
	char dirs[4096], *save = NULL;

	if (env) {
		snprintf(out, cap, "%s", env);
		return *env && access(env, X_OK) == 0;
	}
	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	for (char *p = strtok_r(dirs, ":", &save); p; p = strtok_r(NULL, ":", &save))
		if (cb_fmt(out, cap, "%s/dhcpcd", p) == 0 && access(out, X_OK) == 0)
			return true;
	return false;
}

/* argv's stdout (at most cap-1 bytes, DHCPCD_WAIT_MS at most), NUL-terminated: its length. */
static size_t run(char *const argv[], char *buf, size_t cap)
{
	posix_spawn_file_actions_t fa;
	uint64_t end = cb_now_ns() + DHCPCD_WAIT_MS * 1000000ull;
	int pipefd[2], status;
	size_t n = 0;
	pid_t pid;

	buf[0] = 0;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	for (int polls = 0; pid > 0 && polls < 256 && n + 1 < cap; polls++) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		uint64_t now = cb_now_ns();
		ssize_t got;

		if (now >= end || poll(&pfd, 1, (int)((end - now) / 1000000ull) + 1) <= 0)
			break;
		got = read(pipefd[0], buf + n, cap - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(pipefd[0]);
	if (pid > 0) {
		kill(pid, SIGKILL); /* done or too slow: it has nothing more for us */
		waitpid(pid, &status, 0);
	}
	buf[n] = 0;
	return n;
}

/*
 * Whether `dhcpcd --version` ("dhcpcd 9.4.1") names a version that serves
 * one control client only: 9.0 up to 9.5.0, and 10.0.0. The version in ver.
 */
static bool one_client_only(char *prog, char *ver, size_t cap)
{
	char flag[] = "--version", *argv[] = {prog, flag, NULL}, out[256];
	unsigned a = 0, b = 0, c = 0;

	run(argv, out, sizeof(out));
	if (sscanf(out, "dhcpcd %u.%u.%u", &a, &b, &c) < 2) {
		snprintf(ver, cap, "dhcpcd of an unknown version");
		return false;
	}
	snprintf(ver, cap, "dhcpcd %u.%u.%u", a, b, c);
	return (a == 9 && (b < 5 || (b == 5 && c == 0))) || (a == 10 && b == 0 && c == 0);
}

int cf_dhcp_dhcpcd_ask(const char *iface, const struct cf_dhcp_names *names, const char *leases,
		       char *note, size_t notelen, struct cf_dhcp *out)
{
	static char buf[65536];
	const char *ctl = getenv("CACHEBOX_FETCH_DHCPCD_CONTROL");
	struct if_nameindex *ifs = NULL;
	char prog[1024], ver[64];
	int ret = -ENOENT;

	if (!dhcpcd_path(prog, sizeof(prog))) {
		snprintf(note, notelen, "dhcpcd not installed");
		return -ENOENT;
	}
	if ((ctl && !strcmp(ctl, "0")) ||
	    (one_client_only(prog, ver, sizeof(ver)) && !(ctl && !strcmp(ctl, "1")))) {
		snprintf(note, notelen,
			 "not in dhcpcd's leases (%s); %s not asked with -U (it would serve no "
			 "other control client after us: dhcpcd issue #168)",
			 leases, ctl && !strcmp(ctl, "0") ? "dhcpcd" : ver);
		return -ENOENT;
	}
	if (!iface)
		ifs = if_nameindex();
	for (size_t i = 0; ret && i < 8 && (iface ? i == 0 : ifs && ifs[i].if_index); i++) {
		char four[] = "-4", dump[] = "-U", name[IF_NAMESIZE + 1];
		char *argv[] = {prog, four, dump, name, NULL};
		size_t n;

		snprintf(name, sizeof(name), "%s", iface ? iface : ifs[i].if_name);
		if (!strcmp(name, "lo"))
			continue;
		n = run(argv, buf, sizeof(buf));
		if (n && cf_dhcp_parse_dhcpcd(buf, n, names, out) == 0) {
			snprintf(out->via, sizeof(out->via), "dhcpcd -4 -U %s", name);
			ret = 0;
		}
	}
	if (ifs)
		if_freenameindex(ifs);
	if (ret)
		snprintf(note, notelen, "not in dhcpcd's leases (%s) or its -4 -U", leases);
	return ret;
}
