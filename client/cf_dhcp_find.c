/*
 * Where cachebox-fetch looks for DHCP options 234 and 235, in order, each
 * readable by any user: dhclient's lease files (newest file first), the
 * lease files systemd-networkd keeps per interface index, what the running
 * dhcpcd reports (`dhcpcd -4 -U IF`, over its unprivileged socket), and
 * last a DHCPINFORM of our own. The first place that has either option
 * wins. Each place can be moved by an environment variable, for tests and
 * for unusual installs (cf_dhcp.h lists them; docs/client.md too).
 */
#include "cf_dhcp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cb_common.h"

#define READ_MAX       (1u << 20) /* the newest lease is last: a bigger file is read from its tail */
#define DHCPCD_WAIT_MS 2000

extern char **environ;

/* The last READ_MAX bytes of path into a malloc'd buffer (*len bytes); NULL on error. */
static char *read_tail(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if ((uint64_t)st.st_size > READ_MAX && lseek(fd, st.st_size - READ_MAX, SEEK_SET) < 0)
		goto out;
	buf = malloc(READ_MAX);
	if (!buf)
		goto out;
	n = read(fd, buf, READ_MAX);
	if (n < 0) {
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = (size_t)n;
out:
	close(fd);
	return buf;
}

static void names_from_file(const char *path, bool dhcpcd, struct cf_dhcp_names *names)
{
	size_t len;
	char *buf = read_tail(path, &len);

	if (buf)
		cf_dhcp_names_from_conf(buf, len, dhcpcd, names);
	free(buf);
}

static int by_mtime_desc(const void *a, const void *b)
{
	struct stat sa, sb;

	if (stat(*(char *const *)a, &sa) < 0 || stat(*(char *const *)b, &sb) < 0)
		return 0;
	return sa.st_mtime < sb.st_mtime ? 1 : sa.st_mtime > sb.st_mtime ? -1 : 0;
}

static int from_dhclient(const char *iface, struct cf_dhcp *out)
{
	static const char *const dflt[] = {"/var/lib/dhcp/dhclient*.leases",
					   "/var/lib/dhclient/*.lease*",
					   "/var/lib/NetworkManager/dhclient-*.lease"};
	const char *env = getenv("CACHEBOX_FETCH_DHCLIENT_LEASES");
	const char *conf = getenv("CACHEBOX_FETCH_DHCLIENT_CONF");
	struct cf_dhcp_names names;
	glob_t g = {0};
	int ret = -ENOENT, gf = 0;

	cf_dhcp_names_default(&names);
	names_from_file(conf ? conf : "/etc/dhcp/dhclient.conf", false, &names);
	if (env) {
		char list[4096], *save = NULL;

		snprintf(list, sizeof(list), "%s", env);
		for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
			(void)glob(p, GLOB_NOCHECK | gf, NULL, &g), gf = GLOB_APPEND;
	} else {
		for (size_t i = 0; i < CB_ARRAY_SIZE(dflt); i++)
			(void)glob(dflt[i], gf, NULL, &g), gf = GLOB_APPEND;
	}
	if (g.gl_pathc > 1)
		qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), by_mtime_desc);
	for (size_t i = 0; i < g.gl_pathc && ret; i++) {
		size_t len;
		char *buf = read_tail(g.gl_pathv[i], &len);

		if (!buf)
			continue;
		if (cf_dhcp_parse_dhclient(buf, len, iface, &names, (int64_t)time(NULL), out) ==
		    0) {
			snprintf(out->via, sizeof(out->via), "dhclient lease %s", g.gl_pathv[i]);
			ret = 0;
		}
		free(buf);
	}
	globfree(&g);
	return ret;
}

static int networkd_file(const char *dir, const char *name, struct cf_dhcp *out)
{
	char path[1024];
	size_t len;
	char *buf;
	int ret = -ENOENT;

	if (cb_fmt(path, sizeof(path), "%s/%s", dir, name) < 0 || !(buf = read_tail(path, &len)))
		return -ENOENT;
	if (cf_dhcp_parse_networkd(buf, len, out) == 0) {
		(void)cb_fmt(out->via, sizeof(out->via), "networkd lease %s", path);
		ret = 0;
	}
	free(buf);
	return ret;
}

