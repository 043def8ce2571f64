/*
 * The kernel socket backend: one UDP socket for IPv4 (broadcast and
 * unicast QUERYs, bound to the wildcard address so that broadcasts reach
 * it) and one for IPv6 (unicast only; IPv6 has no broadcast), read and
 * answered in batches with recvmmsg/sendmmsg. It needs no privilege at all
 * for a port above 1023. IP_PKTINFO / IPV6_PKTINFO tell which interface
 * and local address a QUERY came to, which gives the on-link check its
 * subnet and the reply its source address (the interface's own, never the
 * broadcast address a QUERY was sent to).
 *
 * With [discovery] address set, discovery runs on the one interface that
 * holds that address: QUERYs arriving on any other are dropped (counted as
 * not_ours) and ANNOUNCE and BYE go out on it alone. Without it, every
 * interface answers and every IPv4 interface with a broadcast address
 * announces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cb_log.h"
#include "cb_sandbox.h"
#include "dp_backend.h"

#define SOCK_IFACES  64 /* interface addresses known (refreshed every DP_SERVICE_NS) */
#define SOCK_POLL_MS 200

struct sock_iface {
	unsigned index;
	struct cfg_cidr cidr; /* address/prefix, host bits kept, 16-byte form */
	bool bcast;	      /* IPv4 with a broadcast address: ANNOUNCE/BYE go there */
	struct in_addr bcast_addr;
};

/* One batch slot: the datagram, its peer and its control data, reused for the reply. */
struct sock_slot {
	uint8_t buf[DP_LEN_AUTH + 1]; /* one byte more than the longest valid datagram */
	struct sockaddr_storage peer;
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
};

struct sock_be {
	struct dp_run *run;
	struct cb_disc_lane *lane;
	int fd4, fd6;
	unsigned only; /* interface index of [discovery] address, 0 = every interface */
	struct sock_iface ifs[SOCK_IFACES];
	unsigned nifs;
	struct sock_slot slot[DP_BURST];
	struct mmsghdr rx[DP_BURST], tx[DP_BURST];
};

static void v4_to16(struct in_addr a, uint8_t out[16])
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a, 4);
}

static unsigned prefix_len(const uint8_t *mask, size_t n)
{
	unsigned bits = 0;

	for (size_t i = 0; i < n; i++)
		bits += (unsigned)__builtin_popcount(mask[i]);
	return bits;
}

/*
 * The interface's broadcast address, else its subnet's: `ip addr add
 * A/24` sets none (and glibc's getifaddrs then reports the interface's own
 * address as ifa_broadaddr), yet the kernel accepts the subnet broadcast all
 * the same (it routes prefix | ~mask as broadcast). /31 and /32 have none.
 */
static void bcast_of(struct sock_iface *f, const struct ifaddrs *it, const struct sockaddr_in *a,
		     const struct sockaddr_in *m)
{
	const struct sockaddr_in *b = (const void *)it->ifa_broadaddr;

	if (b && b->sin_family == AF_INET && b->sin_addr.s_addr != 0 &&
	    b->sin_addr.s_addr != a->sin_addr.s_addr) {
		f->bcast = true;
		f->bcast_addr = b->sin_addr;
	} else if (f->cidr.prefix <= 96 + 30) {
		f->bcast = true;
		f->bcast_addr.s_addr = a->sin_addr.s_addr | ~m->sin_addr.s_addr;
	}
}

