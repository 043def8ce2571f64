/*
 * cachebox-storage: the file server process. Loads the config, opens the
 * shards, attaches to the shared index (or, started alone, creates it and
 * rebuilds it from the shards), starts the io_uring workers and waits for
 * SIGTERM/SIGINT. Under cachebox-control it is started with --attach: the
 * control process has already built the index.
 */
#include "cb_common.h"
#include "cb_index.h"
#include "cb_log.h"
#include "cfg.h"
#include "st_object.h"
#include "st_policy_cfg.h"
#include "st_rebuild.h"
#include "st_server.h"
#include "st_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: cachebox-storage --config FILE [--attach]\n"
		   "\n"
		   "The cachebox file server: HTTP/1.1 on [server] listen, answering from the\n"
		   "cache shards. Normally started by cachebox-control; alone, it creates the\n"
		   "shared index under [appliance] state_dir and rebuilds it from the shards.\n"
		   "\n"
		   "  -c, --config FILE  configuration file (INI, see config/cachebox.conf)\n"
		   "  -a, --attach       use the index the control process built\n"
		   "  -h, --help         this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"attach", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char err[512], path[CB_PATH_TMP];
	const char *config = NULL;
	struct st_server_conf sc = {0};
	struct st_server *srv = NULL;
	struct st_objcache *oc = NULL;
	struct cb_index *ix = NULL;
	struct cb_policy *pol = NULL;
	struct cb_policy_live *live;
	struct cb_policy_vals pv;
	struct st_shards ss;
	struct cfg *cfg = NULL;
	bool attach = false;
	sigset_t set;
	int opt, sig, ret = 1, n;

	while ((opt = getopt_long(argc, argv, "c:ah", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'a':
			attach = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	cb_log_init("cachebox-storage", CB_LOG_INFO);
	cfg = cfg_load(config, err, sizeof(err));
	if (!cfg) {
		cb_err("%s", err);
		return 1;
	}
	cb_log_init("cachebox-storage", (enum cb_log_level)cfg->appliance.log_level);
	if (mkdir(cfg->appliance.state_dir, 0755) < 0 && errno != EEXIST) {
		cb_err("state_dir %s: %s", cfg->appliance.state_dir, strerror(errno));
		goto out;
	}
	if (st_shards_init(&ss, cfg) < 0)
		goto out;
	cb_fmt(path, sizeof(path), "%s/index.shm", cfg->appliance.state_dir);
	if (attach) {
		ix = cb_index_attach(path);
		if (!ix) {
			cb_err("attach %s: %s", path, strerror(errno));
			goto out;
		}
	} else {
		ix = cb_index_create(path, cfg->storage.index_capacity);
		if (!ix) {
			cb_err("create %s: %s", path, strerror(errno));
			goto out;
		}
		n = st_index_rebuild(ix, &ss);
		if (n < 0)
			goto out;
		cb_info("index rebuilt from %u shard(s): %d object(s)", ss.n, n);
	}
	/*
	 * Policy: under control it was published already (keep what `limits`
	 * set at run time); alone, or on a fresh file, from this config.
	 */
	cb_fmt(path, sizeof(path), "%s/policy.shm", cfg->appliance.state_dir);
	st_policy_vals_from_cfg(&pv, cfg);
	pol = cb_policy_open(path, attach ? NULL : &pv);
	if (!pol) {
		cb_err("open %s: %s", path, strerror(errno));
		goto out;
	}
	cb_policy_read(pol, &pv);
	if (pv.max_clients == 0) {
		st_policy_vals_from_cfg(&pv, cfg);
		cb_policy_publish(pol, &pv);
	}
	live = cb_policy_live(pol);
	/* Slots of an earlier file server died with it. */
	__atomic_store_n(&live->active_clients, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live->queued_clients, 0, __ATOMIC_RELAXED);
	sc.pol = pol;
	oc = st_objcache_new(&ss, ix, 4096);
	if (!oc)
		goto out;
	cb_fmt(path, sizeof(path), "%s/access.log", cfg->appliance.state_dir);
	sc.access_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (sc.access_fd < 0) {
		cb_err("access log %s: %s", path, strerror(errno));
		goto out;
	}
	sc.cfg = cfg;
	sc.ss = &ss;
	sc.ix = ix;
	sc.oc = oc;

	/* Signals are taken synchronously by this thread; workers never see them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv = st_server_start(&sc);
	if (!srv)
		goto out;
	cb_info("serving http://%s:%u/ from %u shard(s), %u object(s); access log %s",
		cfg->server.listen.host, cfg->server.listen.port, ss.n, cb_index_count(ix), path);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			cb_info("SIGHUP: reloading the TLS certificate");
			st_server_reload_tls(srv);
			continue;
		}
		cb_info("signal %d: stopping", sig);
		break;
	}
	st_server_stop(srv);
	ret = 0;
out:
	if (sc.access_fd > 0)
		close(sc.access_fd);
	st_objcache_free(oc);
	cb_index_close(ix);
	cb_policy_close(pol);
	cfg_free(cfg);
	return ret;
}
