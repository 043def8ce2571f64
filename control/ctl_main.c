/*
 * cachebox-control: the appliance's one entry point. It creates the shared
 * index and rebuilds it from the shards, starts cachebox-storage as a child
 * (restarting it with back-off when it dies), answers cacheboxctl on the
 * control socket, and on SIGTERM/SIGINT stops the child and itself.
 *
 * The control socket admits root, the user running the appliance, and
 * members of [control] allowed_group; anyone else is refused (SO_PEERCRED)
 * before a byte of the request is read. Verbs run one at a time in this
 * single-threaded loop; the file server never waits on it.
 */
#include "cb_common.h"
#include "cb_log.h"
#include "ctl.h"
#include "ctl_verbs.h"
#include "st_http.h"
#include "st_import.h"
#include "cb_index.h"
#include "st_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: cachebox-control --config FILE\n"
		   "\n"
		   "Starts the cachebox appliance: builds the shared index from the shards,\n"
		   "starts cachebox-storage (HTTP on [server] listen) and keeps it running,\n"
		   "and answers cacheboxctl on [control] socket. SIGTERM or Ctrl-C stops all.\n"
		   "\n"
		   "  -c, --config FILE  configuration file (INI, see config/cachebox.conf)\n"
		   "  -h, --help         this text\n");
}

/* ------------------------------------------------------------ supervision */

static int find_exe(const char *name, char *out, size_t cap)
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
	if (cb_fmt(out, cap, "%s/../storage/%s", dir, name) == 0 && access(out, X_OK) == 0)
		return 0;
	return -ENOENT;
}

/* The child's pid, for a restarted control to find it (child_adopt). */
static void write_pidfile(struct child *ch)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", ch->pidfile);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)ch->pid) < 0 || fclose(f) != 0 ||
	    rename(tmp, ch->pidfile) < 0)
		cb_warn("pid file %s: %s", ch->pidfile, strerror(errno));
}

/*
 * A control that died and was restarted finds its file server still
 * serving: it adopts it (watching it through a pidfd) instead of starting
 * a second one. True when adopted.
 */
static bool child_adopt(struct child *ch)
{
	char proc[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;
	int pid = 0, fd;
	FILE *f = fopen(ch->pidfile, "r");

	if (!f)
		return false;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 1) {
		fclose(f);
		return false;
	}
	fclose(f);
	snprintf(proc, sizeof(proc), "/proc/%d/exe", pid);
	n = readlink(proc, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	if (strncmp(base, ch->name, strlen(ch->name)) != 0)
		return false; /* the pid is someone else's now */
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		cb_warn("pidfd_open %d: %s", pid, strerror(errno));
		return false;
	}
	ch->pid = pid;
	ch->pidfd = fd;
	ch->started_ns = cb_now_ns();
	cb_info("%s (pid %d) is still serving: adopted it, no second one started", ch->name, pid);
	return true;
}

static void child_start(struct ctl *ctl, struct child *ch)
{
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
		execl(ch->exe, ch->exe, "--config", ctl->config_path, "--attach", (char *)NULL);
		fprintf(stderr, "cachebox-control: exec %s: %s\n", ch->exe, strerror(errno));
		_exit(127);
	}
	ch->pid = pid;
	ch->started_ns = cb_now_ns();
	ch->restart_at_ns = 0;
	cb_info("started %s (pid %d)", ch->name, (int)pid);
	write_pidfile(ch);
}

static void child_reaped(struct child *ch, int status)
{
	uint64_t up_ms = (cb_now_ns() - ch->started_ns) / 1000000ull;

	if (status == -1)
		cb_warn("%s (pid %d) ended after %llu ms", ch->name, (int)ch->pid,
			(unsigned long long)up_ms);
	else if (WIFEXITED(status))
		cb_warn("%s (pid %d) exited with status %d after %llu ms", ch->name, (int)ch->pid,
			WEXITSTATUS(status), (unsigned long long)up_ms);
	else
		cb_warn("%s (pid %d) killed by signal %d after %llu ms", ch->name, (int)ch->pid,
			WTERMSIG(status), (unsigned long long)up_ms);
	ch->pid = 0;
	if (up_ms >= STABLE_MS)
		ch->backoff_ms = BACKOFF_MIN_MS;
	ch->restart_at_ns = cb_now_ns() + (uint64_t)ch->backoff_ms * 1000000ull;
	cb_info("restarting %s in %u ms", ch->name, ch->backoff_ms);
	ch->backoff_ms = CB_MIN(ch->backoff_ms * 2, (unsigned)BACKOFF_MAX_MS);
	ch->restarts++;
}

