/*
 * cachebox-control's pieces: the supervisor (ctl_main.c), the serving of
 * the control socket and the metrics port on their own threads
 * (ctl_serve.c), the verbs on objects (ctl_objects.c), and the figures:
 * stats, limits and the Prometheus endpoint (ctl_stats.c), with the
 * discovery dataplane's state and counters (ctl_disc.c). The threads and
 * what each may touch are described at the top of ctl_serve.c.
 */
#ifndef CTL_H
#define CTL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "cb_index.h"
#include "cb_policy.h"
#include "cfg.h"
#include "ctl_figures.h" /* ctl_json_print, ctl_json_text */
#include "ctl_ipc.h"
#include "ctl_page.h"
#include "st_policy_cfg.h"
#include "st_rebuild.h"
#include "st_shard.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS      60000
#define STOP_GRACE_MS  5000
/* After the file server is stopped, how long running verbs get to end. */
#define CTL_JOB_GRACE_MS 1000

/* A dataplane that died while answering, after this long up, is restarted at the least back-off. */
#define DP_ANSWERED_MS 1000
/* ctl_child_last_status() before the first death, and for an adopted child (no wait status). */
#define CTL_NO_STATUS INT_MIN
#define CTL_ENDED     (-1)

/*
 * A supervised process. Written by the main thread only; other threads read
 * pid, restarts and last_status through ctl_child_pid() /
 * ctl_child_restarts() / ctl_child_last_status().
 */
struct child {
	const char *name;
	char exe[PATH_MAX];
	const char *extra_arg; /* after --config FILE ("--attach"), or NULL */
	bool pdeathsig;	       /* dies with control (PR_SET_PDEATHSIG): not adoptable */
	pid_t pid;
	uint64_t started_ns;
	uint64_t restart_at_ns; /* 0 = not scheduled */
	unsigned backoff_ms;
	unsigned restarts;
	int last_status;	/* wait status of the last death, CTL_ENDED, or CTL_NO_STATUS */
	int pidfd;		/* an adopted process (not our child): its pidfd, else -1 */
	char pidfile[PATH_MAX]; /* "" = none */
	uint64_t caps;		/* capability bits (1 << CAP_*) it gets at exec (ctl_priv.c) */
};

/*
 * Control's state. After start-up, cfg (except [limits] and the origins'
 * quotas), ss, allowed_gid and the listeners do not change; ix and pol
 * carry their own synchronisation (index writer lock and seqlocks, policy
 * seqlock and atomics). The rest follows the rules in ctl_serve.c:
 *
 *   lock      (rwlock) held for writing to change cfg->limits, an origin's
 *             quota, the published policy or the eviction state (ev);
 *             for reading to read them consistently. Never held by the
 *             main thread, never across a wait on a client or the origin.
 *   jobs_mu   guards the job counts and `stopping`; held O(1) only (the
 *             main thread takes it), with jobs_cv signalled when a job ends
 *             or stopping is set.
 */
struct ctl {
	const char *config_path;
	struct cfg *cfg;
	struct st_shards ss;
	struct cb_index *ix;
	struct cb_policy *pol;
	struct ctl_evict *ev;
	struct child storage;
	struct child dataplane; /* [discovery] enabled and its executable found, else pid 0 */
	bool dp_supervised;	/* the dataplane is control's child (enabled and found) */
	int lfd, sfd, mfd;	/* control socket, signalfd, metrics listener */
	gid_t allowed_gid;
	bool has_allowed_gid;
	uint64_t caps_have; /* the permitted capabilities control was started with */
	char run_as[64];    /* the user control was started as, for messages */

	pthread_rwlock_t lock;
	pthread_mutex_t jobs_mu;
	pthread_cond_t jobs_cv;
	unsigned jobs[3]; /* running, by enum ctl_job_kind */
	bool stopping;	  /* set once, on SIGTERM/SIGINT; read with ctl_stopping() */
	bool sync_ready;  /* lock, jobs_mu and jobs_cv are initialised */
	pthread_t evict_thread;
	uint64_t verify_corrupt; /* atomic: pieces `verify` found corrupt since control started */
	bool evict_running;
	struct ctl_history hist; /* the status page's bandwidth samples (ctl_page.c) */
};

