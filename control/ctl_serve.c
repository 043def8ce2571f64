/*
 * Serving the control socket and the metrics port without ever holding
 * control's main loop: each accepted connection gets a thread of its own,
 * eviction passes run on a thread of their own, and the main thread
 * (ctl_main.c) only keeps signals, the supervised child, timers and accept.
 *
 * Threads and what each may do:
 *
 *   main      signalfd (SIGTERM/SIGINT stop, SIGCHLD reap and restart with
 *             back-off, SIGHUP hands reload to a thread), the adopted
 *             child's pidfd, the restart timer, the policy msync, accept.
 *             It never reads a client's bytes, never takes ctl->lock, and
 *             takes jobs_mu only to count a job (O(1) under the mutex).
 *   evict     one thread: a pass once a second, and within 100 ms when a
 *             fill waits for room (policy.shm's `want`), holding ctl->lock
 *             for writing during the pass. It never waits for a verb other
 *             than one holding ctl->lock, and no verb holds it across I/O
 *             to a client or an origin, so a prestage waiting for room gets
 *             it from this thread while it waits.
 *   jobs      one detached thread per accepted connection (and per SIGHUP),
 *             at most CTL_MAX_CONTROL_JOBS cacheboxctl connections and
 *             CTL_MAX_METRICS_JOBS metrics connections at once; above that
 *             a connection is answered "busy" at once by the main thread and
 *             closed. A job reads its whole request under one deadline
 *             (CTL_CONTROL_READ_MS, CTL_METRICS_READ_MS: not per read), so
 *             a client trickling bytes holds one job for that long and
 *             nothing else; it writes its reply under a deadline too.
 *
 * ctl->lock (a writer-preferring rwlock) is held for writing by the
 * eviction pass and by the verbs that change control's state (reload,
 * quota, limits, evict: cfg->limits, an origin's quota, the published
 * policy, the eviction state), and for reading by the verbs and the
 * metrics page that read that state (stats). The long verbs (prestage,
 * import, verify) and those that need only the index (list, pin, status)
 * run without it: they read only what does not change after start-up, so
 * one of them being slow delays nobody. The mode of each verb is in the
 * handler table (ctl_main.c).
 *
 * On SIGTERM the main thread sets `stopping`: listeners are not accepted
 * any more, the eviction thread ends after its pass, a job still reading a
 * request gives up within 100 ms, prestage and verify end with -ECANCELED
 * at their next slice or object. The file server is stopped (grace
 * STOP_GRACE_MS), then running jobs get CTL_JOB_GRACE_MS more; a job still
 * running after that (an import copying a big file) is abandoned with the
 * process, and the shared state it uses is then not freed under it.
 */
#include "cb_common.h"
#include "cb_log.h"
#include "ctl.h"
#include "st_http.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_MAX_CONTROL_JOBS 16
#define CTL_MAX_METRICS_JOBS 8
#define CTL_CONTROL_READ_MS  5000  /* a whole cacheboxctl request */
#define CTL_CONTROL_WRITE_MS 30000 /* a whole reply (a long `list`) */
#define CTL_ERR_WRITE_MS     2000  /* a one-line ERR answer */
#define CTL_SLICE_MS	     100   /* how often a waiting job looks at `stopping` */
#define CTL_EVICT_EVERY_NS   1000000000ull
#define CTL_EVICT_LOOK_MS    100 /* how often the eviction thread looks for waiting fills */
/* The largest request ctl_ipc_send writes: header, CTL_MAX_ARGS "<len>:<bytes>\n", "\n". */
#define CTL_REQ_MAX (64 + CTL_MAX_ARGS * (CTL_MAX_ARG + 8) + 8)

struct job {
	struct ctl *ctl;
	enum ctl_job_kind kind;
	int fd;
};

static const unsigned job_cap[] = {
	[CTL_JOB_CONTROL] = CTL_MAX_CONTROL_JOBS,
	[CTL_JOB_METRICS] = CTL_MAX_METRICS_JOBS,
	[CTL_JOB_RELOAD] = 4,
};

static const char *const job_name[] = {
	[CTL_JOB_CONTROL] = "control socket",
	[CTL_JOB_METRICS] = "metrics",
	[CTL_JOB_RELOAD] = "reload",
};