static void child_stop(struct child *ch)
{
	uint64_t until = cb_now_ns() + STOP_GRACE_MS * 1000000ull;
	int status;

	if (ch->pid <= 0)
		return;
	kill(ch->pid, SIGTERM);
	while (cb_now_ns() < until) {
		pid_t r = ch->pidfd >= 0 ? (kill(ch->pid, 0) < 0 ? ch->pid : 0)
					 : waitpid(ch->pid, &status, WNOHANG);

		if (r == ch->pid || (r < 0 && errno == ECHILD)) {
			ch->pid = 0;
			unlink(ch->pidfile);
			return;
		}
		usleep(20000);
	}
	cb_warn("%s did not stop within %d ms: killing it", ch->name, STOP_GRACE_MS);
	kill(ch->pid, SIGKILL);
	if (ch->pidfd < 0)
		waitpid(ch->pid, &status, 0);
	ch->pid = 0;
	unlink(ch->pidfile);
}

/* -------------------------------------------------------------- the verbs */

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int verb_status(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		       size_t errlen)
{
	const struct cfg *c = ctl->cfg;

	(void)err;
	(void)errlen;
	if (req->json) {
		fprintf(out, "{\"control_pid\":%d,\"storage_pid\":%d,\"storage_restarts\":%u,",
			(int)getpid(), (int)ctl->storage.pid, ctl->storage.restarts);
		fprintf(out, "\"listen\":");
		json_str(out, c->server.listen.host);
		fprintf(out, ",\"port\":%u,\"objects\":%u,\"index_capacity\":%u,\"shards\":[",
			c->server.listen.port, cb_index_count(ctl->ix), cb_index_capacity(ctl->ix));
		for (unsigned i = 0; i < ctl->ss.n; i++) {
			fprintf(out, "%s{\"path\":", i ? "," : "");
			json_str(out, ctl->ss.s[i].path);
			fprintf(out, ",\"fs_size\":%llu}",
				(unsigned long long)ctl->ss.s[i].fs_size);
		}
		fprintf(out, "]}\n");
		return 0;
	}
	fprintf(out, "cachebox-control  pid %d\n", (int)getpid());
	if (ctl->storage.pid > 0)
		fprintf(out, "cachebox-storage  pid %d, restarts %u\n", (int)ctl->storage.pid,
			ctl->storage.restarts);
	else
		fprintf(out, "cachebox-storage  not running (restart scheduled), restarts %u\n",
			ctl->storage.restarts);
	fprintf(out, "listen            http://%s:%u/\n", c->server.listen.host,
		c->server.listen.port);
	fprintf(out, "objects           %u (index capacity %u)\n", cb_index_count(ctl->ix),
		cb_index_capacity(ctl->ix));
	for (unsigned i = 0; i < ctl->ss.n; i++)
		fprintf(out, "shard %-11u %s (filesystem %llu MiB)\n", i, ctl->ss.s[i].path,
			(unsigned long long)(ctl->ss.s[i].fs_size >> 20));
	return 0;
}

/*
 * reload: the [limits] of the config file are read again and published
 * (the file server adopts them within 200 ms, connections kept), and the
 * file server takes the TLS certificate again (SIGHUP). 0, or -EINVAL with
 * the config's error in err (nothing changed then).
 */
static int reload(struct ctl *ctl, char *err, size_t errlen)
{
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
	if (ctl->storage.pid > 0 && kill(ctl->storage.pid, SIGHUP) == 0)
		cb_info("reload: asked cachebox-storage (pid %d) to reload its TLS certificate",
			(int)ctl->storage.pid);
	else
		cb_warn("reload: cachebox-storage is not running");
	return 0;
}

static int verb_reload(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		       size_t errlen)
{
	int ret;

	if (ctl->storage.pid <= 0) {
		snprintf(err, errlen, "cachebox-storage is not running");
		return -ESRCH;
	}
	ret = reload(ctl, err, errlen);
	if (ret)
		return ret;
	if (req->json)
		fprintf(out, "{\"reloaded\":[\"limits\",\"tls_cert\"]}\n");
	else
		fprintf(out, "reloaded [limits] and the TLS certificate (other settings take a "
			     "restart)\n");
	return 0;
}