static inline pid_t ctl_child_pid(const struct child *ch)
{
	return __atomic_load_n(&ch->pid, __ATOMIC_ACQUIRE);
}

static inline unsigned ctl_child_restarts(const struct child *ch)
{
	return __atomic_load_n(&ch->restarts, __ATOMIC_RELAXED);
}

static inline int ctl_child_last_status(const struct child *ch)
{
	return __atomic_load_n(&ch->last_status, __ATOMIC_RELAXED);
}

/* "exited with status 1", "killed by signal 9", "ended" (CTL_ENDED), "" (CTL_NO_STATUS). */
void ctl_status_text(int status, char *buf, size_t cap);
/* True when pid runs an executable whose name starts with name (/proc/PID/exe). */
bool ctl_pid_runs(pid_t pid, const char *name);

/* True once control is stopping: long verbs end early with -ECANCELED. */
static inline bool ctl_stopping(const struct ctl *ctl)
{
	return __atomic_load_n(&ctl->stopping, __ATOMIC_ACQUIRE);
}

/* ---- serving (ctl_serve.c) */

enum ctl_job_kind {
	CTL_JOB_CONTROL, /* a cacheboxctl connection */
	CTL_JOB_METRICS, /* a connection to the metrics port */
	CTL_JOB_RELOAD,	 /* SIGHUP */
};

/* Locks and the job counts; 0 or -errno. ctl_serve_fini is safe after a failed init. */
/*
 * ctl_priv.c. At the very start: [appliance] user taken on (from root), only
 * the capabilities the children need kept, no_new_privs set, and the files
 * the user needs checked: 0, or -errno with one line naming the file and the
 * fix. Once the listeners exist, ctl_priv_settle drops what start-up
 * needed. In a forked child before exec, ctl_priv_child lowers the ambient
 * capabilities that are not the child's.
 */
int ctl_priv_start(struct ctl *ctl);
int ctl_priv_settle(struct ctl *ctl);
void ctl_priv_child(const struct child *ch);

int ctl_serve_init(struct ctl *ctl);
void ctl_serve_fini(struct ctl *ctl);
/* The listeners (control socket, metrics port); fd or -errno, logged. */
int ctl_serve_control_socket(struct ctl *ctl);
int ctl_serve_metrics_socket(struct ctl *ctl);
/*
 * Accepts one connection on fd and hands it to a thread of its own; over
 * the cap for its kind it is answered "busy" at once. Never blocks.
 */
void ctl_serve_accept(struct ctl *ctl, int fd, enum ctl_job_kind kind);
/* SIGHUP: reload on a thread of its own (the main thread never takes ctl->lock). */
void ctl_serve_reload_async(struct ctl *ctl);
/*
 * Bounded I/O for job threads (ctl_serve.c), fd non-blocking: one read of
 * what is there (bytes, 0 at EOF, -ETIMEDOUT at the deadline, -ECANCELED
 * when stopping, -errno); all of a reply (0 or -errno; stopping does not
 * cut it); bind and listen.
 */
ssize_t ctl_recv_some(struct ctl *ctl, int fd, char *buf, size_t cap, uint64_t deadline_ns);
int ctl_send_all(int fd, const char *p, size_t len, uint64_t deadline_ns);
int ctl_socket_listen(int fd, const struct sockaddr *sa, socklen_t len);
/* A metrics connection's one request and its answer (ctl_http.c), on a job thread. */
void ctl_http_serve(struct ctl *ctl, int fd);
/* The eviction thread: a pass once a second, within 100 ms when a fill waits. */
int ctl_serve_evict_start(struct ctl *ctl);
/* Sets stopping and wakes every thread: long verbs see ctl_stopping() and end. */
void ctl_serve_stop(struct ctl *ctl);
/*
 * After ctl_serve_stop: joins the eviction thread and waits for running
 * jobs until deadline_ns (cb_now_ns clock); true when none is left.
 */
bool ctl_serve_drain(struct ctl *ctl, uint64_t deadline_ns);

/* ---- ctl_main.c */

/*
 * Runs one request's verb under ctl->lock as the verb needs: 0, or -errno
 * with the reason in err.
 */