int ctl_serve_init(struct ctl *ctl)
{
	pthread_rwlockattr_t ra;
	pthread_condattr_t ca;
	int ret;

	ret = pthread_rwlockattr_init(&ra);
	if (ret)
		return -ret;
	/* Writers (the eviction pass, reload) are not starved by a stream of stats. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = pthread_rwlock_init(&ctl->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&ctl->jobs_mu, NULL);
	if (ret)
		goto fail_lock;
	ret = pthread_condattr_init(&ca);
	if (ret)
		goto fail_mu;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&ctl->jobs_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (ret)
		goto fail_mu;
	ctl_page_init(&ctl->hist);
	ctl->sync_ready = true;
	return 0;
fail_mu:
	pthread_mutex_destroy(&ctl->jobs_mu);
fail_lock:
	pthread_rwlock_destroy(&ctl->lock);
	return -ret;
}

void ctl_serve_fini(struct ctl *ctl)
{
	if (!ctl->sync_ready)
		return;
	pthread_cond_destroy(&ctl->jobs_cv);
	pthread_mutex_destroy(&ctl->jobs_mu);
	pthread_rwlock_destroy(&ctl->lock);
	ctl->sync_ready = false;
}

/* ------------------------------------------------------- bounded I/O */

static int ms_until(uint64_t deadline_ns)
{
	uint64_t now = cb_now_ns();

	return now >= deadline_ns ? 0 : (int)CB_MIN((deadline_ns - now) / 1000000ull + 1, 1u << 30);
}

/*
 * Waits until fd is ready for `events`, in slices so that `stopping` is
 * seen: 0, -ETIMEDOUT at the deadline, -ECANCELED when stopping, -errno.
 */
static int wait_fd(struct ctl *ctl, int fd, short events, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = {fd, events, 0};
		int left = ms_until(deadline_ns), n;

		if (ctl_stopping(ctl))
			return -ECANCELED;
		if (left == 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, CB_MIN(left, CTL_SLICE_MS));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 0; /* ready, or an error/hang-up the next call reports */
	}
}

/* One read of what is there (fd non-blocking): bytes, 0 at EOF, or -errno as wait_fd. */
ssize_t ctl_recv_some(struct ctl *ctl, int fd, char *buf, size_t cap, uint64_t deadline_ns)
{
	for (;;) {
		ssize_t r = recv(fd, buf, cap, 0);
		int ret;

		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		ret = wait_fd(ctl, fd, POLLIN, deadline_ns);
		if (ret)
			return ret;
	}
}

/* All len bytes, or -errno (-ETIMEDOUT at the deadline). Stopping does not cut a reply. */
int ctl_send_all(int fd, const char *p, size_t len, uint64_t deadline_ns)
{
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		{
			struct pollfd pf = {fd, POLLOUT, 0};
			int left = ms_until(deadline_ns);

			if (left == 0)
				return -ETIMEDOUT;
			if (poll(&pf, 1, left) < 0 && errno != EINTR)
				return -errno;
		}
	}
	return 0;
}

/* ------------------------------------------------------- control socket */

static bool peer_allowed(struct ctl *ctl, int fd, struct ucred *cr)
{
	socklen_t len = sizeof(*cr);
	gid_t groups[256];
	int ngroups = 0;
	char path[64], line[1024];
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0)
		return false;
	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	if (!ctl->has_allowed_gid)
		return false;
	if (cr->gid == ctl->allowed_gid)
		return true;
	/* Supplementary groups of the peer process, from /proc/<pid>/status. */
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
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == ctl->allowed_gid)
			return true;
	return false;
}

/* Parses buf[0..len) as one whole request: 0, or -EINVAL (incomplete or malformed). */
static int parse_request(char *buf, size_t len, struct ctl_request *req)
{
	FILE *in = fmemopen(buf, len, "r");
	int ret;

	if (!in)
		return -errno;
	ret = ctl_ipc_recv(in, req);
	fclose(in);
	return ret;
}

/*
 * Reads one request under one deadline for the whole of it. The request is
 * self-delimiting (it ends with an empty line) and cacheboxctl shuts its
 * side down after it, so either ends the reading. 0, or -errno.
 */