static const struct {
	const char *name;
	verb_fn fn;
} handlers[] = {
	{"status", verb_status}, {"stats", verb_stats},	      {"list", verb_list},
	{"import", verb_import}, {"prestage", verb_prestage}, {"evict", verb_evict},
	{"limits", verb_limits}, {"reload", verb_reload},     {"pin", verb_pin},
	{"unpin", verb_unpin},	 {"verify", verb_verify},     {"quota", verb_quota},
};

/* ------------------------------------------------------- control socket */

static bool peer_allowed(struct ctl *ctl, int fd, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);
	gid_t groups[256];
	int ngroups = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0)
		return false;
	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	if (!ctl->has_allowed_gid)
		return false;
	if (cr->gid == ctl->allowed_gid)
		return true;
	/* Supplementary groups of the peer process, from /proc/<pid>/status. */
	{
		char path[64], line[1024];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)cr->pid);
		f = fopen(path, "r");
		if (!f)
			return false;
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "Groups:", 7) == 0) {
				char *p = line + 7, *end;

				while (ngroups < (int)CB_ARRAY_SIZE(groups)) {
					unsigned long g = strtoul(p, &end, 10);

					if (end == p)
						break;
					groups[ngroups++] = (gid_t)g;
					p = end;
				}
			}
		}
		fclose(f);
	}
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == ctl->allowed_gid)
			return true;
	return false;
}

