/*
 * Where cachebox-fetch looks for DHCP options 234 and 235, in order, each
 * readable by any user: dhclient's lease files (newest file first), the
 * lease files systemd-networkd keeps per interface index, what the running
 * dhcpcd keeps (its lease files when readable, else `dhcpcd -4 -U IF`:
 * cf_dhcp_dhcpcd.c), and
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * dhcpcd: its lease files (the DHCPACK as received, root's only: 0640),
 * newest first, one whose lease time has run out since it was written
 * skipped; else what the daemon says (cf_dhcp_dhcpcd_ask). note says what
 * was tried, for the message when nothing is found.
 */
static int from_dhcpcd(const char *iface, char *note, size_t notelen, struct cf_dhcp *out)
{
	const char *env = getenv("CACHEBOX_FETCH_DHCPCD_LEASES");
	const char *dir = env ? env : "/var/lib/dhcpcd";
	struct cf_dhcp_names names;
	char pat[2][600];
	glob_t g = {0};
	int ret = -ENOENT, gf = 0;

	/* IF.lease, or IF-SSID.lease on a wireless interface; not IF.lease6 */
	snprintf(pat[0], sizeof(pat[0]), "%s/%s.lease", dir, iface ? iface : "*");
	snprintf(pat[1], sizeof(pat[1]), "%s/%s-*.lease", dir, iface ? iface : "*");
	for (size_t i = 0; i < (iface ? 2u : 1u); i++)
		(void)glob(pat[i], gf, NULL, &g), gf = GLOB_APPEND;
	if (g.gl_pathc > 1)
		qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), by_mtime_desc);
	for (size_t i = 0; i < g.gl_pathc && ret; i++) {
		struct stat st;
		uint32_t lease_s = 0;
		size_t len;
		char *buf = read_tail(g.gl_pathv[i], &len);

		if (!buf)
			continue;
		if (cf_dhcp_parse_bootp((const uint8_t *)buf, len, &lease_s, out) == 0 &&
		    stat(g.gl_pathv[i], &st) == 0 &&
		    (!lease_s || lease_s == UINT32_MAX ||
		     st.st_mtime + (time_t)lease_s > time(NULL))) {
			snprintf(out->via, sizeof(out->via), "dhcpcd lease %s", g.gl_pathv[i]);
			ret = 0;
		}
		free(buf);
	}
	globfree(&g);
	if (!ret)
		return 0;
	cf_dhcp_names_default(&names);
	for (char *p = names.group; *p; p++)
		*p = *p == '-' ? '_' : *p;
	for (char *p = names.hosts; *p; p++)
		*p = *p == '-' ? '_' : *p;
	names_from_file("/etc/dhcpcd.conf", true, &names);
	return cf_dhcp_dhcpcd_ask(iface, &names, dir, note, notelen, out);
}

int cf_dhcp_find(const char *iface, int wait_ms, struct cf_dhcp *out, char *err, size_t errlen)
{
	const char *dl = getenv("CACHEBOX_FETCH_DHCLIENT_LEASES");
	const char *nd = getenv("CACHEBOX_FETCH_NETWORKD_LEASES");
	char why[256] = "", wait[24], dhcpcd[400] = "";
	int ret;

	memset(out, 0, sizeof(*out));
	if (from_dhclient(iface, out) == 0 || from_networkd(iface, out) == 0 ||
	    from_dhcpcd(iface, dhcpcd, sizeof(dhcpcd), out) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	snprintf(wait, sizeof(wait), "%d ms", wait_ms);
	ret = cf_dhcp_inform(iface, wait_ms, out, why, sizeof(why));
	if (ret == 0)
		return 0;
	snprintf(err, errlen,
		 "no DHCP option 235 or 234%s%s: not in dhclient's leases (%s), networkd's (%s); "
		 "%s; %s%s%s",
		 iface ? " on " : "", iface ? iface : "",
		 dl ? (*dl ? dl : "none given") : "/var/lib/dhcp/dhclient*.leases",
		 nd ? nd : "/run/systemd/netif/leases", dhcpcd,
		 *why ? why : "no answer to a DHCPINFORM", *why ? "" : " within ",
		 *why ? "" : wait);
	return ret;
}
