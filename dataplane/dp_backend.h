/*
 * What cachebox-dataplane's main hands a backend: the config, the
 * responder, the shared file for state and counters, and the two flags its
 * signal handlers set. A backend sets up its port (logging one line that
 * says exactly why when it cannot), marks the dataplane RUNNING, sends the
 * ANNOUNCEs, answers until *stop, then sends BYE and returns. The backends
 * differ only in how datagrams come and go; what is answered is
 * dp_resp_handle()'s alone.
 */
#ifndef DP_BACKEND_H
#define DP_BACKEND_H

#include <signal.h>

#include "cb_disc.h"
#include "cfg.h"
#include "dp_resp.h"

#define DP_BURST      32	    /* datagrams received, answered and sent per batch */
#define DP_SERVICE_NS 1000000000ull /* dp_resp_service() at least this often */

struct dp_run {
	const struct cfg *cfg;
	struct dp_resp *resp;
	struct cb_disc *disc;
	volatile sig_atomic_t *stop;   /* SIGTERM, SIGINT: BYE, then return */
	volatile sig_atomic_t *reload; /* SIGHUP: re-read the key file (cleared by the backend) */
};

/* The kernel UDP socket backend (dp_sock.c): 0 after a clean stop, or -errno (logged). */
int dp_sock_run(struct dp_run *run);

/* The DPDK backend (dp_dpdk.c), when built with -Ddpdk=enabled: the same contract. */
int dp_dpdk_run(struct dp_run *run);

#endif
