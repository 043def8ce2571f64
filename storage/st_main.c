/*
 * cachebox-storage: the file server process. Loads the config, opens the
 * shards, attaches to the shared index (or, started alone, creates it and
 * rebuilds it from the shards), starts the io_uring workers and waits for
 * SIGTERM/SIGINT (SIGHUP reloads, SIGUSR1 reopens the access log). Under
 * cachebox-control it is started with --attach: the
 * control process has already built the index.
 */
#include "cb_common.h"
#include "cb_index.h"
#include "cb_log.h"
#include "cb_sandbox.h"
#include "cfg.h"
#include "st_object.h"
#include "st_origin.h"
#include "st_policy_cfg.h"
#include "st_rebuild.h"
#include "st_server.h"
#include "st_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
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

/*
 * File descriptors: each client connection may hold its socket and a
 * splice pipe (two), the object cache keeps up to ST_OPEN_OBJECTS data
 * files open, and fills, the index, the log and the listeners take a few
 * more. The soft limit is raised to the hard one at start (nginx's
 * worker_rlimit_nofile, done for the operator), and a budget that still
 * does not fit is said in the log: the server then relies on its accept
 * back-off when descriptors run out (st_srv_loop.c) instead of failing.
 */
#define ST_OPEN_OBJECTS	    4096
#define ST_FDS_PER_CONN	    3
#define ST_FDS_BESIDE_CONNS 256 /* fills, listeners, rings, eventfds, logs, the index */

static void fd_budget(const struct cfg *cfg)
{
	unsigned workers =
		cfg->server.workers ? cfg->server.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t need = (uint64_t)workers * cfg->server.max_connections * ST_FDS_PER_CONN +
			ST_OPEN_OBJECTS + ST_FDS_BESIDE_CONNS;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		cb_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			cb_warn("raising the open-file limit from %llu to %llu: %s",
				(unsigned long long)was, (unsigned long long)rl.rlim_max,
				strerror(errno));
			rl.rlim_cur = was;
		} else {
			cb_info("open-file limit raised from %llu to %llu", (unsigned long long)was,
				(unsigned long long)rl.rlim_cur);
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
		cb_warn("open-file limit %llu is below what %u worker(s) x max_connections %u need "
			"(%llu: %u per connection, %u object files, %u more); when descriptors run "
			"out new connections wait in the listen queue",
			(unsigned long long)rl.rlim_cur, workers, cfg->server.max_connections,
			(unsigned long long)need, ST_FDS_PER_CONN, ST_OPEN_OBJECTS,
			ST_FDS_BESIDE_CONNS);
}

/* 0 and *config / *attach set, or the exit code (0 after --help, 2 on a usage error). */
static int parse_args(int argc, char **argv, const char **config, bool *attach, bool *done)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"attach", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	*done = false;
	while ((opt = getopt_long(argc, argv, "c:ah", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			*config = optarg;
			break;
		case 'a':
			*attach = true;
			break;
		case 'h':
			usage(stdout);
			*done = true;
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
	return 0;
}

/*
 * Under control the index was built already (--attach); alone, it is
 * created and rebuilt from the shards. NULL after logging why.
 */
static struct cb_index *index_open(const struct cfg *cfg, const struct st_shards *ss, bool attach)
{
	char path[CB_PATH_TMP];
	struct cb_index *ix;
	int n;

	cb_fmt(path, sizeof(path), "%s/index.shm", cfg->appliance.state_dir);
	if (attach) {
		ix = cb_index_attach(path);
		if (!ix)
			cb_err("attach %s: %s", path, strerror(errno));
		return ix;
	}
	ix = cb_index_create(path, cfg->storage.index_capacity);
	if (!ix) {
		cb_err("create %s: %s", path, strerror(errno));
		return NULL;
	}
	n = st_index_rebuild(ix, ss);
	if (n < 0) {
		cb_index_close(ix);
		return NULL;
	}
	cb_info("index rebuilt from %u shard(s): %d object(s)", ss->n, n);
	return ix;
}

/*
 * Policy: under control it was published already (keep what `limits` set
 * at run time); alone, or on a fresh file, from this config. Slots of an
 * earlier file server died with it. NULL after logging why.
 */
static struct cb_policy *policy_open(const struct cfg *cfg, bool attach)
{
	char path[CB_PATH_TMP];
	struct cb_policy_vals pv;
	struct cb_policy_live *live;
	struct cb_policy *pol;

	cb_fmt(path, sizeof(path), "%s/policy.shm", cfg->appliance.state_dir);
	st_policy_vals_from_cfg(&pv, cfg);
	pol = cb_policy_open(path, attach ? NULL : &pv);
	if (!pol) {
		cb_err("open %s: %s", path, strerror(errno));
		return NULL;
	}
	cb_policy_read(pol, &pv);
	if (pv.max_clients == 0) {
		st_policy_vals_from_cfg(&pv, cfg);
		cb_policy_publish(pol, &pv);
	}
	live = cb_policy_live(pol);
	__atomic_store_n(&live->active_clients, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&live->queued_clients, 0, __ATOMIC_RELAXED);
	return pol;
}

/* Signals are taken synchronously by the main thread; workers never see them. */
static void signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The access log, opened again under its name: after logrotate renamed it,
 * the lines go to a new file. The new descriptor takes the old one's number
 * (dup3 is atomic), so a worker's buffer goes wholly to one file or the
 * other and no line is lost or split. If the file cannot be opened the old
 * one is kept, and said.
 */
static void access_log_reopen(const struct st_server_conf *sc)
{
	const char *path = sc->cfg->appliance.access_log;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0 || dup3(fd, sc->access_fd, O_CLOEXEC) < 0) {
		cb_warn("access log %s: cannot reopen it (%s); still writing the old file", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	cb_info("access log %s reopened", path);
}

/*
 * Until SIGTERM or SIGINT. SIGHUP (cacheboxctl reload) takes the TLS
 * certificate again and reopens the access log; SIGUSR1 (logrotate) only
 * reopens the access log.
 */
static void serve_until_signal(struct st_server *srv, const struct st_server_conf *sc,
			       const sigset_t *set)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			cb_info("SIGHUP: reloading the TLS certificate, reopening the access log");
			st_server_reload_tls(srv);
			access_log_reopen(sc);
			continue;
		}
		if (sig == SIGUSR1) {
			access_log_reopen(sc);
			continue;
		}
		cb_info("signal %d: stopping", sig);
		return;
	}
}

