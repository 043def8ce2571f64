/*
 * The DPDK backend (dp_backend.h): the EAL from [discovery] dpdk_args, the
 * first port it probes, one RX and one TX queue, an mbuf pool made at
 * start. The main lcore polls bursts of DP_BURST frames; dp_frame.c sorts
 * them (ARP for [discovery] address is answered, datagrams to the discovery
 * port go to dp_resp_handle(), the rest is counted as not_ours), every
 * reply is built in the mbuf it arrived in and sent back on the same port,
 * so nothing is allocated, locked or asked of the kernel per packet. The
 * slow path (dp_resp_service, link state, due ANNOUNCEs) runs between
 * bursts about once a second by the TSC. A peer that goes away (memif,
 * af_packet link down) only makes transmits fail: unsent mbufs are freed
 * and counted in tx_failed, and the loop carries on. docs/dataplane.md has
 * the design and what each PMD needs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "cb_log.h"
#include "cb_sandbox.h"
#include "dp_backend.h"
#include "dp_frame.h"

#define DPDK_ARGS_MAX	  64   /* EAL arguments taken from dpdk_args */
#define DPDK_RXD	  1024 /* descriptors asked for (the PMD may adjust) */
#define DPDK_TXD	  1024
#define DPDK_POOL_CACHE	  256
#define DPDK_IDLE_POLLS	  4096 /* empty bursts in a row before the loop naps */
#define DPDK_IDLE_NAP_US  50
#define DPDK_BYE_DRAIN_MS 20 /* for PMDs that send from a ring after tx_burst returns */

/* Linux capability numbers (linux/capability.h), for the check before the EAL. */
#define CAPN_NET_ADMIN 12
#define CAPN_NET_RAW   13
#define CAPN_SYS_ADMIN 21
#define CAPN_BPF       39
#define CAPB(n)	       (1ull << (n))

/*
 * What a PMD needs beyond file access: one table for the check and its
 * message. net_pcap and net_memif need none (a readable file, a socket
 * path); net_null and net_ring nothing at all.
 */
static const struct dpdk_pmd_need {
	const char *name; /* as it appears in a --vdev (net_af_packet0, eth_af_packet0) */
	uint64_t caps;	  /* every one needed (CAP_SYS_ADMIN stands in for CAP_BPF) */
	const char *text;
} pmd_needs[] = {
	{"af_packet", CAPB(CAPN_NET_RAW) | CAPB(CAPN_NET_ADMIN), "CAP_NET_RAW and CAP_NET_ADMIN"},
	{"af_xdp", CAPB(CAPN_NET_RAW) | CAPB(CAPN_NET_ADMIN) | CAPB(CAPN_BPF),
	 "root, or CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (and LIBXDP_SKIP_DISPATCHER=1)"},
};

struct dpdk_be {
	struct dp_run *run;
	struct cb_disc_lane *lane;
	struct dp_frame_cfg fc;
	struct rte_mempool *pool;
	uint16_t port;
	bool port_started, link_up, announce_pending;
	char name[RTE_ETH_NAME_MAX_LEN];
	uint64_t service_tsc; /* TSC ticks between two slow-path runs */
	uint64_t ns_mult;     /* ns = (ticks * ns_mult) >> 32 for spans under 2^32 ticks */
	struct rte_mbuf *tx[DP_BURST];
	struct rte_mbuf *drop[DP_BURST];
};

/* The effective capability set from /proc/self/status; all ones when it cannot be read. */
static uint64_t caps_effective(void)
{
	char line[256];
	uint64_t caps = ~0ull;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return caps;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "CapEff:", 7) == 0) {
			caps = strtoull(line + 7, NULL, 16);
			break;
		}
	fclose(f);
	return caps;
}

