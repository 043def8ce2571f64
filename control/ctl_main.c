/*
 * cachebox-control: the appliance's one entry point. It creates the shared
 * index and rebuilds it from the shards, starts cachebox-storage and (with
 * [discovery] enabled) cachebox-dataplane as children, restarting each with
 * back-off when it dies, answers cacheboxctl on the control socket, and on
 * SIGTERM/SIGINT stops the children and itself.
 *
 * The control socket admits root, the user running the appliance, and
 * members of [control] allowed_group; anyone else is refused (SO_PEERCRED)
 * before a byte of the request is read. This file is the supervisor: its
 * main loop keeps the signals, the child, the timers and accept, and never
 * waits on a client or a verb; connections are served, verbs run and
 * eviction passes happen on other threads (ctl_serve.c says which, and the
 * rules of the lock they share). The file server never waits on control.
 */
#include "cb_common.h"
#include "cb_index.h"
#include "cb_log.h"
#include "ctl.h"
#include "ctl_figures.h"
#include "ctl_verbs.h"
#include "st_import.h"
#include "st_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: cachebox-control --config FILE\n"
		   "\n"
		   "Starts the cachebox appliance: builds the shared index from the shards,\n"
		   "starts cachebox-storage (HTTP on [server] listen) and, with [discovery]\n"
		   "enabled, cachebox-dataplane (UDP [discovery] port), keeps them running,\n"
		   "and answers cacheboxctl on [control] socket. SIGTERM or Ctrl-C stops all;\n"
		   "SIGHUP is `cacheboxctl reload`; SIGUSR1 has the access log reopened.\n"
		   "\n"
		   "  -c, --config FILE  configuration file (INI, see config/cachebox.conf)\n"
		   "  -h, --help         this text\n");
}

/* ------------------------------------------------------------ supervision */

/* name next to cachebox-control, or in the build tree's folder subdir beside control/. */
static int find_exe(const char *name, const char *subdir, char *out, size_t cap)
{
	char self[PATH_MAX], *dir;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	dir = dirname(self);
	/* Installed side by side, or in the build tree. */
	if (cb_fmt(out, cap, "%s/%s", dir, name) == 0 && access(out, X_OK) == 0)
		return 0;
	if (cb_fmt(out, cap, "%s/../%s/%s", dir, subdir, name) == 0 && access(out, X_OK) == 0)
		return 0;
	return -ENOENT;
}

/* The child's pid, for a restarted control to find it (child_adopt). */
static void write_pidfile(struct child *ch)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (!ch->pidfile[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", ch->pidfile);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)ch->pid) < 0 || fclose(f) != 0 ||
	    rename(tmp, ch->pidfile) < 0)
		cb_warn("pid file %s: %s", ch->pidfile, strerror(errno));
}

bool ctl_pid_runs(pid_t pid, const char *name)
{
	char proc[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;

	if (pid <= 1)
		return false;
	snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)pid);
	n = readlink(proc, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return strncmp(base, name, strlen(name)) == 0; /* " (deleted)" after a rebuild */
}

void ctl_status_text(int status, char *buf, size_t cap)
{
	if (status == CTL_NO_STATUS)
		snprintf(buf, cap, "%s", "");
	else if (status == CTL_ENDED)
		snprintf(buf, cap, "ended");
	else if (WIFEXITED(status))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, cap, "ended (wait status %#x)", (unsigned)status);
}

/*
 * A control that died and was restarted finds its file server still
 * serving: it adopts it (watching it through a pidfd) instead of starting
 * a second one. True when adopted.
 */
static bool child_adopt(struct child *ch)
{
	int pid = 0, fd;
	FILE *f = fopen(ch->pidfile, "r");

	if (!f)
		return false;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 1) {
		fclose(f);
		return false;
	}
	fclose(f);
	if (!ctl_pid_runs(pid, ch->name))
		return false; /* the pid is someone else's now */
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		cb_warn("pidfd_open %d: %s", pid, strerror(errno));
		return false;
	}
	__atomic_store_n(&ch->pid, pid, __ATOMIC_RELEASE);
	ch->pidfd = fd;
	ch->started_ns = cb_now_ns();
	cb_info("%s (pid %d) is still serving: adopted it, no second one started", ch->name, pid);
	return true;
}

/*
 * Forks and execs ch: "EXE --config FILE [extra_arg]". A child with
 * pdeathsig gets SIGTERM when control dies (the main thread, which forks,
 * lives as long as the process), so it cannot outlive a killed control and
 * hold its port against the next one.
 */
