/*
 * The exchange half of the client's discovery (cf_discover.h): one UDP
 * socket, one QUERY (to --discover-target, else the IPv4 limited broadcast
 * 255.255.255.255:8004), and whatever comes back until --discover-wait has
 * passed, each datagram judged by cf_disc_judge and the good OFFERs kept in
 * rank order. One QUERY, not several: on a LAN a lost datagram is rare, and
 * every box answers each QUERY it receives, so retransmits would multiply
 * the boxes' work for nothing in the common case. Discovery failing at run
 * time (no route, no interface address, nobody answering) is never fatal:
 * the download goes on with the listed hosts and the origin, and stderr
 * says what happened. Only bad input (target, interface, key file) is.
 *
 * --interface: SO_BINDTODEVICE, which Linux (5.7 on) allows any process on
 * a socket not yet bound to a device; where it is refused (EPERM, older
 * kernels without CAP_NET_RAW) the socket is bound to the interface's IPv4
 * address instead, which makes the kernel send a limited broadcast out of
 * that interface (and replies come to that address).
 */
#include "cf_discover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cb_common.h"

struct disc {
	const struct cf_opts *o;
	int fd;
	struct sockaddr_storage to;
	socklen_t tolen;
	char to_text[INET6_ADDRSTRLEN + 8];
	struct dp_keys *keys;
	struct cf_disc_query q;
	struct dp_offer_fields offers[CF_HOSTS_MAX];
	size_t noffers;
	unsigned refused[CF_DISC_NVERDICTS];
};

static void note(const struct disc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const struct disc *d, const char *fmt, ...)
{
	va_list ap;

	if (d->o->quiet)
		return;
	fputs("cachebox-fetch: discovery: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The target, the key and the QUERY's fields; CF_EXIT_USAGE on bad input. */
static int disc_setup(struct disc *d, const uint8_t *group, const uint8_t id[32], char *err,
		      size_t errlen)
{
	const struct cf_opts *o = d->o;
	struct sockaddr_in *sin = (struct sockaddr_in *)&d->to;
	char a[INET6_ADDRSTRLEN] = "", why[256];
	int e;

	if (o->discover_target) {
		if (cf_disc_target_parse(o->discover_target, &d->to, &d->tolen) < 0) {
			snprintf(err, errlen,
				 "--discover-target '%s': expected an IPv4 or IPv6 address with "
				 "an optional port (ADDR, ADDR:PORT, [IPv6]:PORT)",
				 o->discover_target);
			return CF_EXIT_USAGE;
		}
	} else {
		memset(&d->to, 0, sizeof(d->to));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(CF_DISC_PORT);
		sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
		d->tolen = sizeof(*sin);
	}
	if (d->to.ss_family == AF_INET)
		snprintf(d->to_text, sizeof(d->to_text), "%s:%u",
			 inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)), ntohs(sin->sin_port));
	else
		snprintf(d->to_text, sizeof(d->to_text), "[%s]:%u",
			 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&d->to)->sin6_addr, a,
				   sizeof(a)),
			 ntohs(((struct sockaddr_in6 *)&d->to)->sin6_port));
	if (o->iface && !if_nametoindex(o->iface)) {
		snprintf(err, errlen, "--interface %s: no such interface", o->iface);
		return CF_EXIT_USAGE;
	}
	if (o->group_key_file) {
		d->keys = calloc(1, sizeof(*d->keys));
		if (!d->keys) {
			snprintf(err, errlen, "out of memory");
			return CF_EXIT_GENERIC;
		}
		e = dp_keys_load(d->keys, o->group_key_file, why, sizeof(why));
		if (e < 0) {
			snprintf(err, errlen, "--group-key-file: %s", why); /* names the file */
			return CF_EXIT_USAGE;
		}
		d->q.key = &d->keys->keys[0];
	}
	if (group)
		memcpy(d->q.group, group, DP_GUID_LEN);
	memcpy(d->q.id, id, DP_CONTENT_LEN);
	return 0;
}

/* The first IPv4 address of interface name, into *out; false when it has none. */
static bool iface_v4(const char *name, struct in_addr *out)
{
	struct ifaddrs *all, *i;
	bool found = false;

	if (getifaddrs(&all) < 0)
		return false;
	for (i = all; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !strcmp(i->ifa_name, name)) {
			*out = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			found = true;
		}
	freeifaddrs(all);
	return found;
}