/* 0, or -EPERM with one line naming the PMD and the capabilities it needs. */
static int privileges_check(const char *args)
{
	uint64_t have = caps_effective();

	for (size_t i = 0; i < sizeof(pmd_needs) / sizeof(pmd_needs[0]); i++) {
		const struct dpdk_pmd_need *p = &pmd_needs[i];
		uint64_t need = p->caps;

		if (!strstr(args, p->name))
			continue;
		if ((need & CAPB(CAPN_BPF)) && (have & CAPB(CAPN_SYS_ADMIN)))
			need &= ~CAPB(CAPN_BPF); /* kernels before 5.8 have no CAP_BPF */
		if ((have & need) != need) {
			cb_err("dpdk backend: net_%s needs %s; this process lacks them (run as "
			       "root or grant them with setcap/systemd AmbientCapabilities)",
			       p->name, p->text);
			return -EPERM;
		}
		if (strcmp(p->name, "af_xdp") == 0 && !getenv("LIBXDP_SKIP_DISPATCHER"))
			cb_warn("dpdk backend: net_af_xdp without LIBXDP_SKIP_DISPATCHER=1 may "
				"fail "
				"to load its XDP program");
	}
	return 0;
}

/*
 * Once the port runs, the process keeps only the capabilities its PMD
 * needs (pmd_needs: af_xdp and af_packet take the port down with them at
 * stop) and gains none: everything else, root's DAC override among them,
 * goes. 0 or -EPERM (logged).
 */
static int privileges_drop(const char *args)
{
	uint64_t have = caps_effective(), keep = 0;
	unsigned list[64];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(pmd_needs) / sizeof(pmd_needs[0]); i++)
		if (strstr(args, pmd_needs[i].name))
			keep |= pmd_needs[i].caps;
	if ((keep & CAPB(CAPN_BPF)) && !(have & CAPB(CAPN_BPF)))
		keep = (keep & ~CAPB(CAPN_BPF)) | CAPB(CAPN_SYS_ADMIN);
	keep &= have;
	for (unsigned c = 0; c < 64; c++)
		if (keep & CAPB(c))
			list[n++] = c;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		cb_err("dpdk backend: no_new_privs: %s", strerror(errno));
		return -EPERM;
	}
	return cb_caps_limit(list, n);
}

/* rte_eal_init over dpdk_args split on blanks. 0, or -errno (logged). */
static int eal_start(const char *args)
{
	static char copy[CFG_PATH_MAX];
	static char *argv[DPDK_ARGS_MAX + 2];
	char *save = NULL, *tok;
	int argc = 0, ret;

	snprintf(copy, sizeof(copy), "%s", args);
	argv[argc++] = (char *)"cachebox-dataplane";
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc > DPDK_ARGS_MAX) {
			cb_err("dpdk backend: dpdk_args has more than %d arguments", DPDK_ARGS_MAX);
			return -E2BIG;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		ret = rte_errno;
		cb_err("dpdk backend: EAL init failed: %s (dpdk_args '%s')", rte_strerror(ret),
		       args);
		return -(ret ? ret : EINVAL);
	}
	if (ret != argc - 1) {
		cb_err("dpdk backend: dpdk_args '%s': '%s' is not an EAL option", args,
		       argv[ret + 1]);
		rte_eal_cleanup();
		return -EINVAL;
	}
	return 0;
}

/* The smallest 2^k - 1 (the best size for a mempool's ring) holding n. */
static unsigned pool_size(unsigned n)
{
	unsigned s = 1;

	while (s - 1 < n)
		s <<= 1;
	return s - 1;
}

/* One line naming the step that failed. */
static int port_fail(const struct dpdk_be *be, const char *what, int ret)
{
	cb_err("dpdk backend: port %s: %s failed: %s", be->name, what, rte_strerror(-ret));
	return ret;
}