static void child_start(struct ctl *ctl, struct child *ch)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		cb_err("fork %s: %s", ch->name, strerror(errno));
		ch->restart_at_ns = cb_now_ns() + (uint64_t)ch->backoff_ms * 1000000ull;
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (ch->pdeathsig &&
		    (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)) {
			fprintf(stderr, "cachebox-control: %s: control is gone, not starting\n",
				ch->name);
			_exit(127);
		}
		ctl_priv_child(ch);
		/* extra_arg NULL ends the list there */
		execl(ch->exe, ch->exe, "--config", ctl->config_path, ch->extra_arg, (char *)NULL);
		fprintf(stderr, "cachebox-control: exec %s: %s\n", ch->exe, strerror(errno));
		_exit(127);
	}
	__atomic_store_n(&ch->pid, pid, __ATOMIC_RELEASE);
	ch->started_ns = cb_now_ns();
	ch->restart_at_ns = 0;
	cb_info("started %s (pid %d)", ch->name, (int)pid);
	write_pidfile(ch);
}

/*
 * ch died with status (CTL_ENDED for an adopted one): one log line, and
 * its restart is scheduled. The back-off doubles from BACKOFF_MIN_MS to
 * BACKOFF_MAX_MS, and starts again from the least after STABLE_MS up, or
 * when the child had been answering (answered: a dataplane killed or
 * crashed while serving is not one that cannot start). A child that exited
 * 1 at start (a bad key file, a port taken) therefore backs off.
 */
static void child_reaped(struct child *ch, int status, bool answered)
{
	uint64_t up_ms = (cb_now_ns() - ch->started_ns) / 1000000ull;
	char what[64];

	if (up_ms >= STABLE_MS || answered)
		ch->backoff_ms = BACKOFF_MIN_MS;
	ctl_status_text(status, what, sizeof(what));
	cb_warn("%s (pid %d) %s after %llu ms%s; restarting it in %u ms", ch->name, (int)ch->pid,
		what, (unsigned long long)up_ms,
		status != CTL_ENDED && WIFEXITED(status) && WEXITSTATUS(status) == 1 && !answered
			? " (it could not start: its log line above says why)"
			: "",
		ch->backoff_ms);
	__atomic_store_n(&ch->pid, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&ch->last_status, status, __ATOMIC_RELAXED);
	ch->restart_at_ns = cb_now_ns() + (uint64_t)ch->backoff_ms * 1000000ull;
	ch->backoff_ms = CB_MIN(ch->backoff_ms * 2, (unsigned)BACKOFF_MAX_MS);
	__atomic_store_n(&ch->restarts, ch->restarts + 1, __ATOMIC_RELAXED);
}

static void child_gone(struct child *ch)
{
	__atomic_store_n(&ch->pid, 0, __ATOMIC_RELEASE);
	if (ch->pidfile[0])
		unlink(ch->pidfile);
}

/* True once ch (a child of ours, or an adopted process) has ended; reaps ours. */
static bool child_ended(struct child *ch)
{
	int status;
	pid_t r;

	if (ch->pidfd >= 0)
		return kill(ch->pid, 0) < 0 && errno == ESRCH;
	r = waitpid(ch->pid, &status, WNOHANG);
	return r == ch->pid || (r < 0 && errno == ECHILD);
}

/*
 * SIGTERM to every running child in the order given (the dataplane first,
 * so its BYE goes out while the file server still serves), then waits for
 * all of them together: those still running after STOP_GRACE_MS get SIGKILL.
 */
static void children_stop(struct child *const *chs, unsigned n)
{
	uint64_t until = cb_now_ns() + STOP_GRACE_MS * 1000000ull;
	unsigned left = 0;
	int status;

	for (unsigned i = 0; i < n; i++)
		if (chs[i]->pid > 0 && kill(chs[i]->pid, SIGTERM) == 0)
			left++;
		else
			child_gone(chs[i]);
	while (left && cb_now_ns() < until) {
		usleep(20000);
		for (unsigned i = 0; i < n; i++)
			if (chs[i]->pid > 0 && child_ended(chs[i])) {
				child_gone(chs[i]);
				left--;
			}
	}
	for (unsigned i = 0; i < n; i++) {
		if (chs[i]->pid <= 0)
			continue;
		cb_warn("%s did not stop within %d ms: killing it", chs[i]->name, STOP_GRACE_MS);
		kill(chs[i]->pid, SIGKILL);
		if (chs[i]->pidfd < 0)
			waitpid(chs[i]->pid, &status, 0);
		child_gone(chs[i]);
	}
}