/* Keeps the socket to --interface; false (with a note) when it cannot. */
static bool bind_iface(struct disc *d)
{
	const char *name = d->o->iface;
	struct sockaddr_in sin = {.sin_family = AF_INET};

	if (setsockopt(d->fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)strlen(name)) == 0)
		return true;
	if (errno != EPERM || d->to.ss_family != AF_INET) {
		note(d, "cannot keep to interface %s: %s", name, strerror(errno));
		return false;
	}
	if (!iface_v4(name, &sin.sin_addr)) {
		note(d, "interface %s has no IPv4 address", name);
		return false;
	}
	if (bind(d->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		note(d, "cannot bind to the address of %s: %s", name, strerror(errno));
		return false;
	}
	return true;
}

/* Opens the socket and sends the QUERY; false (with a note) on a network failure. */
static bool disc_send(struct disc *d)
{
	uint8_t buf[DP_LEN_AUTH], nonce[DP_NONCE_LEN];
	int one = 1, len;

	if (getrandom(&d->q.txid, sizeof(d->q.txid), 0) != (ssize_t)sizeof(d->q.txid) ||
	    getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
		note(d, "no random bytes for the QUERY: %s", strerror(errno));
		return false;
	}
	len = cf_disc_query_encode(&d->q, (uint64_t)time(NULL), nonce, buf, sizeof(buf));
	CB_ASSERT(len == DP_LEN || len == DP_LEN_AUTH); /* our own fields always encode */
	d->fd = socket(d->to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		note(d, "socket: %s", strerror(errno));
		return false;
	}
	if (d->to.ss_family == AF_INET &&
	    setsockopt(d->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0) {
		note(d, "SO_BROADCAST: %s", strerror(errno));
		return false;
	}
	if (d->o->iface && !bind_iface(d))
		return false;
	if (sendto(d->fd, buf, (size_t)len, 0, (struct sockaddr *)&d->to, d->tolen) != len) {
		note(d, "sending the QUERY to %s: %s", d->to_text, strerror(errno));
		return false;
	}
	return true;
}

/* Reads and judges datagrams until the wait is over (or CF_DISC_DATAGRAMS_MAX came). */
static void disc_collect(struct disc *d)
{
	uint64_t end = cb_now_ns() + (uint64_t)d->o->discover_wait_ms * 1000000ull;
	uint8_t buf[DP_LEN_AUTH + 1]; /* one byte more than the longest valid datagram */

	for (int i = 0; i < CF_DISC_DATAGRAMS_MAX; i++) {
		struct pollfd p = {.fd = d->fd, .events = POLLIN};
		struct dp_offer_fields f;
		enum cf_disc_verdict v;
		uint64_t now = cb_now_ns();
		ssize_t len;

		if (now >= end)
			break;
		if (poll(&p, 1, (int)((end - now + 999999) / 1000000)) <= 0)
			continue; /* the wait is over, or a signal: the loop head decides */
		len = recv(d->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC); /* its real length */
		if (len < 0)
			continue;
		if ((size_t)len > sizeof(buf))
			v = CF_DISC_INVALID; /* longer than any datagram of PROTOCOL.md */
		else
			v = cf_disc_judge(&d->q, buf, (size_t)len, cb_wall_ns() / 1000000000ull,
					  &f);
		if (v == CF_DISC_OK)
			cf_disc_add(d->offers, &d->noffers, CB_ARRAY_SIZE(d->offers), &f);
		else
			d->refused[v]++;
	}
}

/* "no offers in 300 ms (refused: 1 bad_mac, 2 wrong_group)" */
static void say_none(const struct disc *d)
{
	char why[256] = "";
	size_t at = 0;

	for (int v = 1; v < CF_DISC_NVERDICTS; v++)
		if (d->refused[v] && at < sizeof(why))
			at += (size_t)snprintf(why + at, sizeof(why) - at, "%s%u %s",
					       at ? ", " : " (refused: ", d->refused[v],
					       cf_disc_verdict_name((enum cf_disc_verdict)v));
	note(d, "no offers in %d ms from %s%s%s", d->o->discover_wait_ms, d->to_text, why,
	     at ? ")" : "");
}

int cf_discover(const struct cf_opts *o, const uint8_t *group, const uint8_t id[32],
		struct cf_host *v, size_t cap, size_t *n, char *err, size_t errlen)
{
	struct disc *d = calloc(1, sizeof(*d));
	int ret;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return CF_EXIT_GENERIC;
	}
	d->o = o;
	d->fd = -1;
	ret = disc_setup(d, group, id, err, errlen);
	if (ret)
		goto out;
	if (disc_send(d))
		disc_collect(d);
	if (!d->noffers)
		say_none(d);
	cf_disc_hosts(d->offers, d->noffers, v, cap, n);
out:
	if (d->fd >= 0)
		close(d->fd);
	dp_keys_wipe(d->keys);
	free(d->keys);
	free(d);
	return ret;
}