static int read_request(struct ctl *ctl, int fd, struct ctl_request *req)
{
	uint64_t deadline = cb_now_ns() + CTL_CONTROL_READ_MS * 1000000ull;
	char *buf = malloc(CTL_REQ_MAX);
	size_t got = 0;
	int ret = -EINVAL;

	if (!buf)
		return -ENOMEM;
	while (got < CTL_REQ_MAX) {
		ssize_t r = ctl_recv_some(ctl, fd, buf + got, CTL_REQ_MAX - got, deadline);

		if (r < 0) {
			ret = (int)r;
			break;
		}
		if (r == 0) {
			ret = parse_request(buf, got, req);
			break;
		}
		got += (size_t)r;
		/* Complete when it ends with the empty line (bytes of an argument may too). */
		if (got >= 2 && buf[got - 1] == '\n' && buf[got - 2] == '\n' &&
		    parse_request(buf, got, req) == 0) {
			ret = 0;
			break;
		}
	}
	free(buf);
	return ret;
}

static void reply_err(int fd, const char *why)
{
	char line[600];
	int n = snprintf(line, sizeof(line), "ERR %s\n", why);

	if (ctl_send_all(fd, line, (size_t)CB_MIN(n, (int)sizeof(line) - 1),
			 cb_now_ns() + CTL_ERR_WRITE_MS * 1000000ull))
		cb_dbg("control socket: reply not delivered");
}

static void serve_control(struct ctl *ctl, int fd)
{
	struct ctl_request req = {0};
	struct ucred cr = {0};
	char err[512] = "", *body = NULL;
	size_t body_len = 0;
	FILE *out;
	int ret;

	if (!peer_allowed(ctl, fd, &cr)) {
		cb_warn("control socket: refused uid %u gid %u pid %d (not root, owner or "
			"allowed_group)",
			(unsigned)cr.uid, (unsigned)cr.gid, (int)cr.pid);
		reply_err(fd, "permission denied");
		return;
	}
	ret = read_request(ctl, fd, &req);
	if (ret) {
		cb_dbg("control socket: request not read: %s", strerror(-ret));
		reply_err(fd, ret == -ETIMEDOUT	  ? "request not complete in time"
			      : ret == -ECANCELED ? "cachebox-control is stopping"
			      : ret == -ENOMEM	  ? "out of memory"
						  : "malformed request");
		return;
	}
	out = open_memstream(&body, &body_len);
	ret = out ? ctl_dispatch(ctl, &req, out, err, sizeof(err)) : -ENOMEM;
	if (out && fclose(out) != 0 && !ret)
		ret = -ENOMEM;
	if (ret) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		reply_err(fd, err);
	} else {
		uint64_t deadline = cb_now_ns() + CTL_CONTROL_WRITE_MS * 1000000ull;

		if (ctl_send_all(fd, "OK\n", 3, deadline) ||
		    ctl_send_all(fd, body, body_len, deadline))
			cb_dbg("control socket: reply to %s not delivered", req.argv[0]);
	}
	ctl_request_fini(&req);
	free(body);
}

int ctl_socket_listen(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (bind(fd, sa, len) < 0 || listen(fd, 16) < 0)
		return -errno;
	return 0;
}