/* The first port: one RX and one TX queue, the pool sized for both rings. 0 or -errno. */
static int port_start(struct dpdk_be *be)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxq;
	struct rte_eth_txconf txq;
	uint16_t nrxd = DPDK_RXD, ntxd = DPDK_TXD;
	int sock, ret;

	rte_eth_dev_get_name_by_port(be->port, be->name);
	ret = rte_eth_dev_info_get(be->port, &info);
	if (ret < 0)
		return port_fail(be, "dev_info_get", ret);
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE; /* one pool, refcnt 1 */
	ret = rte_eth_dev_configure(be->port, 1, 1, &conf);
	if (ret < 0)
		return port_fail(be, "configure", ret);
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(be->port, &nrxd, &ntxd);
	if (ret < 0)
		return port_fail(be, "adjust descriptors", ret);
	sock = rte_eth_dev_socket_id(be->port);
	if (sock < 0)
		sock = (int)rte_socket_id();
	be->pool = rte_pktmbuf_pool_create(
		"dp_mbufs",
		pool_size(nrxd + ntxd + 2 * DP_BURST + DPDK_POOL_CACHE * rte_lcore_count()),
		DPDK_POOL_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE, sock);
	if (!be->pool)
		return port_fail(be, "mbuf pool", -rte_errno);
	rxq = info.default_rxconf;
	rxq.offloads = conf.rxmode.offloads;
	ret = rte_eth_rx_queue_setup(be->port, 0, nrxd, (unsigned)sock, &rxq, be->pool);
	if (ret < 0)
		return port_fail(be, "RX queue setup", ret);
	txq = info.default_txconf;
	txq.offloads = conf.txmode.offloads;
	ret = rte_eth_tx_queue_setup(be->port, 0, ntxd, (unsigned)sock, &txq);
	if (ret < 0)
		return port_fail(be, "TX queue setup", ret);
	ret = rte_eth_dev_start(be->port);
	if (ret < 0)
		return port_fail(be, "start", ret);
	be->port_started = true;
	cb_info("dpdk backend: port %s (%s): %u RX / %u TX descriptors, %u mbufs", be->name,
		info.driver_name, nrxd, ntxd, be->pool->size);
	return 0;
}

/* The first port probed, its MAC and our frame identity. 0 or -errno (logged). */
static int port_pick(struct dpdk_be *be)
{
	const struct cfg *c = be->run->cfg;
	struct rte_ether_addr mac;
	uint16_t p, count = 0;
	bool found = false;
	int ret;

	RTE_ETH_FOREACH_DEV(p)
	{
		if (!found)
			be->port = p;
		found = true;
		count++;
	}
	if (!found) {
		cb_err("dpdk backend: dpdk_args '%s' gave no port (add a --vdev, e.g. "
		       "--vdev=net_af_packet0,iface=eth1, or bind a NIC to a DPDK driver)",
		       c->discovery.dpdk_args);
		return -ENODEV;
	}
	ret = port_start(be);
	if (ret < 0)
		return ret;
	if (count > 1)
		cb_warn("dpdk backend: %u ports probed; answering on the first, %s", count,
			be->name);
	ret = rte_eth_macaddr_get(be->port, &mac);
	if (ret < 0)
		return port_fail(be, "macaddr_get", ret);
	return dp_frame_cfg_init(&be->fc, mac.addr_bytes, &c->discovery.address, c->discovery.port);
}

static void free_unsent(struct dpdk_be *be, struct rte_mbuf **m, unsigned n, unsigned sent)
{
	if (sent < n) {
		rte_pktmbuf_free_bulk(m + sent, n - sent);
		cb_disc_add(&be->lane->tx_failed, n - sent);
	}
}

/* An ANNOUNCE or a BYE from the pool to the subnet broadcast. */
static void announce(struct dpdk_be *be, enum dp_type type, const struct dp_now *now)
{
	uint8_t payload[DP_LEN_AUTH];
	struct rte_mbuf *m = rte_pktmbuf_alloc(be->pool);
	char *frame;
	int plen, flen = -ENOSPC;

	if (!m) {
		cb_disc_add(&be->lane->tx_failed, 1);
		return;
	}
	plen = dp_resp_announce(be->run->resp, type, &be->run->cfg->discovery.address, now, payload,
				sizeof(payload));
	frame = rte_pktmbuf_append(m, DP_FRAME_HDRS + DP_LEN_AUTH);
	if (plen > 0 && frame) {
		flen = dp_frame_announce(&be->fc, payload, (size_t)plen, (uint8_t *)frame,
					 DP_FRAME_HDRS + DP_LEN_AUTH);
	}
	if (flen < 0) {
		rte_pktmbuf_free(m);
		cb_disc_add(&be->lane->tx_failed, 1);
		return;
	}
	rte_pktmbuf_trim(m, (uint16_t)(DP_FRAME_HDRS + DP_LEN_AUTH - flen));
	if (rte_eth_tx_burst(be->port, 0, &m, 1) != 1) {
		free_unsent(be, &m, 1, 0);
		return;
	}
	cb_disc_add(type == DP_T_BYE ? &be->lane->byes : &be->lane->announces, 1);
}