static void ifaces_refresh(struct sock_be *be)
{
	struct ifaddrs *all, *it;
	unsigned n = 0;

	if (getifaddrs(&all) < 0) {
		cb_warn("getifaddrs: %s (keeping the interfaces known)", strerror(errno));
		return;
	}
	for (it = all; it && n < SOCK_IFACES; it = it->ifa_next) {
		struct sock_iface *f = &be->ifs[n];

		if (!it->ifa_addr || !it->ifa_netmask || !(it->ifa_flags & IFF_UP))
			continue;
		memset(f, 0, sizeof(*f));
		f->index = if_nametoindex(it->ifa_name);
		if (it->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)it->ifa_addr;
			const struct sockaddr_in *m = (const void *)it->ifa_netmask;

			v4_to16(a->sin_addr, f->cidr.addr);
			f->cidr.prefix = (uint8_t)(96 + prefix_len((const void *)&m->sin_addr, 4));
			f->cidr.v4 = true;
			if (it->ifa_flags & IFF_BROADCAST)
				bcast_of(f, it, a, m);
		} else if (it->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)it->ifa_addr;
			const struct sockaddr_in6 *m = (const void *)it->ifa_netmask;

			memcpy(f->cidr.addr, &a->sin6_addr, 16);
			f->cidr.prefix = (uint8_t)prefix_len((const void *)&m->sin6_addr, 16);
		} else {
			continue;
		}
		n++;
	}
	freeifaddrs(all);
	be->nifs = n;
}

/* The address of interface index in src's family whose subnet holds src, else its first one. */
static const struct cfg_cidr *iface_of(const struct sock_be *be, unsigned index,
				       const uint8_t src[16], bool v4)
{
	const struct cfg_cidr *first = NULL;

	for (unsigned i = 0; i < be->nifs; i++) {
		const struct sock_iface *f = &be->ifs[i];

		if (f->index != index || f->cidr.v4 != v4)
			continue;
		if (cfg_cidr_contains(&f->cidr, src))
			return &f->cidr;
		if (!first)
			first = &f->cidr;
	}
	return first;
}

static int sock_open(int family, uint16_t port, int *fd_out)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int one = 1, fd;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		sl = sizeof(*a);
		if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			goto fail;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		sl = sizeof(*a);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	*fd_out = fd;
	return 0;
fail:
	one = -errno;
	close(fd);
	return one;
}

static int sockets_open(struct sock_be *be, uint16_t port)
{
	int ret = sock_open(AF_INET, port, &be->fd4);

	if (ret < 0) {
		cb_err("socket backend: cannot bind UDP 0.0.0.0:%u: %s%s", port, strerror(-ret),
		       ret == -EADDRINUSE ? " (another dataplane, or another program, holds it)"
		       : ret == -EACCES	  ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
					  : "");
		return ret;
	}
	ret = sock_open(AF_INET6, port, &be->fd6);
	if (ret < 0) {
		cb_warn("socket backend: no IPv6 on UDP [::]:%u (%s): IPv4 only", port,
			strerror(-ret));
		be->fd6 = -1;
	}
	return 0;
}

static void rx_prepare(struct sock_be *be)
{
	for (unsigned i = 0; i < DP_BURST; i++) {
		struct sock_slot *s = &be->slot[i];
		struct msghdr *h = &be->rx[i].msg_hdr;

		s->iov.iov_base = s->buf;
		s->iov.iov_len = sizeof(s->buf);
		memset(h, 0, sizeof(*h));
		h->msg_name = &s->peer;
		h->msg_namelen = sizeof(s->peer);
		h->msg_iov = &s->iov;
		h->msg_iovlen = 1;
		h->msg_control = s->ctl.buf;
		h->msg_controllen = sizeof(s->ctl.buf);
	}
}

/*
 * The source of datagram i and the interface it came in on; rewrites the
 * slot's control data into the reply's (same interface, the local address
 * the QUERY reached as source, or the interface's for a broadcast).
 */