int ctl_serve_control_socket(struct ctl *ctl)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = ctl->cfg->control.socket;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		cb_err("control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		cb_err("control socket: %s", strerror(-ret));
		return ret;
	}
	unlink(path);
	ret = ctl_socket_listen(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (ret) {
		cb_err("control socket %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	/* Access is decided by SO_PEERCRED; the mode only keeps strangers out early. */
	if (chmod(path, ctl->has_allowed_gid ? 0660 : 0600) < 0)
		cb_warn("chmod %s: %s", path, strerror(errno));
	if (ctl->has_allowed_gid && chown(path, (uid_t)-1, ctl->allowed_gid) < 0) {
		/* its members would be refused: say the fix instead of starting half usable */
		ret = -errno;
		cb_err("[control] allowed_group %s: cannot give the control socket %s that group "
		       "(%s; fix: usermod -aG %s %s)",
		       ctl->cfg->control.allowed_group, path, strerror(errno),
		       ctl->cfg->control.allowed_group,
		       ctl->cfg->appliance.user[0] ? ctl->cfg->appliance.user : ctl->run_as);
		close(fd);
		unlink(path);
		return ret;
	}
	return fd;
}

/* -------------------------------------------------------------- jobs */

static void job_done(struct ctl *ctl, enum ctl_job_kind kind)
{
	pthread_mutex_lock(&ctl->jobs_mu);
	ctl->jobs[kind]--;
	pthread_cond_broadcast(&ctl->jobs_cv);
	pthread_mutex_unlock(&ctl->jobs_mu);
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct ctl *ctl = j->ctl;
	enum ctl_job_kind kind = j->kind;
	char err[512];

	switch (kind) {
	case CTL_JOB_CONTROL:
		serve_control(ctl, j->fd);
		break;
	case CTL_JOB_METRICS:
		ctl_http_serve(ctl, j->fd);
		break;
	case CTL_JOB_RELOAD:
		pthread_rwlock_wrlock(&ctl->lock);
		if (ctl_reload(ctl, NULL, err, sizeof(err)) != 0)
			cb_warn("SIGHUP: reload refused: %s", err);
		pthread_rwlock_unlock(&ctl->lock);
		break;
	default:
		cb_err("internal error: job kind %d", (int)kind);
		break;
	}
	if (j->fd >= 0)
		close(j->fd);
	free(j);
	job_done(ctl, kind);
	return NULL;
}

/* Counts a job of `kind` in if under its cap; false when full or stopping. */
static bool job_admit(struct ctl *ctl, enum ctl_job_kind kind, unsigned *running)
{
	bool ok;

	pthread_mutex_lock(&ctl->jobs_mu);
	*running = ctl->jobs[kind];
	ok = !ctl->stopping && ctl->jobs[kind] < job_cap[kind];
	if (ok)
		ctl->jobs[kind]++;
	pthread_mutex_unlock(&ctl->jobs_mu);
	return ok;
}

/*
 * Starts a detached thread for fd (-1: none); ownership of fd passes to it.
 * 0, or -errno (the job uncounted; fd still the caller's).
 */
static int job_spawn(struct ctl *ctl, enum ctl_job_kind kind, int fd)
{
	struct job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!j) {
		ret = -ENOMEM;
		goto fail;
	}
	*j = (struct job){ctl, kind, fd};
	ret = -pthread_attr_init(&attr);
	if (ret)
		goto fail;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (ret)
		goto fail;
	return 0;
fail:
	free(j);
	job_done(ctl, kind);
	return ret;
}

/* Over the cap, or no thread: an answer at once, without waiting on the client. */
static void refuse(int fd, enum ctl_job_kind kind, const char *why)
{
	char msg[256];
	int n;

	if (kind == CTL_JOB_METRICS)
		n = snprintf(msg, sizeof(msg),
			     "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
			     "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
			     "Connection: close\r\n\r\n%s\n",
			     strlen(why) + 1, why);
	else
		n = snprintf(msg, sizeof(msg), "ERR %s\n", why);
	if (send(fd, msg, (size_t)CB_MIN(n, (int)sizeof(msg) - 1), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		cb_dbg("refusal not delivered");
}

void ctl_serve_accept(struct ctl *ctl, int lfd, enum ctl_job_kind kind)
{
	static uint64_t last_warn[3];

	/* What is waiting, a bounded number at a time: the loop comes back for more. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		unsigned running;
		char why[128];
		int ret;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				cb_warn("%s: accept: %s", job_name[kind], strerror(errno));
			return;
		}
		if (!job_admit(ctl, kind, &running)) {
			if (cb_now_ns() - last_warn[kind] >= 10000000000ull) {
				last_warn[kind] = cb_now_ns();
				cb_warn("%s: %u connections are being served (the most at once): "
					"refusing more for now",
					job_name[kind], running);
			}
			snprintf(why, sizeof(why), "busy: %u requests are being served; try again",
				 running);
			refuse(fd, kind, why);
			close(fd);
			continue;
		}
		ret = job_spawn(ctl, kind, fd);
		if (ret) {
			cb_err("%s: cannot start a thread for a connection: %s", job_name[kind],
			       strerror(-ret));
			snprintf(why, sizeof(why), "cannot start a thread: %s", strerror(-ret));
			refuse(fd, kind, why);
			close(fd);
		}
	}
}

void ctl_serve_reload_async(struct ctl *ctl)
{
	unsigned running;
	int ret;

	if (!job_admit(ctl, CTL_JOB_RELOAD, &running)) {
		cb_warn("SIGHUP: %u reloads already running; this one is not done", running);
		return;
	}
	ret = job_spawn(ctl, CTL_JOB_RELOAD, -1);
	if (ret)
		cb_err("SIGHUP: cannot start a thread for reload: %s; not reloaded",
		       strerror(-ret));
}

/* -------------------------------------------------------- the eviction thread */

/* `clock`'s now plus ns, for the timed waits. */
static struct timespec ts_after(clockid_t clock, uint64_t ns)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000ull);
	ts.tv_nsec += (long)(ns % 1000000000ull);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void *evict_main(void *arg)
{
	struct ctl *ctl = arg;
	uint64_t last = 0;

	for (;;) {
		struct timespec ts = ts_after(CLOCK_MONOTONIC, CTL_EVICT_LOOK_MS * 1000000ull);

		pthread_mutex_lock(&ctl->jobs_mu);
		while (!ctl->stopping &&
		       pthread_cond_timedwait(&ctl->jobs_cv, &ctl->jobs_mu, &ts) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&ctl->jobs_mu);
		if (ctl_stopping(ctl))
			break;
		if (cb_now_ns() - last < CTL_EVICT_EVERY_NS && !ctl_evict_wanted(ctl))
			continue;
		last = cb_now_ns();
		pthread_rwlock_wrlock(&ctl->lock);
		if (ctl_evict_pass(ctl, NULL) < 0)
			cb_warn("eviction pass: out of memory");
		pthread_rwlock_unlock(&ctl->lock);
	}
	return NULL;
}

int ctl_serve_evict_start(struct ctl *ctl)
{
	int ret = pthread_create(&ctl->evict_thread, NULL, evict_main, ctl);

	if (ret) {
		cb_err("cannot start the eviction thread: %s", strerror(ret));
		return -ret;
	}
	ctl->evict_running = true;
	return 0;
}

void ctl_serve_stop(struct ctl *ctl)
{
	pthread_mutex_lock(&ctl->jobs_mu);
	__atomic_store_n(&ctl->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&ctl->jobs_cv);
	pthread_mutex_unlock(&ctl->jobs_mu);
}

/* The eviction thread ends after its pass; joined by deadline_ns, else left (false). */
static bool evict_join(struct ctl *ctl, uint64_t deadline_ns)
{
	uint64_t left = deadline_ns > cb_now_ns() ? deadline_ns - cb_now_ns() : 0;
	struct timespec ts = ts_after(CLOCK_REALTIME, left); /* pthread_timedjoin_np's clock */

	if (!ctl->evict_running)
		return true;
	if (pthread_timedjoin_np(ctl->evict_thread, NULL, &ts) != 0) {
		cb_warn("the eviction pass still runs at exit: abandoned");
		return false;
	}
	ctl->evict_running = false;
	return true;
}

bool ctl_serve_drain(struct ctl *ctl, uint64_t deadline_ns)
{
	bool evict_done = evict_join(ctl, deadline_ns);
	unsigned left;

	pthread_mutex_lock(&ctl->jobs_mu);
	for (;;) {
		struct timespec ts;
		uint64_t now = cb_now_ns(), wait;

		left = ctl->jobs[CTL_JOB_CONTROL] + ctl->jobs[CTL_JOB_METRICS] +
		       ctl->jobs[CTL_JOB_RELOAD];
		if (!left || now >= deadline_ns)
			break;
		wait = CB_MIN(deadline_ns - now, (uint64_t)CTL_SLICE_MS * 1000000ull);
		ts = ts_after(CLOCK_MONOTONIC, wait);
		pthread_cond_timedwait(&ctl->jobs_cv, &ctl->jobs_mu, &ts);
	}
	pthread_mutex_unlock(&ctl->jobs_mu);
	if (left)
		cb_warn("%u request(s) still running at exit: abandoned", left);
	return left == 0 && evict_done;
}
