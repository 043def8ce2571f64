/*
 * dp_memif_gen: a DPDK load generator for the discovery responder's DPDK
 * backend (bench/discovery.sh), made for net_memif, where a kernel socket
 * generator could not reach the other end at all and a fast one is needed
 * (the responder does millions of replies per second there). It runs on
 * any DPDK port its EAL arguments give: it resolves the responder's MAC by
 * ARP (which the responder answers itself), then sends Ethernet/IPv4/UDP
 * frames carrying unauthenticated QUERYs from --nsrc source addresses and
 * 4096 source ports, at most --window outstanding, and counts the OFFERs
 * that come back. The txid of each QUERY is its TSC at send, so every
 * OFFER gives a query->offer latency. Frames are built from one template
 * into mbufs from a pool made at start.
 *
 *   dp_memif_gen EAL-ARGS -- --dst IP --src IP [--nsrc N] [--window N] [--secs S] [--id HEX]
 *
 * Prints one line like dp_load's: sent, replies, bad, lost, written_off,
 * secs, rate, p50_us, p99_us, cpu.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dp_codec.h"

#define GEN_BURST    32
#define GEN_PORTS    4096 /* source ports used per source address */
#define GEN_HDRS     42	  /* Ethernet 14 + IPv4 20 + UDP 8 */
#define GEN_FRAME    (GEN_HDRS + DP_LEN)
#define GEN_HIST_US  100000
#define GEN_STALL_MS 5

struct gen {
	uint16_t port, dport;
	uint32_t dst, src; /* network order */
	unsigned nsrc, window, secs;
	uint8_t mac[6], peer[6];
	uint8_t tmpl[GEN_FRAME];
	struct rte_mempool *pool;
	uint64_t sent, replies, bad, lost, inflight, seq;
	uint64_t hz;
	uint32_t hist[GEN_HIST_US + 1];
};

static uint16_t csum16(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int parse_args(struct gen *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{"dst", required_argument, NULL, 'd'},	 {"src", required_argument, NULL, 's'},
		{"nsrc", required_argument, NULL, 'n'},	 {"window", required_argument, NULL, 'w'},
		{"secs", required_argument, NULL, 't'},	 {"id", required_argument, NULL, 'i'},
		{"dport", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0},
	};
	struct dp_hdr h = {.type = DP_T_QUERY};
	struct dp_query q = {{0}};
	int opt;

	g->nsrc = 16;
	g->window = 512;
	g->secs = 5;
	g->dport = 8004;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (inet_pton(AF_INET, optarg, &g->dst) != 1)
				return -EINVAL;
			break;
		case 's':
			if (inet_pton(AF_INET, optarg, &g->src) != 1)
				return -EINVAL;
			break;
		case 'n':
			g->nsrc = (unsigned)atoi(optarg);
			break;
		case 'w':
			g->window = (unsigned)atoi(optarg);
			break;
		case 't':
			g->secs = (unsigned)atoi(optarg);
			break;
		case 'p':
			g->dport = (uint16_t)atoi(optarg);
			break;
		case 'i':
			if (strlen(optarg) != 64)
				return -EINVAL;
			for (unsigned i = 0; i < DP_CONTENT_LEN; i++)
				if (sscanf(optarg + 2 * i, "%2hhx", &q.content_id[i]) != 1)
					return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!g->dst || !g->src || !g->nsrc || !g->window || !g->secs)
		return -EINVAL;
	return dp_encode_query(g->tmpl + GEN_HDRS, DP_LEN, &h, &q) == DP_LEN ? 0 : -EINVAL;
}