static unsigned peer_of(struct sock_be *be, unsigned i, struct dp_src *src)
{
	struct msghdr *h = &be->rx[i].msg_hdr;
	unsigned index = 0;
	bool v4 = be->slot[i].peer.ss_family == AF_INET;

	memset(src, 0, sizeof(*src));
	if (v4) {
		const struct sockaddr_in *a = (const void *)&be->slot[i].peer;

		v4_to16(a->sin_addr, src->addr);
		src->port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const void *)&be->slot[i].peer;

		memcpy(src->addr, &a->sin6_addr, 16);
		src->port = ntohs(a->sin6_port);
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);

			index = (unsigned)pi->ipi_ifindex;
			pi->ipi_addr.s_addr = 0; /* ignored on send; spec_dst is the source */
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			index = ((struct in6_pktinfo *)CMSG_DATA(c))->ipi6_ifindex;
		}
	}
	src->iface = iface_of(be, index, src->addr, v4);
	return index;
}

/* Receives one batch on fd, answers it, sends the answers. */
static void batch(struct sock_be *be, int fd, const struct dp_now *now)
{
	unsigned ntx = 0;
	int n, sent;

	rx_prepare(be);
	n = recvmmsg(fd, be->rx, DP_BURST, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &be->rx[i].msg_hdr;
		struct dp_src src;
		size_t len = be->rx[i].msg_len;

		if (h->msg_flags & MSG_TRUNC)
			len = sizeof(be->slot[i].buf); /* longer than any valid datagram */
		if (peer_of(be, (unsigned)i, &src) != be->only && be->only) {
			cb_disc_add(&be->lane->rx, 1);
			cb_disc_add(&be->lane->not_ours, 1);
			continue;
		}
		len = dp_resp_handle(be->run->resp, be->lane, be->slot[i].buf, len, &src, now);
		if (!len)
			continue;
		be->slot[i].iov.iov_len = len;
		be->tx[ntx].msg_hdr = *h; /* peer as destination, pktinfo as source */
		be->tx[ntx].msg_hdr.msg_flags = 0;
		ntx++;
	}
	for (unsigned done = 0; done < ntx; done += (unsigned)sent) {
		sent = sendmmsg(fd, be->tx + done, ntx - done, MSG_DONTWAIT);
		if (sent > 0)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			cb_disc_add(&be->lane->tx_failed, ntx - done); /* the queue is full */
			break;
		}
		cb_disc_add(&be->lane->tx_failed, 1); /* this one cannot go: skip it */
		sent = 1;
	}
}

/* ANNOUNCE or BYE to the broadcast address of every IPv4 interface that has one. */
static void announce(struct sock_be *be, enum dp_type type, const struct dp_now *now)
{
	uint8_t buf[DP_LEN_AUTH];
	unsigned sent = 0;

	for (unsigned i = 0; i < be->nifs; i++) {
		const struct sock_iface *f = &be->ifs[i];
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = f->bcast_addr};
		int len;

		if (!f->bcast || (be->only && f->index != be->only))
			continue;
		to.sin_port = htons(be->run->cfg->discovery.port);
		len = dp_resp_announce(be->run->resp, type, &f->cidr, now, buf, sizeof(buf));
		if (len < 0 || sendto(be->fd4, buf, (size_t)len, 0, (struct sockaddr *)&to,
				      sizeof(to)) != len) {
			cb_disc_add(&be->lane->tx_failed, 1);
			continue;
		}
		sent++;
	}
	cb_disc_add(type == DP_T_BYE ? &be->lane->byes : &be->lane->announces, sent);
	if (type == DP_T_BYE)
		cb_info("BYE sent on %u interface(s)", sent);
	else
		cb_dbg("ANNOUNCE sent on %u interface(s)", sent);
}

static void publish_text(struct sock_be *be)
{
	char listen[CB_DISC_TEXT], adv[CB_DISC_TEXT];
	char ifname[IF_NAMESIZE] = "";

	if (be->only && if_indextoname(be->only, ifname))
		snprintf(listen, sizeof(listen), "0.0.0.0:%u%s on %s", be->run->cfg->discovery.port,
			 be->fd6 >= 0 ? " [::]" : "", ifname);
	else
		snprintf(listen, sizeof(listen), "0.0.0.0:%u%s", be->run->cfg->discovery.port,
			 be->fd6 >= 0 ? " [::]" : "");
	dp_resp_describe(be->run->resp, adv, sizeof(adv));
	cb_disc_set_text(be->run->disc, listen, adv);
}