/* -------------------------------------------------------------- the verbs */

int verb_status(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	const struct cfg *c = ctl->cfg;
	pid_t spid = ctl_child_pid(&ctl->storage);
	unsigned restarts = ctl_child_restarts(&ctl->storage);

	(void)err;
	(void)errlen;
	if (req->json) {
		json_t *shards = json_array();

		for (unsigned i = 0; shards && i < ctl->ss.n; i++)
			json_array_append_new(shards, json_pack("{s:s, s:I}", "path",
								ctl->ss.s[i].path, "fs_size",
								(json_int_t)ctl->ss.s[i].fs_size));
		return ctl_json_print(
			out, json_pack("{s:i, s:i, s:i, s:s, s:i, s:i, s:i, s:o*, s:o*}",
				       "control_pid", (int)getpid(), "storage_pid", (int)spid,
				       "storage_restarts", (int)restarts, "listen",
				       c->server.listen.host, "port", (int)c->server.listen.port,
				       "objects", (int)cb_index_count(ctl->ix), "index_capacity",
				       (int)cb_index_capacity(ctl->ix), "shards", shards,
				       "discovery", ctl_disc_status_json(ctl)));
	}
	fprintf(out, "cachebox-control  pid %d\n", (int)getpid());
	if (spid > 0)
		fprintf(out, "cachebox-storage  pid %d, restarts %u\n", (int)spid, restarts);
	else
		fprintf(out, "cachebox-storage  not running (restart scheduled), restarts %u\n",
			restarts);
	fprintf(out, "listen            http://%s:%u/\n", c->server.listen.host,
		c->server.listen.port);
	fprintf(out, "objects           %u (index capacity %u)\n", cb_index_count(ctl->ix),
		cb_index_capacity(ctl->ix));
	for (unsigned i = 0; i < ctl->ss.n; i++)
		fprintf(out, "shard %-11u %s (filesystem %llu MiB)\n", i, ctl->ss.s[i].path,
			(unsigned long long)(ctl->ss.s[i].fs_size >> 20));
	ctl_disc_status_text(ctl, out);
	return 0;
}

/*
 * reload: the [limits] of the config file are read again and published
 * (the file server adopts them within 200 ms, connections kept), the file
 * server takes the TLS certificate again and the dataplane its group key
 * file (SIGHUP to each). 0, or -EINVAL with the config's error in err
 * (nothing changed then). ctl->lock is held for writing (the limits and
 * the policy change).
 */
int ctl_reload(struct ctl *ctl, bool *keys, char *err, size_t errlen)
{
	pid_t spid = ctl_child_pid(&ctl->storage), dpid = ctl_child_pid(&ctl->dataplane);
	struct cb_policy_vals v;
	struct cfg *fresh = cfg_load(ctl->config_path, err, errlen);

	if (!fresh) {
		cb_err("reload: %s; nothing changed", err);
		return -EINVAL;
	}
	st_policy_vals_from_cfg(&v, fresh);
	cb_policy_publish(ctl->pol, &v);
	ctl->cfg->limits = fresh->limits;
	cfg_free(fresh);
	cb_info("reload: [limits] of %s published", ctl->config_path);
	if (spid > 0 && kill(spid, SIGHUP) == 0)
		cb_info("reload: asked cachebox-storage (pid %d) to reload its TLS certificate",
			(int)spid);
	else
		cb_warn("reload: cachebox-storage is not running");
	if (keys)
		*keys = false;
	if (dpid > 0 && kill(dpid, SIGHUP) == 0) {
		cb_info("reload: asked cachebox-dataplane (pid %d) to re-read its group key file",
			(int)dpid);
		if (keys)
			*keys = true;
	} else if (ctl->dp_supervised) {
		cb_warn("reload: cachebox-dataplane is not running (it reads its keys when it "
			"starts)");
	}
	return 0;
}

