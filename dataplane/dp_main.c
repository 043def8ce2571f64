/*
 * cachebox-dataplane: the discovery responder process. Loads the config,
 * opens <state_dir>/discovery.shm for its state and counters, builds the
 * responder (keys, guards, the read-only maps of the index and the policy)
 * and runs the configured backend until SIGTERM or SIGINT; SIGHUP re-reads
 * the group key file. Normally started by cachebox-control when
 * [discovery] enabled = true; it can be started alone for debugging.
 *
 * Exit codes: 0 after a clean stop (BYE sent), 1 when it cannot start (the
 * reason is the last log line), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cb_common.h"
#include "cb_disc.h"
#include "cb_log.h"
#include "cfg.h"
#include "dp_backend.h"
#include "dp_resp.h"

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_reload(int sig)
{
	(void)sig;
	reload_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cachebox-dataplane --config FILE\n"
		   "\n"
		   "The cachebox discovery responder: answers QUERYs on UDP [discovery] port\n"
		   "(8004) from the shared index, over the [discovery] backend (socket: a\n"
		   "kernel UDP socket, no privilege; dpdk: a DPDK port from dpdk_args).\n"
		   "Normally started by cachebox-control. SIGHUP re-reads group_key_file;\n"
		   "SIGTERM sends BYE and stops.\n"
		   "\n"
		   "  -c, --config FILE  configuration file (INI, see config/cachebox.conf)\n"
		   "  -h, --help         this text\n");
}

/* 0 with *config set, or the exit code (0 after --help, 2 on a usage error) with *done. */
static int parse_args(int argc, char **argv, const char **config, bool *done)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	*done = true;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			*config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!*config || optind != argc) {
		usage(stderr);
		return 2;
	}
	*done = false;
	return 0;
}

static int signals_install(void)
{
	struct sigaction sa = {0};

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop; /* no SA_RESTART: poll returns at once */
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = on_reload;
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int run_backend(struct dp_run *run)
{
	if (!run->cfg->discovery.backend_dpdk)
		return dp_sock_run(run);
#ifdef CB_HAVE_DPDK
	return dp_dpdk_run(run);
#else
	cb_err("backend = dpdk, but this build has no DPDK (meson -Ddpdk=enabled, with "
	       "libdpdk-dev installed)");
	return -ENOTSUP;
#endif
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	struct dp_run run = {.stop = &stop_flag, .reload = &reload_flag};
	char err[512], path[CB_PATH_TMP];
	struct cfg *cfg = NULL;
	bool done;
	int ret = parse_args(argc, argv, &config, &done);

	if (done)
		return ret;
	cb_log_init("cachebox-dataplane", CB_LOG_INFO);
	cfg = cfg_load(config, err, sizeof(err));
	if (!cfg) {
		cb_err("%s", err);
		return 1;
	}
	cb_log_init("cachebox-dataplane", (enum cb_log_level)cfg->appliance.log_level);
	if (!cfg->discovery.enabled)
		cb_warn("[discovery] enabled = false, but started by hand: answering anyway");
	ret = 1;
	if (signals_install() < 0) {
		cb_err("sigaction: %s", strerror(errno));
		goto out;
	}
	cb_fmt(path, sizeof(path), "%s/discovery.shm", cfg->appliance.state_dir);
	run.cfg = cfg;
	run.disc = cb_disc_open(path, cfg->discovery.backend_dpdk ? "dpdk" : "socket");
	if (!run.disc) {
		cb_err("open %s: %s", path, strerror(errno));
		goto out;
	}
	run.resp = dp_resp_new(cfg, err, sizeof(err));
	if (!run.resp) {
		cb_err("%s", err);
		goto out;
	}
	ret = run_backend(&run) < 0 ? 1 : 0;
	if (ret == 0)
		cb_info("stopped");
out:
	if (run.disc)
		cb_disc_set_state(run.disc, CB_DISC_STOPPED);
	dp_resp_free(run.resp);
	cb_disc_close(run.disc);
	cfg_free(cfg);
	return ret;
}