static int port_start(struct gen *g)
{
	struct rte_eth_conf conf = {0};
	struct rte_ether_addr mac;
	uint16_t nrxd = 1024, ntxd = 1024;

	if (rte_eth_dev_count_avail() < 1) {
		fprintf(stderr, "dp_memif_gen: no DPDK port (give a --vdev)\n");
		return -ENODEV;
	}
	g->port = 0;
	g->pool = rte_pktmbuf_pool_create("gen_mbufs", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!g->pool || rte_eth_dev_configure(g->port, 1, 1, &conf) < 0 ||
	    rte_eth_dev_adjust_nb_rx_tx_desc(g->port, &nrxd, &ntxd) < 0 ||
	    rte_eth_rx_queue_setup(g->port, 0, nrxd, rte_socket_id(), NULL, g->pool) < 0 ||
	    rte_eth_tx_queue_setup(g->port, 0, ntxd, rte_socket_id(), NULL) < 0 ||
	    rte_eth_dev_start(g->port) < 0 || rte_eth_macaddr_get(g->port, &mac) < 0) {
		fprintf(stderr, "dp_memif_gen: port setup failed\n");
		return -EIO;
	}
	memcpy(g->mac, mac.addr_bytes, 6);
	return 0;
}

static bool link_wait(const struct gen *g, unsigned ms)
{
	struct rte_eth_link link;

	for (unsigned i = 0; i < ms / 10; i++) {
		if (rte_eth_link_get_nowait(g->port, &link) == 0 && link.link_status)
			return true;
		rte_delay_ms(10);
	}
	return false;
}

/* An ARP request for g->dst from g->src, into m. False when m has no room. */
static bool arp_request(const struct gen *g, struct rte_mbuf *m)
{
	uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, 60);

	if (!f)
		return false;
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, g->mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);      /* Ethernet */
	put16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1); /* request */
	memcpy(f + 22, g->mac, 6);
	memcpy(f + 28, &g->src, 4);
	memcpy(f + 38, &g->dst, 4);
	return true;
}

/* The responder's MAC by ARP: a request every 100 ms for up to 3 s. */
static int arp_resolve(struct gen *g)
{
	struct rte_mbuf *pkts[GEN_BURST];

	for (unsigned tries = 0; tries < 30; tries++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);

		if (m && (!arp_request(g, m) || rte_eth_tx_burst(g->port, 0, &m, 1) != 1))
			rte_pktmbuf_free(m);
		for (unsigned spin = 0; spin < 100; spin++) {
			uint16_t n = rte_eth_rx_burst(g->port, 0, pkts, GEN_BURST);
			bool found = false;

			for (uint16_t i = 0; i < n; i++) {
				const uint8_t *f = rte_pktmbuf_mtod(pkts[i], const uint8_t *);

				if (rte_pktmbuf_data_len(pkts[i]) >= 42 && f[12] == 0x08 &&
				    f[13] == 0x06 && f[21] == 2 &&
				    memcmp(f + 28, &g->dst, 4) == 0) {
					memcpy(g->peer, f + 22, 6);
					found = true;
				}
			}
			rte_pktmbuf_free_bulk(pkts, n);
			if (found)
				return 0;
			rte_delay_ms(1);
		}
	}
	fprintf(stderr, "dp_memif_gen: no ARP reply for the responder's address\n");
	return -EHOSTUNREACH;
}

static void template_build(struct gen *g)
{
	uint8_t *f = g->tmpl, *ip = f + 14, *udp = ip + 20;

	memcpy(f, g->peer, 6);
	memcpy(f + 6, g->mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + DP_LEN);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 16, &g->dst, 4);
	put16(udp + 2, g->dport);
	put16(udp + 4, 8 + DP_LEN); /* checksum 0: none (IPv4 allows it) */
}

/* One burst of QUERYs, each from the next source address and port. */
static void send_burst(struct gen *g, unsigned n)
{
	struct rte_mbuf *m[GEN_BURST];
	uint64_t tsc = rte_rdtsc();
	uint16_t sent;

	if (rte_pktmbuf_alloc_bulk(g->pool, m, n) != 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *f = (uint8_t *)rte_pktmbuf_append(m[i], GEN_FRAME), *ip = f + 14;
		uint64_t seq = g->seq++, txid = tsc + i;
		uint32_t src = htonl(ntohl(g->src) + (uint32_t)(seq % g->nsrc));

		memcpy(f, g->tmpl, GEN_FRAME);
		memcpy(ip + 12, &src, 4);
		put16(ip + 4, (uint16_t)seq);
		put16(ip + 10, csum16(ip, 20));
		put16(ip + 20, (uint16_t)(1024 + (seq / g->nsrc) % GEN_PORTS));
		memcpy(f + GEN_HDRS + 8, &txid, sizeof(txid));
	}
	sent = rte_eth_tx_burst(g->port, 0, m, (uint16_t)n);
	if (sent < n)
		rte_pktmbuf_free_bulk(m + sent, n - sent);
	g->sent += sent;
	g->inflight += sent;
}

