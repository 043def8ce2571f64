/*
 * dp_load: a kernel-socket load generator for the discovery responder
 * (bench/discovery.sh). It sends unauthenticated QUERYs from many UDP
 * sockets, each bound to its own source address (on loopback every
 * 127.0.0.0/8 address is local; on a veth the bench adds the addresses)
 * and its own port, batched with sendmmsg and read back with recvmmsg, so
 * that no single source dominates the responder's per-source rate limiter.
 * It keeps at most --window QUERYs outstanding (spread over the sockets):
 * a closed loop, so that the responder is kept busy without its socket
 * buffers overflowing. Each QUERY's txid is its send time (CLOCK_MONOTONIC
 * ns), which the OFFER echoes, so every reply gives a query->offer latency.
 *
 * Prints one line: sent, replies, bad (datagrams that are not an OFFER of
 * ours), lost (sent - replies: dropped, or still in flight at the end),
 * written_off (QUERYs no longer waited for after 20 ms of silence on their
 * socket; a late reply still counts), seconds, replies/s, p50 and p99
 * latency in microseconds, and this process's CPU seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dp_codec.h"

#define LOAD_BATCH    32
#define LOAD_SOCKS    1024
#define LOAD_HIST_US  100000 /* latency histogram: 1 us buckets up to 100 ms, then one */
#define LOAD_STALL_NS 20000000ull

struct load_sock {
	int fd;
	unsigned out; /* QUERYs outstanding */
	uint64_t last_ns;
};

struct load {
	struct sockaddr_in dst;
	struct in_addr src;
	unsigned nsrc, nsocks, window, secs;
	const char *dev;
	uint8_t query[DP_LEN];
	struct load_sock s[LOAD_SOCKS];
	uint64_t sent, replies, bad, lost;
	uint32_t hist[LOAD_HIST_US + 1];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dp_load --dst IP[:PORT] [OPTIONS]\n"
		"\n"
		"Sends discovery QUERYs over kernel UDP sockets and counts the OFFERs.\n"
		"  --dst IP[:PORT]  the responder (port default 8004)\n"
		"  --src IP         first source address (default: any)\n"
		"  --nsrc N         source addresses from --src on (default 1)\n"
		"  --socks N        sockets, one source port each (default 64, at most %d)\n"
		"  --window N       QUERYs outstanding in all (default 256)\n"
		"  --secs S         duration (default 5)\n"
		"  --id HEX         content ID asked (64 hex digits; default all zero)\n"
		"  --dev IF         SO_BINDTODEVICE\n",
		LOAD_SOCKS);
}

static int parse_hostport(const char *arg, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);

	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, arg, n);
	host[n] = '\0';
	a->sin_family = AF_INET;
	a->sin_port = htons(colon ? (uint16_t)atoi(colon + 1) : 8004);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