int verb_reload(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	bool keys = false;
	int ret;

	if (ctl_child_pid(&ctl->storage) <= 0) {
		snprintf(err, errlen, "cachebox-storage is not running");
		return -ESRCH;
	}
	ret = ctl_reload(ctl, &keys, err, errlen);
	if (ret)
		return ret;
	if (req->json)
		return ctl_json_print(
			out, keys ? json_pack("{s:[s,s,s]}", "reloaded", "limits", "tls_cert",
					      "discovery_keys")
				  : json_pack("{s:[s,s]}", "reloaded", "limits", "tls_cert"));
	fprintf(out, "reloaded [limits] and the TLS certificate");
	if (keys)
		fprintf(out, "; cachebox-dataplane re-reads its group key file");
	else if (ctl->dp_supervised)
		fprintf(out, "; cachebox-dataplane is not running, its keys are read when it "
			     "starts");
	fprintf(out, " (other settings take a restart)\n");
	return 0;
}

int ctl_dispatch(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		 size_t errlen)
{
	const struct ctl_verb *v = ctl_verb_find(req->argv[0]);
	int ret;

	if (!v || !v->fn) {
		snprintf(err, errlen, "unknown verb '%s'", req->argv[0]);
		return -EINVAL;
	}
	if (req->argc - 1 < v->min_args || req->argc - 1 > v->max_args) {
		snprintf(err, errlen, "usage: %s %s", v->name, v->args);
		return -EINVAL;
	}
	if (v->lock == CTL_LOCK_WRITE)
		pthread_rwlock_wrlock(&ctl->lock);
	else if (v->lock == CTL_LOCK_READ)
		pthread_rwlock_rdlock(&ctl->lock);
	ret = v->fn(ctl, req, out, err, errlen);
	if (v->lock != CTL_LOCK_NONE)
		pthread_rwlock_unlock(&ctl->lock);
	return ret;
}

/* ------------------------------------------------------------------ main */

/* One signal from the signalfd. */
static void on_signal(struct ctl *ctl, const struct signalfd_siginfo *si, bool *stop)
{
	if (si->ssi_signo == SIGCHLD) {
		int status;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == ctl->storage.pid)
				child_reaped(&ctl->storage, status, false);
			else if (pid == ctl->dataplane.pid)
				child_reaped(&ctl->dataplane, status,
					     cb_now_ns() - ctl->dataplane.started_ns >=
							     DP_ANSWERED_MS * 1000000ull &&
						     ctl_disc_was_answering(ctl, pid));
		}
	} else if (si->ssi_signo == SIGHUP) {
		ctl_serve_reload_async(ctl);
	} else if (si->ssi_signo == SIGUSR1) {
		pid_t spid = __atomic_load_n(&ctl->storage.pid, __ATOMIC_ACQUIRE);

		/* logrotate's postrotate: the file server reopens its access log */
		if (spid > 0 && kill(spid, SIGUSR1) == 0)
			cb_info("SIGUSR1: asked cachebox-storage (pid %d) to reopen its access log",
				(int)spid);
		else
			cb_warn("SIGUSR1: cachebox-storage is not running; nothing to reopen");
	} else {
		cb_info("signal %u: stopping", si->ssi_signo);
		*stop = true;
	}
}

/* The poll timeout (ms, at most max) until ch's restart is due. */
static int restart_timeout(const struct child *ch, int max)
{
	uint64_t now = cb_now_ns(), at = ch->restart_at_ns;

	if (!at)
		return max;
	return now >= at ? 0 : (int)CB_MIN((at - now) / 1000000ull + 1, (uint64_t)max);
}

/*
 * The supervisor's loop: signals, the adopted child's pidfd, the restart
 * timers, the policy's msync, and accept. Nothing in it waits on a client,
 * a verb or ctl->lock, so a restart is due within its back-off.
 */