static unsigned recv_burst(struct gen *g)
{
	struct rte_mbuf *m[GEN_BURST];
	uint16_t n = rte_eth_rx_burst(g->port, 0, m, GEN_BURST);
	uint64_t tsc = rte_rdtsc();

	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *f = rte_pktmbuf_mtod(m[i], const uint8_t *);
		uint64_t txid, us;

		if (rte_pktmbuf_data_len(m[i]) < GEN_FRAME || f[12] != 0x08 || f[13] != 0x00 ||
		    f[23] != 17 || f[GEN_HDRS + 5] != DP_T_OFFER) {
			g->bad++;
			continue;
		}
		memcpy(&txid, f + GEN_HDRS + 8, sizeof(txid));
		us = (tsc - txid) * 1000000ull / g->hz;
		g->hist[us < GEN_HIST_US ? us : GEN_HIST_US]++;
		g->replies++;
		if (g->inflight)
			g->inflight--;
	}
	rte_pktmbuf_free_bulk(m, n);
	return n;
}

/* This process's CPU time (user + system), seconds. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double percentile(const struct gen *g, double p)
{
	uint64_t want = (uint64_t)((double)g->replies * p), seen = 0;

	if (!g->replies)
		return 0;
	for (unsigned i = 0; i <= GEN_HIST_US; i++) {
		seen += g->hist[i];
		if (seen > want)
			return i + 0.5;
	}
	return GEN_HIST_US;
}

static void run(struct gen *g)
{
	uint64_t t0 = rte_rdtsc(), end = t0 + g->secs * g->hz, last = t0, t;
	uint64_t stall = g->hz * GEN_STALL_MS / 1000;

	for (uint64_t round = 0; round < (1ull << 40) && (t = rte_rdtsc()) < end; round++) {
		unsigned room = g->inflight < g->window ? (unsigned)(g->window - g->inflight) : 0;

		if (room)
			send_burst(g, room < GEN_BURST ? room : GEN_BURST);
		if (recv_burst(g))
			last = t;
		else if (g->inflight && t - last > stall) {
			g->lost += g->inflight; /* dropped somewhere: write them off */
			g->inflight = 0;
			last = t;
		}
	}
	t = rte_rdtsc();
	printf("sent=%llu replies=%llu bad=%llu lost=%llu written_off=%llu secs=%.3f rate=%.0f "
	       "p50_us=%.1f "
	       "p99_us=%.1f cpu=%.3f\n",
	       (unsigned long long)g->sent, (unsigned long long)g->replies,
	       (unsigned long long)g->bad, (unsigned long long)(g->sent - g->replies),
	       (unsigned long long)g->lost, (double)(t - t0) / (double)g->hz,
	       (double)g->replies / ((double)(t - t0) / (double)g->hz), percentile(g, 0.50),
	       percentile(g, 0.99), cpu_s());
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct gen g;
	int n = rte_eal_init(argc, argv), ret = 1;

	if (n < 0) {
		fprintf(stderr, "dp_memif_gen: EAL init failed\n");
		return 1;
	}
	if (parse_args(&g, argc - n, argv + n) < 0) {
		fprintf(stderr, "usage: dp_memif_gen EAL-ARGS -- --dst IP --src IP [--nsrc N] "
				"[--window N] [--secs S] [--id HEX] [--dport P]\n");
		rte_eal_cleanup();
		return 2;
	}
	g.hz = rte_get_tsc_hz();
	if (port_start(&g) < 0)
		goto out;
	if (!link_wait(&g, 5000)) {
		fprintf(stderr, "dp_memif_gen: link down after 5 s (is the responder up?)\n");
		goto out;
	}
	if (arp_resolve(&g) < 0)
		goto out;
	template_build(&g);
	run(&g);
	ret = 0;
out:
	if (g.pool) {
		rte_eth_dev_stop(g.port);
		rte_eth_dev_close(g.port);
	}
	rte_eal_cleanup();
	return ret;
}