int ctl_dispatch(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		 size_t errlen);
/*
 * Reads the config file's [limits] again and publishes them, asks the file
 * server to take its TLS certificate again and the dataplane to re-read its
 * group key file (SIGHUP to each). Caller holds ctl->lock for writing. 0,
 * or -EINVAL with the reason in err. *keys (may be NULL): the dataplane
 * was asked.
 */
int ctl_reload(struct ctl *ctl, bool *keys, char *err, size_t errlen);

typedef int (*verb_fn)(struct ctl *, const struct ctl_request *, FILE *, char *, size_t);

int verb_status(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);
int verb_reload(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);
int verb_list(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_import(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);
int verb_prestage(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		  size_t errlen);
int verb_evict(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_stats(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_limits(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);

int verb_pin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);
int verb_unpin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);

int verb_verify(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		size_t errlen);
int verb_quota(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen);

/* An argument that is a URL of a configured origin or a 64-hex content ID. */
int ctl_resolve_id(struct ctl *ctl, const char *arg, uint8_t id[ST_ID_LEN], char *err,
		   size_t errlen);

/*
 * Eviction (ctl_evict.c). ctl_evict_pass and ctl_evict_operator change the
 * eviction state: the caller holds ctl->lock for writing (ctl_evict_counts:
 * for reading).
 */
int ctl_evict_init(struct ctl *ctl);
void ctl_evict_fini(struct ctl *ctl);
/* One pass of the limits, quotas and max_cache_age; *evicted = objects removed. */
int ctl_evict_pass(struct ctl *ctl, uint64_t *evicted);
int ctl_evict_operator(struct ctl *ctl, bool to_size, uint64_t arg, uint64_t *n, uint64_t *bytes);
/* A fill waits for room. */
bool ctl_evict_wanted(struct ctl *ctl);
void ctl_evict_counts(struct ctl *ctl, uint64_t *n, uint64_t *bytes);
/* What shard s may hold when it holds `used` bytes; UINT64_MAX: no limit. Any thread. */
uint64_t ctl_evict_shard_limit(const struct ctl *ctl, unsigned s, uint64_t used);
/*
 * Removes an object (index entry, then its files); gen != 0: only that
 * version. 0 (and *out), -ENOENT, or -ESTALE when another version is there.
 */
int ctl_object_remove(struct ctl *ctl, const uint8_t id[ST_ID_LEN], uint64_t gen,
		      struct cb_index_rec *out);

/* The Prometheus text exposition of the same figures as stats. */
void ctl_metrics_write(struct ctl *ctl, FILE *out);

/* Incomplete objects (filling, or left partial), for the status page. */
#define CTL_FILLS_N 10
struct ctl_fill_obj {
	char id_hex[65];
	char *key; /* heap; NULL: unknown */
	uint64_t size;
	uint32_t npieces, present;
	int64_t last_access;
};
struct ctl_fills {
	uint64_t incomplete; /* all of them; o[] holds the n touched last */
	unsigned n;
	struct ctl_fill_obj o[CTL_FILLS_N];
};
struct ctl_figures;
int ctl_stats_collect(struct ctl *ctl, struct ctl_figures *f, struct ctl_fills *fills);
void ctl_fills_fini(struct ctl_fills *fills);

/*
 * The discovery dataplane as control sees it (ctl_disc.c), from
 * <state_dir>/discovery.shm, mapped afresh for each read (the dataplane
 * makes the file, and may make it again). Any thread.
 */
struct cb_disc_info;
/* 0 or -errno (-ENOENT: no dataplane ever started with this state_dir). */
int ctl_disc_read(const struct ctl *ctl, struct cb_disc_info *out);
/* Main thread: the file says pid was answering (RUNNING under that pid) when it died. */
bool ctl_disc_was_answering(const struct ctl *ctl, pid_t pid);
/* Main thread, at start: stops a dataplane an earlier control left running (it holds the port). */
void ctl_disc_stop_orphan(const struct ctl *ctl);
/* status: the dataplane's line and discovery's, or its JSON object (NULL: out of memory). */
void ctl_disc_status_text(const struct ctl *ctl, FILE *out);
json_t *ctl_disc_status_json(const struct ctl *ctl);
/* stats and /metrics: the discovery figures into f. */
void ctl_disc_figures(const struct ctl *ctl, struct ctl_figures *f);

#endif