static void supervise(struct ctl *ctl)
{
	uint64_t last_sync = 0;
	bool stop = false;

	while (!stop) {
		struct pollfd pfd[4] = {{ctl->sfd, POLLIN, 0},
					{ctl->lfd, POLLIN, 0},
					{ctl->mfd, POLLIN, 0},
					{ctl->storage.pidfd, POLLIN, 0}};
		/* the policy's msync looks at least once a second */
		int timeout =
			restart_timeout(&ctl->dataplane, restart_timeout(&ctl->storage, 1000));
		int n;

		n = poll(pfd, ctl->storage.pidfd >= 0 ? 4 : 3, timeout);
		if (n < 0 && errno != EINTR) {
			cb_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (!stop && read(ctl->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				on_signal(ctl, &si, &stop);
		}
		if (!stop && (pfd[1].revents & POLLIN))
			ctl_serve_accept(ctl, ctl->lfd, CTL_JOB_CONTROL);
		if (!stop && (pfd[2].revents & POLLIN))
			ctl_serve_accept(ctl, ctl->mfd, CTL_JOB_METRICS);
		if (ctl->storage.pidfd >= 0 && (pfd[3].revents & POLLIN)) {
			/* The adopted file server ended: no status to reap, restart it. */
			close(ctl->storage.pidfd);
			ctl->storage.pidfd = -1;
			child_reaped(&ctl->storage, CTL_ENDED, false);
		}
		ctl_page_tick(ctl);
		if (cb_now_ns() - last_sync >= 5000000000ull) {
			last_sync = cb_now_ns();
			cb_policy_sync(ctl->pol); /* the month's upload total, to disk */
		}
		if (!stop && ctl->storage.restart_at_ns &&
		    cb_now_ns() >= ctl->storage.restart_at_ns)
			child_start(ctl, &ctl->storage);
		if (!stop && ctl->dataplane.restart_at_ns &&
		    cb_now_ns() >= ctl->dataplane.restart_at_ns)
			child_start(ctl, &ctl->dataplane);
	}
}

/*
 * The index and the policy: a file server left serving by a control that
 * died keeps its index, its policy and its slots, so attach to them.
 * Otherwise start afresh: the index rebuilt from the shards, the policy
 * from the config (the counters in policy.shm, the monthly total among
 * them, are kept). 0 or -errno, logged.
 */
static int open_shared(struct ctl *ctl)
{
	struct cb_policy_vals pv;
	char path[CB_PATH_TMP];
	bool adopted = child_adopt(&ctl->storage);
	int n;

	cb_fmt(path, sizeof(path), "%s/index.shm", ctl->cfg->appliance.state_dir);
	ctl->ix = adopted ? cb_index_attach(path)
			  : cb_index_create(path, ctl->cfg->storage.index_capacity);
	if (!ctl->ix) {
		n = -errno;
		cb_err("%s %s: %s", adopted ? "attach" : "create", path, strerror(errno));
		return n;
	}
	if (!adopted) {
		n = st_index_rebuild(ctl->ix, &ctl->ss);
		if (n < 0)
			return n;
		cb_info("index rebuilt from %u shard(s): %d object(s)", ctl->ss.n, n);
	}
	cb_fmt(path, sizeof(path), "%s/policy.shm", ctl->cfg->appliance.state_dir);
	st_policy_vals_from_cfg(&pv, ctl->cfg);
	ctl->pol = cb_policy_open(path, adopted ? NULL : &pv);
	if (!ctl->pol) {
		n = -errno;
		cb_err("open %s: %s", path, strerror(errno));
		return n;
	}
	return 0;
}

/*
 * The dataplane, when [discovery] is enabled. Not finding its executable
 * leaves discovery off (logged; status says "stopped") and the file server
 * serving: discovery is never a reason for the cache not to run.
 */
static void dataplane_init(struct ctl *ctl)
{
	struct child *dp = &ctl->dataplane;

	dp->name = "cachebox-dataplane";
	dp->pdeathsig = true;
	dp->backoff_ms = BACKOFF_MIN_MS;
	if (!ctl->cfg->discovery.enabled) {
		cb_info("[discovery] enabled = false: no cachebox-dataplane started");
		return;
	}
	if (find_exe(dp->name, "dataplane", dp->exe, sizeof(dp->exe)) < 0) {
		cb_err("cannot find the cachebox-dataplane executable next to cachebox-control: "
		       "discovery is off, the file server runs without it");
		return;
	}
	ctl->dp_supervised = true;
}

/*
 * Everything between a loaded config and the supervisor's loop: the
 * allowed group, the state dir, locks, shards, index and policy, the
 * eviction state, signals, listeners, the eviction thread and the child.
 * 0 or -errno, logged; what was set up is released by main's cleanup.
 */
static int start_up(struct ctl *ctl)
{
	sigset_t set;
	int ret;

	ret = ctl_priv_start(ctl);
	if (ret < 0)
		return ret;
	if (ctl->cfg->control.allowed_group[0]) {
		struct group *g = getgrnam(ctl->cfg->control.allowed_group);

		if (!g) {
			cb_err("%s: [control] allowed_group: no group '%s'", ctl->config_path,
			       ctl->cfg->control.allowed_group);
			return -ENOENT;
		}
		ctl->allowed_gid = g->gr_gid;
		ctl->has_allowed_gid = true;
	}
	if (mkdir(ctl->cfg->appliance.state_dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		cb_err("state_dir %s: %s", ctl->cfg->appliance.state_dir, strerror(errno));
		return ret;
	}
	ret = ctl_serve_init(ctl);
	if (ret) {
		cb_err("cannot initialise control's locks: %s", strerror(-ret));
		return ret;
	}
	ret = st_shards_init(&ctl->ss, ctl->cfg);
	if (ret < 0)
		return ret;
	ctl->storage.name = "cachebox-storage";
	ctl->storage.extra_arg = "--attach";
	ctl->storage.backoff_ms = BACKOFF_MIN_MS;
	cb_fmt(ctl->storage.pidfile, sizeof(ctl->storage.pidfile), "%s/storage.pid",
	       ctl->cfg->appliance.state_dir);
	ret = open_shared(ctl);
	if (ret)
		return ret;
	ret = ctl_evict_init(ctl);
	if (ret) {
		cb_err("eviction: out of memory");
		return ret;
	}
	ret = find_exe("cachebox-storage", "storage", ctl->storage.exe, sizeof(ctl->storage.exe));
	if (ret) {
		cb_err("cannot find the cachebox-storage executable next to cachebox-control");
		return ret;
	}
	dataplane_init(ctl);
	/* Blocked before any thread starts, so every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctl->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ctl->sfd < 0) {
		ret = -errno;
		cb_err("signalfd: %s", strerror(errno));
		return ret;
	}
	ctl->lfd = ctl_serve_control_socket(ctl);
	ctl->mfd = ctl_serve_metrics_socket(ctl);
	if (ctl->lfd < 0 || ctl->mfd < 0)
		return ctl->lfd < 0 ? ctl->lfd : ctl->mfd;
	ret = ctl_priv_settle(ctl);
	if (ret < 0)
		return ret;
	ret = ctl_serve_evict_start(ctl);
	if (ret)
		return ret;
	if (ctl->storage.pid <= 0)
		child_start(ctl, &ctl->storage);
	if (ctl->dp_supervised) {
		ctl_disc_stop_orphan(ctl);
		child_start(ctl, &ctl->dataplane);
	}
	cb_info("cachebox is up: http://%s:%u/ (health: /_cachebox/health), control socket %s",
		ctl->cfg->server.listen.host, ctl->cfg->server.listen.port,
		ctl->cfg->control.socket);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl ctl = {.lfd = -1,
			  .sfd = -1,
			  .mfd = -1,
			  .storage = {.pidfd = -1, .last_status = CTL_NO_STATUS},
			  .dataplane = {.pidfd = -1, .last_status = CTL_NO_STATUS}};
	struct child *const children[] = {&ctl.dataplane, &ctl.storage};
	bool drained = true;
	char err[512];
	int opt, ret = 1;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ctl.config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	cb_log_init("cachebox-control", CB_LOG_INFO);
	ctl.cfg = cfg_load(ctl.config_path, err, sizeof(err));
	if (!ctl.cfg) {
		cb_err("%s", err);
		return 1;
	}
	cb_log_init("cachebox-control", (enum cb_log_level)ctl.cfg->appliance.log_level);
	if (start_up(&ctl) < 0)
		goto out;
	supervise(&ctl);
	/* New clients find no socket; running verbs see `stopping` and end. */
	unlink(ctl.cfg->control.socket);
	ctl_serve_stop(&ctl);
	children_stop(children, 2);
	drained = ctl_serve_drain(&ctl, cb_now_ns() + CTL_JOB_GRACE_MS * 1000000ull);
	cb_info("stopped");
	ret = 0;
out:
	if (ctl.evict_running) { /* not reached today: nothing fails after it starts */
		ctl_serve_stop(&ctl);
		drained = ctl_serve_drain(&ctl, cb_now_ns() + CTL_JOB_GRACE_MS * 1000000ull);
	}
	if (ctl.lfd >= 0)
		close(ctl.lfd);
	if (ctl.sfd >= 0)
		close(ctl.sfd);
	if (ctl.mfd >= 0)
		close(ctl.mfd);
	if (ctl.pol)
		cb_policy_sync(ctl.pol);
	if (!drained)
		return ret; /* a verb still runs: what it uses goes with the process */
	cb_policy_close(ctl.pol);
	ctl_evict_fini(&ctl);
	cb_index_close(ctl.ix);
	ctl_serve_fini(&ctl);
	cfg_free(ctl.cfg);
	return ret;
}