/*
 * One received burst: each frame answered in its own mbuf (ARP reply or
 * OFFER) and queued for TX, or freed. Counts: a frame handed to the
 * responder is counted there; the others here, in rx and in arp_replies or
 * not_ours, so that rx counts every frame.
 */
static void burst(struct dpdk_be *be, struct rte_mbuf **pkts, unsigned n, const struct dp_now *now)
{
	struct dp_src src = {.iface = &be->run->cfg->discovery.address};
	unsigned ntx = 0, ndrop = 0, arp = 0, other = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
		struct dp_frame_dgram d;
		enum dp_frame_kind k = DP_FRAME_NOT_SHORT;
		size_t rlen;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (rte_pktmbuf_is_contiguous(m))
			k = dp_frame_classify(&be->fc, f, rte_pktmbuf_data_len(m), &d);
		if (k == DP_FRAME_ARP_REPLY) {
			arp++;
			be->tx[ntx++] = m;
			continue;
		}
		if (k != DP_FRAME_DGRAM) {
			other++;
			be->drop[ndrop++] = m;
			continue;
		}
		memcpy(src.addr, d.src, sizeof(src.addr));
		src.port = d.sport;
		rlen = dp_resp_handle(be->run->resp, be->lane, f + d.off, d.len, &src, now);
		if (!rlen) {
			be->drop[ndrop++] = m;
			continue;
		}
		m->data_len = (uint16_t)dp_frame_reply(&be->fc, f, &d, rlen);
		m->pkt_len = m->data_len;
		if (m->data_len)
			be->tx[ntx++] = m;
		else
			be->drop[ndrop++] = m; /* cannot happen: a reply fits its request */
	}
	if (arp || other) {
		cb_disc_add(&be->lane->rx, arp + other);
		cb_disc_add(&be->lane->arp_replies, arp);
		cb_disc_add(&be->lane->not_ours, other);
	}
	if (ndrop)
		rte_pktmbuf_free_bulk(be->drop, ndrop);
	if (ntx)
		free_unsent(be, be->tx, ntx, rte_eth_tx_burst(be->port, 0, be->tx, (uint16_t)ntx));
}

/* Link changes are logged once each; the first ANNOUNCE waits for the link. */
static void link_watch(struct dpdk_be *be)
{
	struct rte_eth_link link;

	if (rte_eth_link_get_nowait(be->port, &link) < 0)
		return;
	if ((bool)link.link_status == be->link_up)
		return;
	be->link_up = link.link_status;
	if (be->link_up)
		cb_info("dpdk backend: port %s: link up, %u Mbps", be->name, link.link_speed);
	else
		cb_warn("dpdk backend: port %s: link down (replies fail until the peer is back)",
			be->name);
}

/* The slow path, between bursts: reload, re-maps, link state, a due ANNOUNCE. */
static void service(struct dpdk_be *be)
{
	bool reload = *be->run->reload, due;
	struct dp_now now;

	*be->run->reload = 0;
	if (reload)
		cb_disc_count_reload(be->run->disc);
	dp_now_read(&now);
	link_watch(be);
	due = dp_resp_service(be->run->resp, reload, &now);
	if ((due || be->announce_pending) && be->link_up) {
		announce(be, DP_T_ANNOUNCE, &now);
		dp_resp_announced(be->run->resp, &now);
		be->announce_pending = false;
	}
}