static void serve_client(struct ctl *ctl, int cfd)
{
	struct ctl_request req;
	struct ucred cr;
	char err[512] = "";
	char *body = NULL;
	size_t body_len = 0;
	const struct ctl_verb *v;
	FILE *in = NULL, *out = NULL;
	verb_fn fn = NULL;
	int ret;

	if (!peer_allowed(ctl, cfd, &cr)) {
		cb_warn("control socket: refused uid %u gid %u pid %d (not root, owner or "
			"allowed_group)",
			(unsigned)cr.uid, (unsigned)cr.gid, (int)cr.pid);
		if (write(cfd, "ERR permission denied\n", 22) < 0)
			cb_dbg("refusal not delivered");
		close(cfd);
		return;
	}
	{
		struct timeval tv = {5, 0};

		setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	in = fdopen(dup(cfd), "r");
	if (!in || ctl_ipc_recv(in, &req) < 0) {
		if (write(cfd, "ERR malformed request\n", 22) < 0)
			cb_dbg("reply not delivered");
		goto out;
	}
	v = ctl_verb_find(req.argv[0]);
	for (size_t i = 0; v && i < CB_ARRAY_SIZE(handlers); i++)
		if (strcmp(handlers[i].name, v->name) == 0)
			fn = handlers[i].fn;
	if (!v || !fn) {
		snprintf(err, sizeof(err), "unknown verb '%s'", req.argv[0]);
		ret = -EINVAL;
	} else if (req.argc - 1 < v->min_args || req.argc - 1 > v->max_args) {
		snprintf(err, sizeof(err), "usage: %s %s", v->name, v->args);
		ret = -EINVAL;
	} else {
		out = open_memstream(&body, &body_len);
		ret = out ? fn(ctl, &req, out, err, sizeof(err)) : -ENOMEM;
		if (out)
			fclose(out);
	}
	if (ret) {
		char line[600];
		int n;

		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		n = snprintf(line, sizeof(line), "ERR %s\n", err);
		if (write(cfd, line, (size_t)CB_MIN(n, (int)sizeof(line) - 1)) < 0)
			cb_dbg("reply not delivered");
	} else {
		size_t done = 0;

		if (write(cfd, "OK\n", 3) == 3) {
			while (done < body_len) {
				ssize_t w = write(cfd, body + done, body_len - done);

				if (w <= 0)
					break;
				done += (size_t)w;
			}
		}
	}
	ctl_request_fini(&req);
out:
	free(body);
	if (in)
		fclose(in);
	close(cfd);
}

static int control_socket(struct ctl *ctl)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = ctl->cfg->control.socket;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		cb_err("control socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		cb_err("control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Access is decided by SO_PEERCRED; the mode only keeps strangers out early. */
	chmod(path, ctl->has_allowed_gid ? 0660 : 0600);
	if (ctl->has_allowed_gid && chown(path, (uid_t)-1, ctl->allowed_gid) < 0)
		cb_warn("chown %s to group %s: %s", path, ctl->cfg->control.allowed_group,
			strerror(errno));
	return fd;
}

/* ------------------------------------------------------------ metrics */

/* The Prometheus endpoint: [control] metrics_listen, loopback by default. */
static int metrics_socket(struct ctl *ctl)
{
	const struct cfg_addr *a = &ctl->cfg->control.metrics_listen;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST},
			*ai = NULL;
	char port[8];
	int fd = -1, one = 1;

	snprintf(port, sizeof(port), "%u", a->port);
	if (getaddrinfo(a->host, port, &hints, &ai) != 0) {
		cb_err("metrics_listen %s:%u: not a numeric address", a->host, a->port);
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		cb_err("metrics_listen %s:%u: %s", a->host, a->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* One request per connection, read with a 1 s limit: GET /metrics, else 404/405. */
static void serve_metrics(struct ctl *ctl, int fd)
{
	struct timeval tv = {1, 0};
	struct st_http_req req;
	char in[8192], *body = NULL, head[256];
	size_t got = 0, blen = 0;
	int n = -2, status = 0, hl;
	FILE *out;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (n == -2 && got < sizeof(in)) {
		ssize_t r = read(fd, in + got, sizeof(in) - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		n = st_http_parse_request(in, got, &req, &status);
	}
	if (n < 0) {
		close(fd);
		return;
	}
	out = open_memstream(&body, &blen);
	if (!out) {
		close(fd);
		return;
	}
	if (req.method != ST_HTTP_GET && req.method != ST_HTTP_HEAD)
		status = 405;
	else if (req.target.len == 8 && memcmp(req.target.p, "/metrics", 8) == 0)
		status = 200;
	else
		status = 404;
	if (status == 200)
		ctl_metrics_write(ctl, out);
	else
		fprintf(out, "%d: the metrics are at GET /metrics\n", status);
	fclose(out);
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n",
		      status,
		      status == 200   ? "OK"
		      : status == 404 ? "Not Found"
				      : "Method Not Allowed",
		      status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
		      blen);
	if (write(fd, head, (size_t)hl) == hl && req.method != ST_HTTP_HEAD) {
		size_t done = 0;

		while (done < blen) {
			ssize_t w = write(fd, body + done, blen - done);

			if (w <= 0)
				break;
			done += (size_t)w;
		}
	}
	free(body);
	close(fd);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl ctl = {.lfd = -1, .sfd = -1, .mfd = -1, .storage.pidfd = -1};
	struct cb_policy_vals pv;
	uint64_t last_sync = 0, last_evict = 0;
	bool adopted;
	char err[512], path[CB_PATH_TMP];
	sigset_t set;
	int opt, n, ret = 1;
	bool stop = false;

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
	if (ctl.cfg->control.allowed_group[0]) {
		struct group *g = getgrnam(ctl.cfg->control.allowed_group);

		if (!g) {
			cb_err("%s: [control] allowed_group: no group '%s'", ctl.config_path,
			       ctl.cfg->control.allowed_group);
			goto out;
		}
		ctl.allowed_gid = g->gr_gid;
		ctl.has_allowed_gid = true;
	}
	if (mkdir(ctl.cfg->appliance.state_dir, 0755) < 0 && errno != EEXIST) {
		cb_err("state_dir %s: %s", ctl.cfg->appliance.state_dir, strerror(errno));
		goto out;
	}
	if (st_shards_init(&ctl.ss, ctl.cfg) < 0)
		goto out;
	ctl.storage.name = "cachebox-storage";
	ctl.storage.backoff_ms = BACKOFF_MIN_MS;
	cb_fmt(ctl.storage.pidfile, sizeof(ctl.storage.pidfile), "%s/storage.pid",
	       ctl.cfg->appliance.state_dir);
	/*
	 * A file server left serving by a control that died keeps its index,
	 * its policy and its slots: attach to them. Otherwise start afresh:
	 * the index rebuilt from the shards, the policy from the config (the
	 * counters in policy.shm, the monthly total among them, are kept).
	 */
	adopted = child_adopt(&ctl.storage);
	cb_fmt(path, sizeof(path), "%s/index.shm", ctl.cfg->appliance.state_dir);
	ctl.ix = adopted ? cb_index_attach(path)
			 : cb_index_create(path, ctl.cfg->storage.index_capacity);
	if (!ctl.ix) {
		cb_err("%s %s: %s", adopted ? "attach" : "create", path, strerror(errno));
		goto out;
	}
	if (!adopted) {
		n = st_index_rebuild(ctl.ix, &ctl.ss);
		if (n < 0)
			goto out;
		cb_info("index rebuilt from %u shard(s): %d object(s)", ctl.ss.n, n);
	}
	cb_fmt(path, sizeof(path), "%s/policy.shm", ctl.cfg->appliance.state_dir);
	st_policy_vals_from_cfg(&pv, ctl.cfg);
	ctl.pol = cb_policy_open(path, adopted ? NULL : &pv);
	if (!ctl.pol) {
		cb_err("open %s: %s", path, strerror(errno));
		goto out;
	}
	if (ctl_evict_init(&ctl) < 0)
		goto out;
	if (find_exe("cachebox-storage", ctl.storage.exe, sizeof(ctl.storage.exe)) < 0) {
		cb_err("cannot find the cachebox-storage executable next to cachebox-control");
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctl.sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ctl.lfd = control_socket(&ctl);
	ctl.mfd = metrics_socket(&ctl);
	if (ctl.sfd < 0 || ctl.lfd < 0 || ctl.mfd < 0)
		goto out;
	if (!adopted)
		child_start(&ctl, &ctl.storage);
	cb_info("cachebox is up: http://%s:%u/ (health: /_cachebox/health), control socket %s",
		ctl.cfg->server.listen.host, ctl.cfg->server.listen.port, ctl.cfg->control.socket);

	while (!stop) {
		struct pollfd pfd[4] = {{ctl.sfd, POLLIN, 0},
					{ctl.lfd, POLLIN, 0},
					{ctl.mfd, POLLIN, 0},
					{ctl.storage.pidfd, POLLIN, 0}};
		int timeout = 100; /* the eviction pass looks for waiting fills this often */

		if (ctl.storage.restart_at_ns) {
			uint64_t now = cb_now_ns();

			timeout = now >= ctl.storage.restart_at_ns
					  ? 0
					  : (int)CB_MIN((ctl.storage.restart_at_ns - now) /
									1000000ull +
								1,
							100ull);
		}
		n = poll(pfd, ctl.storage.pidfd >= 0 ? 4 : 3, timeout);
		if (n < 0 && errno != EINTR) {
			cb_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(ctl.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					int status;
					pid_t pid;

					while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
						if (pid == ctl.storage.pid)
							child_reaped(&ctl.storage, status);
				} else if (si.ssi_signo == SIGHUP) {
					reload(&ctl, err, sizeof(err));
				} else {
					cb_info("signal %u: stopping", si.ssi_signo);
					stop = true;
				}
				break;
			}
		}
		if (!stop && (pfd[1].revents & POLLIN)) {
			int cfd = accept4(ctl.lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0)
				serve_client(&ctl, cfd);
		}
		if (!stop && (pfd[2].revents & POLLIN)) {
			int cfd = accept4(ctl.mfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0)
				serve_metrics(&ctl, cfd);
		}
		if (ctl.storage.pidfd >= 0 && (pfd[3].revents & POLLIN)) {
			/* The adopted file server ended: no status to reap, restart it. */
			close(ctl.storage.pidfd);
			ctl.storage.pidfd = -1;
			child_reaped(&ctl.storage, -1);
		}
		if (!stop &&
		    (cb_now_ns() - last_evict >= 1000000000ull || ctl_evict_wanted(&ctl))) {
			last_evict = cb_now_ns();
			if (ctl_evict_pass(&ctl, NULL) < 0)
				cb_warn("eviction pass: out of memory");
		}
		if (cb_now_ns() - last_sync >= 5000000000ull) {
			last_sync = cb_now_ns();
			cb_policy_sync(ctl.pol); /* the month's upload total, to disk */
		}
		if (!stop && ctl.storage.restart_at_ns && cb_now_ns() >= ctl.storage.restart_at_ns)
			child_start(&ctl, &ctl.storage);
	}
	child_stop(&ctl.storage);
	unlink(ctl.cfg->control.socket);
	cb_info("stopped");
	ret = 0;
out:
	if (ctl.lfd >= 0)
		close(ctl.lfd);
	if (ctl.sfd >= 0)
		close(ctl.sfd);
	if (ctl.mfd >= 0)
		close(ctl.mfd);
	if (ctl.pol)
		cb_policy_sync(ctl.pol);
	cb_policy_close(ctl.pol);
	ctl_evict_fini(&ctl);
	cb_index_close(ctl.ix);
	cfg_free(ctl.cfg);
	return ret;
}