static int parse_id(const char *hex, uint8_t *out)
{
	if (strlen(hex) != 2 * DP_CONTENT_LEN)
		return -EINVAL;
	for (unsigned i = 0; i < DP_CONTENT_LEN; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -EINVAL;
	return 0;
}

static int parse_args(struct load *l, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dst", required_argument, NULL, 'd'},	  {"src", required_argument, NULL, 's'},
		{"nsrc", required_argument, NULL, 'n'},	  {"socks", required_argument, NULL, 'k'},
		{"window", required_argument, NULL, 'w'}, {"secs", required_argument, NULL, 't'},
		{"id", required_argument, NULL, 'i'},	  {"dev", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	struct dp_hdr h = {.type = DP_T_QUERY};
	struct dp_query q = {{0}};
	bool have_dst = false;
	int opt;

	l->nsrc = 1;
	l->nsocks = 64;
	l->window = 256;
	l->secs = 5;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (parse_hostport(optarg, &l->dst) < 0)
				return -EINVAL;
			have_dst = true;
			break;
		case 's':
			if (inet_pton(AF_INET, optarg, &l->src) != 1)
				return -EINVAL;
			break;
		case 'n':
			l->nsrc = (unsigned)atoi(optarg);
			break;
		case 'k':
			l->nsocks = (unsigned)atoi(optarg);
			break;
		case 'w':
			l->window = (unsigned)atoi(optarg);
			break;
		case 't':
			l->secs = (unsigned)atoi(optarg);
			break;
		case 'i':
			if (parse_id(optarg, q.content_id) < 0)
				return -EINVAL;
			break;
		case 'D':
			l->dev = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!have_dst || !l->nsrc || !l->nsocks || l->nsocks > LOAD_SOCKS || !l->window ||
	    !l->secs || optind != argc)
		return -EINVAL;
	return dp_encode_query(l->query, sizeof(l->query), &h, &q) == DP_LEN ? 0 : -EINVAL;
}

static int sock_open(const struct load *l, unsigned i)
{
	struct sockaddr_in me = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), buf = 1 << 20;

	if (fd < 0)
		return -errno;
	me.sin_addr.s_addr = l->src.s_addr ? htonl(ntohl(l->src.s_addr) + i % l->nsrc) : 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if ((l->dev && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, l->dev, strlen(l->dev)) < 0) ||
	    bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    connect(fd, (const struct sockaddr *)&l->dst, sizeof(l->dst)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* Tops socket s up to its share of the window. */
static void send_some(struct load *l, struct load_sock *s, unsigned share)
{
	static uint8_t bufs[LOAD_BATCH][DP_LEN];
	struct mmsghdr m[LOAD_BATCH];
	struct iovec iov[LOAD_BATCH];
	unsigned n = share > s->out ? share - s->out : 0;
	uint64_t t = now_ns();
	int sent;

	if (n > LOAD_BATCH)
		n = LOAD_BATCH;
	if (!n)
		return;
	memset(m, 0, sizeof(m));
	for (unsigned i = 0; i < n; i++) {
		uint64_t txid = t + i; /* unique, and the send time to within a few ns */

		memcpy(bufs[i], l->query, DP_LEN);
		memcpy(bufs[i] + 8, &txid, sizeof(txid));
		iov[i] = (struct iovec){bufs[i], DP_LEN};
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	sent = sendmmsg(s->fd, m, n, MSG_DONTWAIT);
	if (sent > 0) {
		if (!s->out)
			s->last_ns = t;
		s->out += (unsigned)sent;
		l->sent += (uint64_t)sent;
	}
}

/* Reads what socket s has; returns the replies taken. */
static unsigned recv_some(struct load *l, struct load_sock *s)
{
	static uint8_t bufs[LOAD_BATCH][DP_LEN_AUTH + 1];
	struct mmsghdr m[LOAD_BATCH];
	struct iovec iov[LOAD_BATCH];
	uint64_t t;
	int n;

	memset(m, 0, sizeof(m));
	for (unsigned i = 0; i < LOAD_BATCH; i++) {
		iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(s->fd, m, LOAD_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	t = now_ns();
	for (int i = 0; i < n; i++) {
		uint64_t txid, us;

		if (m[i].msg_len != DP_LEN || memcmp(bufs[i], "CBXD", 4) != 0 ||
		    bufs[i][5] != DP_T_OFFER) {
			l->bad++;
			continue;
		}
		memcpy(&txid, bufs[i] + 8, sizeof(txid));
		us = t > txid ? (t - txid) / 1000 : 0;
		l->hist[us < LOAD_HIST_US ? us : LOAD_HIST_US]++;
		l->replies++;
		if (s->out)
			s->out--;
	}
	s->last_ns = t;
	return (unsigned)n;
}

/* This process's CPU time (user + system), seconds. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double percentile(const struct load *l, double p)
{
	uint64_t want = (uint64_t)((double)l->replies * p), seen = 0;

	if (!l->replies)
		return 0;
	for (unsigned i = 0; i <= LOAD_HIST_US; i++) {
		seen += l->hist[i];
		if (seen > want)
			return i + 0.5;
	}
	return LOAD_HIST_US;
}

static void run(struct load *l)
{
	static struct pollfd pfd[LOAD_SOCKS];
	unsigned share = (l->window + l->nsocks - 1) / l->nsocks;
	uint64_t t0 = now_ns(), end = t0 + l->secs * 1000000000ull, t;

	for (unsigned i = 0; i < l->nsocks; i++)
		pfd[i] = (struct pollfd){.fd = l->s[i].fd, .events = POLLIN};
	for (uint64_t round = 0; round < (1ull << 40) && (t = now_ns()) < end; round++) {
		unsigned got = 0;

		for (unsigned i = 0; i < l->nsocks; i++) {
			struct load_sock *s = &l->s[i];

			got += recv_some(l, s);
			if (s->out && t - s->last_ns > LOAD_STALL_NS) {
				l->lost += s->out; /* dropped somewhere: write them off */
				s->out = 0;
			}
			send_some(l, s, share);
		}
		if (!got)
			poll(pfd, l->nsocks, 1);
	}
	t = now_ns();
	printf("sent=%llu replies=%llu bad=%llu lost=%llu written_off=%llu secs=%.3f rate=%.0f "
	       "p50_us=%.1f "
	       "p99_us=%.1f cpu=%.3f\n",
	       (unsigned long long)l->sent, (unsigned long long)l->replies,
	       (unsigned long long)l->bad, (unsigned long long)(l->sent - l->replies),
	       (unsigned long long)l->lost, (double)(t - t0) / 1e9,
	       (double)l->replies / ((double)(t - t0) / 1e9), percentile(l, 0.50),
	       percentile(l, 0.99), cpu_s());
}

int main(int argc, char **argv)
{
	static struct load l;
	int ret = 1;

	if (parse_args(&l, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	for (unsigned i = 0; i < l.nsocks; i++)
		l.s[i].fd = -1;
	for (unsigned i = 0; i < l.nsocks; i++) {
		l.s[i].fd = sock_open(&l, i);
		if (l.s[i].fd < 0) {
			fprintf(stderr, "dp_load: socket %u: %s\n", i, strerror(-l.s[i].fd));
			goto out;
		}
	}
	run(&l);
	ret = 0;
out:
	for (unsigned i = 0; i < l.nsocks; i++)
		if (l.s[i].fd >= 0)
			close(l.s[i].fd);
	return ret;
}