int main(int argc, char **argv)
{
	char err[512];
	const char *config = NULL;
	struct st_server_conf sc = {.access_fd = -1};
	struct st_server *srv = NULL;
	struct st_shards ss;
	struct cfg *cfg;
	bool attach = false, done;
	sigset_t set;
	int ret;

	ret = parse_args(argc, argv, &config, &attach, &done);
	if (ret || done)
		return ret;
	ret = 1;
	cb_log_init("cachebox-storage", CB_LOG_INFO);
	cfg = cfg_load(config, err, sizeof(err));
	if (!cfg) {
		cb_err("%s", err);
		return 1;
	}
	sc.cfg = cfg;
	cb_log_init("cachebox-storage", (enum cb_log_level)cfg->appliance.log_level);
	if (mkdir(sc.cfg->appliance.state_dir, 0755) < 0 && errno != EEXIST) {
		cb_err("state_dir %s: %s", sc.cfg->appliance.state_dir, strerror(errno));
		goto out;
	}
	if (st_loop_id_load(sc.cfg->appliance.state_dir, sc.box_id, err, sizeof(err)) < 0) {
		cb_err("%s", err);
		goto out;
	}
	fd_budget(sc.cfg);
	if (st_shards_init(&ss, sc.cfg) < 0)
		goto out;
	sc.ss = &ss;
	sc.ix = index_open(sc.cfg, &ss, attach);
	if (!sc.ix)
		goto out;
	sc.pol = policy_open(sc.cfg, attach);
	if (!sc.pol)
		goto out;
	sc.oc = st_objcache_new(&ss, sc.ix, ST_OPEN_OBJECTS);
	if (!sc.oc) {
		cb_err("object cache: %s", strerror(errno));
		goto out;
	}
	sc.access_fd =
		open(cfg->appliance.access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (sc.access_fd < 0) {
		cb_err("access log %s: %s", cfg->appliance.access_log, strerror(errno));
		goto out;
	}
	/*
	 * OpenSSL reads its configuration file on first use, which would be the
	 * first fill's hash, while serving: read it now, so that the serving
	 * process opens only shard and state files. Its lazy TLS setup is done
	 * now too (st_origin_tls_warm): a failure there is a clean exit here.
	 */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
		cb_err("OpenSSL did not initialise");
		goto out;
	}
	if (st_origin_tls_warm(err, sizeof(err)) < 0) {
		cb_err("%s", err);
		goto out;
	}
	signals_block(&set);
	srv = st_server_start(&sc);
	if (!srv) {
		cb_err("file server did not start: %s", strerror(errno));
		goto out;
	}
	cb_info("serving http://%s:%u/ from %u shard(s), %u object(s); access log %s; CDN-Loop id "
		"%s",
		sc.cfg->server.listen.host, sc.cfg->server.listen.port, ss.n, cb_index_count(sc.ix),
		cfg->appliance.access_log, sc.box_id);
	/* serving from here on: no capability, and only the system calls it makes */
	if (cb_caps_limit(NULL, 0) < 0 || cb_seccomp_enter(CB_SECCOMP_STORAGE) < 0)
		goto out;
	serve_until_signal(srv, &sc, &set);
	st_server_stop(srv);
	ret = 0;
out:
	if (sc.access_fd >= 0)
		close(sc.access_fd);
	st_objcache_free(sc.oc);
	cb_index_close(sc.ix);
	cb_policy_close(sc.pol);
	cfg_free(cfg);
	return ret;
}