static void loop(struct sock_be *be)
{
	struct pollfd pfd[2] = {{.fd = be->fd4, .events = POLLIN},
				{.fd = be->fd6, .events = POLLIN}};
	struct dp_now now, last;

	dp_now_read(&last);
	while (!*be->run->stop) {
		int n = poll(pfd, be->fd6 >= 0 ? 2 : 1, SOCK_POLL_MS);

		dp_now_read(&now);
		if (n > 0 && (pfd[0].revents & POLLIN))
			batch(be, be->fd4, &now);
		if (n > 0 && be->fd6 >= 0 && (pfd[1].revents & POLLIN))
			batch(be, be->fd6, &now);
		if (*be->run->reload || now.mono_ns - last.mono_ns >= DP_SERVICE_NS) {
			bool reload = *be->run->reload;

			*be->run->reload = 0;
			if (reload)
				cb_disc_count_reload(be->run->disc);
			ifaces_refresh(be);
			if (dp_resp_service(be->run->resp, reload, &now)) {
				announce(be, DP_T_ANNOUNCE, &now);
				dp_resp_announced(be->run->resp, &now);
			}
			last = now;
		}
	}
}

/* The interface holding [discovery] address, when it is set: 0, or -ENODEV (logged). */
static int only_find(struct sock_be *be, const struct cfg *c)
{
	char a[INET_ADDRSTRLEN];

	if (!c->discovery.has_address)
		return 0;
	for (unsigned i = 0; i < be->nifs; i++) {
		if (be->ifs[i].cidr.v4 &&
		    memcmp(be->ifs[i].cidr.addr, c->discovery.address.addr, 16) == 0) {
			be->only = be->ifs[i].index;
			return 0;
		}
	}
	inet_ntop(AF_INET, c->discovery.address.addr + 12, a, sizeof(a));
	cb_err("socket backend: [discovery] address %s is on no interface that is up (ip addr "
	       "add %s/%u dev IFACE, or leave address empty to answer on every interface)",
	       a, a, c->discovery.address.prefix - 96);
	return -ENODEV;
}

int dp_sock_run(struct dp_run *run)
{
	static struct sock_be be; /* one backend per process; too large for the stack */
	struct dp_now now;
	int ret;

	memset(&be, 0, sizeof(be));
	be.run = run;
	be.fd4 = be.fd6 = -1;
	be.lane = cb_disc_lane(run->disc, 0);
	ret = sockets_open(&be, run->cfg->discovery.port);
	if (ret < 0)
		return ret;
	ifaces_refresh(&be);
	ret = only_find(&be, run->cfg);
	if (ret < 0) {
		close(be.fd4);
		if (be.fd6 >= 0)
			close(be.fd6);
		return ret;
	}
	publish_text(&be);
	/* answering from here on: no capability, and only the system calls it makes */
	ret = cb_caps_limit(NULL, 0);
	if (!ret)
		ret = cb_seccomp_enter(CB_SECCOMP_DP_SOCKET);
	if (ret < 0) {
		close(be.fd4);
		if (be.fd6 >= 0)
			close(be.fd6);
		return ret;
	}
	cb_disc_set_state(run->disc, CB_DISC_RUNNING);
	cb_info("socket backend answering on UDP port %u (IPv4%s)", run->cfg->discovery.port,
		be.fd6 >= 0 ? " and IPv6" : " only");
	dp_now_read(&now);
	announce(&be, DP_T_ANNOUNCE, &now);
	dp_resp_announced(run->resp, &now);
	loop(&be);
	dp_now_read(&now);
	announce(&be, DP_T_BYE, &now);
	close(be.fd4);
	if (be.fd6 >= 0)
		close(be.fd6);
	return 0;
}