static void loop(struct dpdk_be *be)
{
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t next = rte_rdtsc() + be->service_tsc;
	unsigned idle = 0;
	struct dp_now now;

	while (!*be->run->stop) {
		uint64_t t0 = rte_rdtsc();
		uint16_t n = rte_eth_rx_burst(be->port, 0, pkts, DP_BURST);

		if (n) {
			idle = 0;
			dp_now_read(&now); /* the vDSO: no system call */
			burst(be, pkts, n, &now);
			cb_disc_add(&be->lane->busy_ns, ((rte_rdtsc() - t0) * be->ns_mult) >> 32);
		} else if (++idle >= DPDK_IDLE_POLLS) {
			idle = 0; /* nothing for a while: nap rather than spin a core */
			rte_delay_us_sleep(DPDK_IDLE_NAP_US);
		}
		if (*be->run->reload || rte_rdtsc() >= next) {
			service(be);
			next = rte_rdtsc() + be->service_tsc;
		}
	}
}

static void publish_text(struct dpdk_be *be)
{
	const struct cfg *c = be->run->cfg;
	char listen[CB_DISC_TEXT], adv[CB_DISC_TEXT];
	const uint8_t *a = c->discovery.address.addr + 12, *m = be->fc.mac;

	snprintf(listen, sizeof(listen),
		 "%.32s %02x:%02x:%02x:%02x:%02x:%02x %u.%u.%u.%u/%u UDP %u", be->name, m[0], m[1],
		 m[2], m[3], m[4], m[5], a[0], a[1], a[2], a[3], c->discovery.address.prefix - 96u,
		 c->discovery.port);
	dp_resp_describe(be->run->resp, adv, sizeof(adv));
	cb_disc_set_text(be->run->disc, listen, adv);
	cb_info("dpdk backend answering on %s", listen);
}

static void port_stop(struct dpdk_be *be)
{
	int ret;

	if (be->port_started) {
		ret = rte_eth_dev_stop(be->port);
		if (ret < 0)
			cb_warn("dpdk backend: port %s: stop: %s", be->name, rte_strerror(-ret));
	}
	rte_eth_dev_close(be->port); /* net_pcap closes (flushes) its tx_pcap here */
	rte_mempool_free(be->pool);
	be->pool = NULL;
}

int dp_dpdk_run(struct dp_run *run)
{
	static struct dpdk_be be; /* one backend per process */
	const struct cfg *c = run->cfg;
	struct dp_now now;
	int ret, lane;

	memset(&be, 0, sizeof(be));
	be.run = run;
	if (!c->discovery.has_address) {
		cb_err("dpdk backend: [discovery] address is not set (the port's IPv4 "
		       "address/prefix, e.g. 192.0.2.10/24: it answers ARP for it)");
		return -EINVAL;
	}
	ret = privileges_check(c->discovery.dpdk_args);
	if (ret < 0)
		return ret;
	ret = eal_start(c->discovery.dpdk_args);
	if (ret < 0)
		return ret;
	lane = rte_lcore_index((int)rte_lcore_id());
	be.lane = cb_disc_lane(run->disc, lane >= 0 && lane < CB_DISC_LANES ? (unsigned)lane : 0);
	be.service_tsc = rte_get_tsc_hz() * (DP_SERVICE_NS / 1000000) / 1000;
	be.ns_mult = (1000000000ull << 32) / rte_get_tsc_hz();
	ret = port_pick(&be);
	if (ret < 0)
		goto out;
	ret = privileges_drop(c->discovery.dpdk_args);
	if (ret < 0)
		goto out;
	publish_text(&be);
	cb_disc_set_state(run->disc, CB_DISC_RUNNING);
	be.announce_pending = true;
	service(&be); /* the first ANNOUNCE, now if the link is up */
	loop(&be);
	dp_now_read(&now);
	link_watch(&be);
	if (be.link_up) {
		announce(&be, DP_T_BYE, &now);
		rte_delay_us_sleep(DPDK_BYE_DRAIN_MS * 1000);
	} else {
		cb_disc_add(&be.lane->tx_failed, 1);
		cb_warn("dpdk backend: link down at stop: no BYE sent");
	}
	ret = 0;
out:
	if (be.name[0])
		port_stop(&be);
	rte_eal_cleanup();
	return ret;
}