static int from_networkd(const char *iface, struct cf_dhcp *out)
{
	const char *env = getenv("CACHEBOX_FETCH_NETWORKD_LEASES");
	const char *dir = env ? env : "/run/systemd/netif/leases";
	struct dirent *e;
	char name[16];
	DIR *d;
	int ret = -ENOENT;

	if (iface) { /* the file is named by the interface's index */
		unsigned idx = if_nametoindex(iface);

		if (!idx)
			return -ENOENT;
		snprintf(name, sizeof(name), "%u", idx);
		return networkd_file(dir, name, out);
	}
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while (ret && (e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
			ret = networkd_file(dir, e->d_name, out);
	closedir(d);
	return ret;
}

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

/* `prog -4 -U ifname`'s stdout (at most cap-1 bytes, DHCPCD_WAIT_MS at most): its length. */
static size_t run_dhcpcd(char *prog, char *ifname, char *buf, size_t cap)
{
	char four[] = "-4", dump[] = "-U", *argv[] = {prog, four, dump, ifname, NULL};
	posix_spawn_file_actions_t fa;
	uint64_t end = cb_now_ns() + DHCPCD_WAIT_MS * 1000000ull;
	int pipefd[2], status;
	size_t n = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, prog, &fa, NULL, argv, environ) != 0)
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

static int from_dhcpcd(const char *iface, bool *ran, struct cf_dhcp *out)
{
	static char buf[65536];
	struct if_nameindex *ifs = NULL;
	struct cf_dhcp_names names;
	char prog[1024];
	int ret = -ENOENT;

	*ran = dhcpcd_path(prog, sizeof(prog));
	if (!*ran)
		return -ENOENT; /* not installed: nothing to ask */
	cf_dhcp_names_default(&names);
	for (char *p = names.group; *p; p++)
		*p = *p == '-' ? '_' : *p;
	for (char *p = names.hosts; *p; p++)
		*p = *p == '-' ? '_' : *p;
	names_from_file("/etc/dhcpcd.conf", true, &names);
	if (!iface)
		ifs = if_nameindex();
	for (size_t i = 0; ret && i < 8 && (iface ? i == 0 : ifs && ifs[i].if_index); i++) {
		char name[IF_NAMESIZE + 1];
		size_t n;

		snprintf(name, sizeof(name), "%s", iface ? iface : ifs[i].if_name);
		if (!strcmp(name, "lo"))
			continue;
		n = run_dhcpcd(prog, name, buf, sizeof(buf));
		if (n && cf_dhcp_parse_dhcpcd(buf, n, &names, out) == 0) {
			snprintf(out->via, sizeof(out->via), "dhcpcd -4 -U %s", name);
			ret = 0;
		}
	}
	if (ifs)
		if_freenameindex(ifs);
	return ret;
}

int cf_dhcp_find(const char *iface, int wait_ms, struct cf_dhcp *out, char *err, size_t errlen)
{
	const char *dl = getenv("CACHEBOX_FETCH_DHCLIENT_LEASES");
	const char *nd = getenv("CACHEBOX_FETCH_NETWORKD_LEASES");
	char why[256] = "", wait[24];
	bool ran = false;
	int ret;

	memset(out, 0, sizeof(*out));
	if (from_dhclient(iface, out) == 0 || from_networkd(iface, out) == 0 ||
	    from_dhcpcd(iface, &ran, out) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	snprintf(wait, sizeof(wait), "%d ms", wait_ms);
	ret = cf_dhcp_inform(iface, wait_ms, out, why, sizeof(why));
	if (ret == 0)
		return 0;
	snprintf(err, errlen,
		 "no DHCP option 235 or 234%s%s: not in dhclient's leases (%s), networkd's (%s) "
		 "or dhcpcd's (%s); %s%s%s",
		 iface ? " on " : "", iface ? iface : "",
		 dl ? dl : "/var/lib/dhcp/dhclient*.leases", nd ? nd : "/run/systemd/netif/leases",
		 ran ? "dhcpcd -4 -U" : "not installed", *why ? why : "no answer to a DHCPINFORM",
		 *why ? "" : " within ", *why ? "" : wait);
	return ret;
}
