/*
 * Asking the DHCP server for options 234 and 235 ourselves: a DHCPINFORM
 * (RFC 2131 §3.4: a client that already has an address asks for its other
 * parameters; the server answers with a DHCPACK and allocates nothing).
 * It is sent from the interface's address to 255.255.255.255:67. From port
 * 68 when we may bind it (root, CAP_NET_BIND_SERVICE) and nobody holds it,
 * else from an ephemeral port: dnsmasq answers the port the INFORM came
 * from, ISC dhcpd and Kea answer port 68 only, so unprivileged they stay
 * silent. The packet code (build, parse) does no I/O and is unit-tested;
 * its parser also reads dhcpcd's lease files, which are the DHCPACK as
 * received.
 */
#include "cf_dhcp.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cb_common.h"

/* RFC 2131 §2: the fixed part; the options follow the magic cookie. */
#define BOOTP_FIXED   236
#define OFF_XID	      4
#define OFF_CIADDR    12
#define OFF_CHADDR    28
#define OFF_SNAME     44
#define OFF_FILE      108
#define OFF_OPTIONS   240
#define BOOTP_MIN_LEN 300 /* RFC 1542 §3.1: relays may drop shorter BOOTP messages */

static const uint8_t cookie[4] = {99, 130, 83, 99}; /* RFC 2131 §3 */

int cf_dhcp_inform_build(uint8_t *buf, size_t cap, uint32_t xid, uint32_t ciaddr,
			 const uint8_t mac[6])
{
	static const uint8_t opts[] = {53,
				       1,
				       8, /* DHCPINFORM (RFC 2132 §9.6) */
				       55,
				       2,
				       CF_DHCP_OPT_GROUP,
				       CF_DHCP_OPT_HOSTS, /* parameter request list */
				       57,
				       2,
				       CF_DHCP_PKT_MAX >> 8,
				       CF_DHCP_PKT_MAX & 0xff, /* maximum message size */
				       255};

	if (cap < BOOTP_MIN_LEN)
		return -ENOSPC;
	memset(buf, 0, BOOTP_MIN_LEN);
	buf[0] = 1; /* BOOTREQUEST */
	buf[1] = 1; /* Ethernet */
	buf[2] = 6;
	memcpy(buf + OFF_XID, &xid, 4); /* an opaque value: any byte order */
	/* §4.4.3: ciaddr is the client's address; yiaddr 0, no broadcast flag */
	memcpy(buf + OFF_CIADDR, &ciaddr, 4);
	memcpy(buf + OFF_CHADDR, mac, 6);
	memcpy(buf + BOOTP_FIXED, cookie, 4);
	memcpy(buf + OFF_OPTIONS, opts, sizeof(opts));
	return BOOTP_MIN_LEN;
}

struct found {
	uint8_t v[2][CF_DHCP_HOSTS_MAX]; /* 234, 235, joined (RFC 3396) */
	size_t len[2];
	bool seen[2];
	int type, overload;
	uint32_t lease_s; /* option 51 */
	bool too_long;
};

/* The options in p[0..len) (RFC 2132 §2: pad 0, end 255, code len value). */
static int walk(const uint8_t *p, size_t len, struct found *f)
{
	size_t i = 0;

	while (i < len) {
		uint8_t code = p[i++], n;

		if (code == 0)
			continue;
		if (code == 255)
			return 0;
		if (i == len)
			return -EINVAL;
		n = p[i++];
		if (n > len - i)
			return -EINVAL;
		if (code == 53 && n == 1)
			f->type = p[i];
		else if (code == 52 && n == 1)
			f->overload = p[i];
		else if (code == 51 && n == 4)
			f->lease_s = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
				     (uint32_t)p[i + 2] << 8 | p[i + 3];
		else if (code == CF_DHCP_OPT_GROUP || code == CF_DHCP_OPT_HOSTS) {
			int k = code - CF_DHCP_OPT_GROUP;

			if (f->len[k] + n > sizeof(f->v[k]))
				f->too_long = true;
			else
				memcpy(f->v[k] + f->len[k], p + i, n), f->len[k] += n;
			f->seen[k] = true;
		}
		i += n;
	}
	return -EINVAL; /* no end option */
}

/*
 * The options of a BOOTREPLY (pkt[0] == 2, len >= 240) into out, and its
 * lease time (option 51) into *lease_s when not NULL. 0, or
 * -EINVAL when malformed, or not a DHCPACK (ack_only; else a BOOTP reply
 * without option 53 passes too).
 */
static int reply_options(const uint8_t *pkt, size_t len, bool ack_only, uint32_t *lease_s,
			 struct cf_dhcp *out)
{
	static struct found f; /* 2 KiB: not on the stack; the client is one thread */
	struct cf_dhcp got;

	if (memcmp(pkt + BOOTP_FIXED, cookie, 4))
		return -EINVAL;
	memset(&f, 0, sizeof(f));
	if (walk(pkt + OFF_OPTIONS, len - OFF_OPTIONS, &f) < 0)
		return -EINVAL;
	/* RFC 2131 §4.1: with option 52, file then sname hold options too */
	if ((f.overload & 1) && walk(pkt + OFF_FILE, 128, &f) < 0)
		return -EINVAL;
	if ((f.overload & 2) && walk(pkt + OFF_SNAME, 64, &f) < 0)
		return -EINVAL;
	if ((f.type != 5 && (ack_only || f.type != 0)) || f.too_long) /* a DHCPACK */
		return -EINVAL;
	if (lease_s)
		*lease_s = f.lease_s;
	memset(&got, 0, sizeof(got));
	for (int k = 0; k < 2; k++)
		if (f.seen[k] &&
		    cf_dhcp_take(&got, CF_DHCP_OPT_GROUP + (unsigned)k, f.v[k], f.len[k]) < 0)
			return -EINVAL;
	out->has_hosts = got.has_hosts, out->has_group = got.has_group;
	memcpy(out->hosts, got.hosts, sizeof(out->hosts));
	memcpy(out->group, got.group, sizeof(out->group));
	return 0;
}

int cf_dhcp_inform_parse(const uint8_t *pkt, size_t len, uint32_t xid, struct cf_dhcp *out)
{
	if (len < OFF_OPTIONS || pkt[0] != 2 || memcmp(pkt + OFF_XID, &xid, 4))
		return -ESRCH;
	return reply_options(pkt, len, true, NULL, out);
}

int cf_dhcp_parse_bootp(const uint8_t *pkt, size_t len, uint32_t *lease_s, struct cf_dhcp *out)
{
	struct cf_dhcp got;
	int ret;

	if (len < OFF_OPTIONS || pkt[0] != 2)
		return -EINVAL;
	memset(&got, 0, sizeof(got));
	ret = reply_options(pkt, len, false, lease_s, &got);
	if (ret < 0)
		return ret;
	if (!got.has_hosts && !got.has_group)
		return -ENOENT;
	out->has_hosts = got.has_hosts, out->has_group = got.has_group;
	memcpy(out->hosts, got.hosts, sizeof(out->hosts));
	memcpy(out->group, got.group, sizeof(out->group));
	return 0;
}

/* A socket on addr (port 68 when we may, else ephemeral) that can broadcast. */
static int inform_socket(const char *ifname, struct in_addr addr, bool named)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(68)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0)
		goto fail;
	/* needs CAP_NET_RAW; the bound address picks the interface anyway (a limited broadcast
	 * leaves by the interface holding the source address) */
	if (named)
		(void)setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
				 (socklen_t)strlen(ifname));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		sa.sin_port = 0;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
	}
	return fd;
fail:
	one = -errno;
	close(fd);
	return one;
}

/* One interface: up to two INFORMs, wait_ms in all. 0, -ENOENT (no answer) or -errno. */
static int inform_on(const char *ifname, struct in_addr addr, bool named, int wait_ms,
		     struct cf_dhcp *out)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(67),
				 .sin_addr.s_addr = htonl(INADDR_BROADCAST)};
	uint8_t pkt[CF_DHCP_PKT_MAX], mac[6] = {0};
	struct ifreq ifr;
	uint32_t xid;
	int fd, n, ret = -ENOENT;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (getrandom(&xid, sizeof(xid), 0) != sizeof(xid))
		return -EIO;
	fd = inform_socket(ifname, addr, named);
	if (fd < 0)
		return fd;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	n = cf_dhcp_inform_build(pkt, sizeof(pkt), xid, addr.s_addr, mac);
	for (int try = 0; try < 2 && ret == -ENOENT; try++) {
		uint64_t end = cb_now_ns() + (uint64_t)(wait_ms / 2) * 1000000ull;

		if (sendto(fd, pkt, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			ret = -errno;
			break;
		}
		for (int polls = 0; polls < 64 && ret == -ENOENT; polls++) {
			uint64_t now = cb_now_ns();
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			uint8_t in[CF_DHCP_PKT_MAX];
			ssize_t got;

			if (now >= end || poll(&pfd, 1, (int)((end - now) / 1000000ull) + 1) <= 0)
				break;
			got = recv(fd, in, sizeof(in), 0);
			if (got > 0 && cf_dhcp_inform_parse(in, (size_t)got, xid, out) == 0)
				ret = 0;
		}
	}
	close(fd);
	if (!ret)
		snprintf(out->via, sizeof(out->via), "DHCPINFORM on %s", ifname);
	return ret;
}

int cf_dhcp_inform(const char *iface, int wait_ms, struct cf_dhcp *out, char *err, size_t errlen)
{
	struct ifaddrs *ifa, *i;
	int ret = -ENOENT, tried = 0;

	if (getifaddrs(&ifa) < 0) {
		ret = -errno;
		snprintf(err, errlen, "DHCPINFORM: the interfaces: %s", strerror(-ret));
		return ret;
	}
	for (i = ifa; i && ret == -ENOENT && tried < 4; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    (iface && strcmp(i->ifa_name, iface)))
			continue;
		if (!iface && (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)))
			continue;
		tried++;
		ret = inform_on(i->ifa_name, ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
				iface != NULL, wait_ms, out);
		if (ret < 0 && ret != -ENOENT) {
			snprintf(err, errlen, "DHCPINFORM on %s: %s", i->ifa_name, strerror(-ret));
			ret = -ENOENT; /* the next interface may do */
		}
	}
	freeifaddrs(ifa);
	if (!tried)
		snprintf(err, errlen,
			 iface ? "DHCPINFORM: interface %s has no IPv4 address"
			       : "DHCPINFORM: no interface is up with an IPv4 address%s",
			 iface ? iface : "");
	return ret;
}
