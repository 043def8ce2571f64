/*
 * The file server's event loop (the public API is st_server.h; the files
 * are listed in docs/storage.md). Each worker thread owns one io_uring,
 * one SO_REUSEPORT listener and its connections; nothing is shared between
 * workers but the index (lock-free reads), the open-object cache and the
 * slot table. This file starts and stops the workers, runs each one's
 * loop (submit, reap completions in batches, dispatch each by the op kind
 * packed in its user_data; accepting is st_srv_accept.c), and on a 200 ms tick
 * refreshes the policy, frees idle slots, closes connections past their
 * deadline and flushes the access log. Fetch threads wake the workers
 * through an eventfd when a fill made progress.
 */
#include "st_srv.h"

#include "cb_log.h"
#include "st_slots.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A connection's operation on registered buffer buf. */
struct io_uring_sqe *st_srv_conn_sqe_buf(struct worker *w, struct conn *c, enum op op, int buf)
{
	struct io_uring_sqe *sqe = st_srv_conn_sqe(w, c, op);

	io_uring_sqe_set_data64(sqe, st_srv_ud_make(c, op) | (uint64_t)buf << UD_OP_BITS);
	return sqe;
}

struct io_uring_sqe *st_srv_sqe_get(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (unlikely(!sqe)) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	CB_ASSERT(sqe);
	return sqe;
}

struct io_uring_sqe *st_srv_conn_sqe(struct worker *w, struct conn *c, enum op op)
{
	struct io_uring_sqe *sqe = st_srv_sqe_get(w);

	io_uring_sqe_set_data64(sqe, st_srv_ud_make(c, op));
	c->pending++;
	return sqe;
}

/* ------------------------------------------------------------ connections */

/* ------------------------------------------------------------ completions */

static void handle_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum op op = st_srv_ud_op(ud);
	struct conn *c;

	if (op == OP_ACCEPT) {
		CB_ASSERT(st_srv_ud_ptr(ud) == w);
		st_srv_on_accept(w, cqe);
		return;
	}
	if (op == OP_EVENT)
		return;
	c = st_srv_ud_conn(ud);
	switch (op) {
	case OP_RECV:
		c->pending--;
		st_srv_on_recv(w, c, cqe);
		break;
	case OP_SEND:
		c->pending--;
		st_srv_on_send(w, c, cqe);
		break;
	case OP_SPLICE_IN:
	case OP_SPLICE_OUT:
		c->pending--;
		st_srv_on_splice(w, c, cqe, op == OP_SPLICE_IN);
		break;
	case OP_ZC_READ:
		c->pending--;
		st_srv_on_zc_read(w, c, st_srv_ud_buf(ud), cqe->res);
		break;
	case OP_ZC_SEND:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			c->pending--;
		st_srv_on_zc_send(w, c, st_srv_ud_buf(ud), cqe);
		break;
	default:
		CB_ASSERT(!"unknown op");
	}
	if (c->closing && c->pending == 0)
		st_srv_conn_free(w, c);
}

/* -------------------------------------------------------------- the loop */

static void arm_tick(struct worker *w)
{
	struct io_uring_sqe *sqe = st_srv_sqe_get(w);

	w->tick.tv_sec = (long long)(TICK_NS / 1000000000ull);
	w->tick.tv_nsec = (long long)(TICK_NS % 1000000000ull);
	io_uring_prep_timeout(sqe, &w->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, st_srv_ud_make(w, OP_EVENT) | 0);
}

static void arm_fill_wake(struct worker *w)
{
	struct io_uring_sqe *sqe = st_srv_sqe_get(w);

	io_uring_prep_read(sqe, w->ffd, &w->ffd_val, sizeof(w->ffd_val), 0);
	io_uring_sqe_set_data64(sqe, st_srv_ud_make(&w->ffd_val, OP_EVENT));
}

/* A fill made progress: let every parked connection look again. */
static void resume_parked(struct worker *w)
{
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->closing || c->park == PARK_NONE)
			continue;
		if (c->park == PARK_BW)
			continue; /* a cap, not a fill: st_srv_bw_resume */
		if (c->park == PARK_REQ || c->park == PARK_SLOT) {
			st_srv_request_handle(w, c, &c->req);
			if (c->park == PARK_NONE)
				st_srv_response_start(w, c);
		} else {
			c->park = PARK_NONE;
			st_srv_send_next(w, c);
		}
		if (c->closing && c->pending == 0)
			st_srv_conn_free(w, c);
	}
}

/* Called by fetch threads: wakes every worker. */
void st_srv_notify(void *arg)
{
	struct st_server *srv = arg;
	uint64_t one = 1;

	ST_SRV_CHECK_OBJ(srv, SERVER_MAGIC);

	for (unsigned i = 0; i < srv->nworkers; i++)
		if (write(srv->w[i].ffd, &one, sizeof(one)) < 0)
			cb_dbg("worker %u: fill wake-up: %s", i, strerror(errno));
}

static void arm_wake(struct worker *w)
{
	struct io_uring_sqe *sqe = st_srv_sqe_get(w);

	io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof(w->efd_val), 0);
	io_uring_sqe_set_data64(sqe, st_srv_ud_make(&w->efd_val, OP_EVENT));
}

/*
 * A response that timed out (a reader that stalled, or one that reads a few
 * bytes a second through a tiny window) ends with a reset, not a FIN: a FIN
 * waits behind the unsent bytes in the socket's send buffer, so the client
 * would not see the close for as long as it takes to drain them, and the
 * kernel would keep the orphaned socket and its buffer (up to the send
 * buffer's size per connection) meanwhile. What it was sent is a truncated
 * response either way. nginx's reset_timedout_connection does the same.
 */
static void conn_abort(struct conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		cb_dbg("%s: SO_LINGER: %s", c->peer, strerror(errno));
}

/* Closes connections past their deadline: header, idle, slow reader, linger. */
static void sweep_timeouts(struct worker *w)
{
	uint64_t now = cb_now_ns();
	struct conn *c, *next;

	for (c = w->conns; c; c = next) {
		next = c->next;
		if (c->state == CS_SEND)
			st_srv_count_served(w, c);
		if (!c->closing && c->park == PARK_SLOT && now >= c->wait_until) {
			st_srv_request_handle(w, c, &c->req); /* the queue wait is over: a 503 */
			if (c->park == PARK_NONE)
				st_srv_response_start(w, c);
			if (c->closing && c->pending == 0)
				st_srv_conn_free(w, c);
			continue;
		}
		if (c->closing || !c->deadline_ns || now < c->deadline_ns)
			continue;
		cb_dbg("%s: timed out in state %d", c->peer, c->state);
		if (c->state == CS_SEND)
			conn_abort(c);
		st_srv_conn_close_idle(w, c);
	}
}

static int setup_buffers(struct worker *w)
{
	struct io_uring_buf_reg reg = {0};
	void *mem;
	int ret;

	if (posix_memalign(&mem, 4096, RBUF_COUNT * sizeof(struct io_uring_buf)))
		return -ENOMEM;
	w->br = mem;
	io_uring_buf_ring_init(w->br);
	reg.ring_addr = (unsigned long)w->br;
	reg.ring_entries = RBUF_COUNT;
	reg.bgid = 0;
	ret = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (ret)
		return ret;
	w->rbufs = malloc((size_t)RBUF_COUNT * RBUF_SIZE);
	if (!w->rbufs)
		return -ENOMEM;
	for (unsigned i = 0; i < RBUF_COUNT; i++)
		io_uring_buf_ring_add(w->br, w->rbufs + (size_t)i * RBUF_SIZE, RBUF_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(RBUF_COUNT),
				      (int)i);
	io_uring_buf_ring_advance(w->br, RBUF_COUNT);

	w->tls_plain = malloc(TLS_CHUNK);
	if (!w->tls_plain)
		return -ENOMEM;

	ret = st_srv_zc_setup(w);
	if (ret < 0)
		cb_warn("worker %u: no registered buffers (%s): splice only", w->idx,
			strerror(-ret));
	return 0;
}

/*
 * Submits what is queued and waits for a completion, or until the next
 * capped connection is due (1 ms resolution). 0, or -errno: the worker
 * stops.
 */
static int worker_wait(struct worker *w)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (w->bwq_head) {
		uint64_t now = cb_now_ns(), d = w->bw_next > now ? w->bw_next - now : 0;
		struct __kernel_timespec ts = {.tv_sec = (long long)(d / 1000000000ull),
					       .tv_nsec = (long long)(d % 1000000000ull)};

		ret = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		if (ret == -ETIME)
			ret = 0;
	} else {
		ret = io_uring_submit_and_wait(&w->ring, 1);
	}
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		cb_err("worker %u: io_uring_submit_and_wait: %s", w->idx, strerror(-ret));
		return ret;
	}
	return 0;
}

/* A completion of the worker's own: the stop request, a fill's progress, the tick. */
static void worker_event(struct worker *w, uint64_t ud)
{
	void *p = st_srv_ud_ptr(ud);

	if (p == &w->efd_val) {
		w->stopping = true;
	} else if (p == &w->ffd_val) {
		if (!w->stopping || w->draining) {
			arm_fill_wake(w);
			resume_parked(w);
		}
	} else if (!w->stopping || w->draining) {
		arm_tick(w);
	}
}

/* Handles the completions that are in, as one batch. */
static void worker_reap(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, count = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe)
	{
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		count++;
		if (st_srv_ud_op(ud) == OP_EVENT)
			worker_event(w, ud);
		else
			handle_cqe(w, cqe);
	}
	io_uring_cq_advance(&w->ring, count);
}

/* Every TICK_NS: the policy, the slots, the deadlines, the log, the object cache. */
static void worker_tick(struct worker *w)
{
	st_srv_accept_tick(w, cb_now_ns());
	st_srv_policy_refresh(w);
	st_srv_slots_tick(w);
	sweep_timeouts(w);
	st_srv_alog_flush(w);
	if (w->idx == 0) /* one worker is enough: the cache is shared */
		st_objcache_sweep(w->srv->conf.oc);
}

/* Whether a response is still in flight (lingering closes do not count). */
static bool worker_busy(const struct worker *w)
{
	for (const struct conn *c = w->conns; c; c = c->next)
		if (!c->closing && c->state == CS_SEND)
			return true;
	return false;
}

/*
 * Serves until stop is asked; when draining, until no response is in
 * flight or drain_until has passed.
 */
static void worker_loop(struct worker *w)
{
	uint64_t last_sweep = cb_now_ns();

	while (w->draining ? worker_busy(w) && cb_now_ns() < w->drain_until : !w->stopping) {
		if (worker_wait(w) < 0)
			break;
		worker_reap(w);
		st_srv_bw_resume(w);
		if (cb_now_ns() - last_sweep >= TICK_NS) {
			last_sweep = cb_now_ns();
			worker_tick(w);
		}
	}
}

/*
 * Stop, first step: no new connection (the listener is shut, so new SYNs
 * are refused; with SO_REUSEPORT each worker shuts its own), idle and
 * half-read connections and requests still queued for a slot are closed,
 * and responses in flight (sending, or waiting for their fill) go on for
 * up to STOP_DRAIN_MS, each closing its connection when done (it says
 * Connection: close if its head is not out yet). The fills they wait for
 * run on meanwhile: the fetch threads stop after the workers.
 */
static void worker_drain_start(struct worker *w)
{
	shutdown(w->lfd, SHUT_RDWR);
	w->draining = true;
	w->drain_until = cb_now_ns() + STOP_DRAIN_MS * 1000000ull;
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		if (c->state != CS_SEND || c->park == PARK_SLOT)
			st_srv_conn_close_idle(w, c);
		else
			c->want_close = true;
	}
}

/* Stop, last step: close every connection and drain their operations. */
static void worker_drain(struct worker *w)
{
	close(w->lfd);
	w->lfd = -1;
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		st_srv_conn_close_idle(w, c);
	}
	for (int rounds = 0; w->conns && rounds < STOP_DRAIN_ROUNDS; rounds++) {
		struct io_uring_cqe *cqe;
		unsigned head, count = 0;

		io_uring_submit_and_wait(&w->ring, 1);
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			uint64_t ud = io_uring_cqe_get_data64(cqe);

			count++;
			if (st_srv_ud_op(ud) != OP_EVENT && st_srv_ud_op(ud) != OP_ACCEPT)
				handle_cqe(w, cqe);
		}
		io_uring_cq_advance(&w->ring, count);
	}
	st_srv_alog_flush(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	ST_SRV_CHECK_OBJ(w, WORKER_MAGIC);
	st_srv_accept_arm(w);
	st_srv_policy_refresh(w);
	arm_tick(w);
	arm_wake(w);
	arm_fill_wake(w);
	worker_loop(w);
	worker_drain_start(w);
	worker_loop(w);
	w->draining = false;
	worker_drain(w);
	return NULL;
}

/*
 * The operations a worker's ring may carry, and nothing else: seccomp cannot
 * see inside io_uring, so the ring itself is restricted (made disabled,
 * restricted, then enabled). No register operation is allowed once it is
 * enabled: the buffer ring and the fixed buffers are registered before.
 */
static const uint8_t ring_ops[] = {
	IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND,	IORING_OP_SEND_ZC,
	IORING_OP_SPLICE, IORING_OP_READ, IORING_OP_READ_FIXED, IORING_OP_TIMEOUT,
};

static int ring_restrict(struct worker *w)
{
	struct io_uring_restriction res[CB_ARRAY_SIZE(ring_ops) + 1];

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < CB_ARRAY_SIZE(ring_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ring_ops[i];
	}
	res[CB_ARRAY_SIZE(ring_ops)].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[CB_ARRAY_SIZE(ring_ops)].sqe_flags = IOSQE_BUFFER_SELECT;
	/* Debian 12's liburing 2.3 declares but does not export the two wrappers */
	if (syscall(__NR_io_uring_register, w->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res,
		    (unsigned)CB_ARRAY_SIZE(res)) < 0 ||
	    syscall(__NR_io_uring_register, w->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
		    0) < 0)
		return -errno;
	return 0;
}

/* Worker i's listener, eventfds, ring and buffers; 0 or -errno (logged). */
static int worker_init(struct st_server *srv, struct worker *w, unsigned i)
{
	const struct st_server_conf *conf = &srv->conf;
	struct io_uring_params p = {0};
	int ret;

	/* First what worker_fini needs, whatever fails below. */
	w->magic = WORKER_MAGIC;
	w->idx = i;
	w->srv = srv;
	w->lfd = w->efd = w->ffd = -1;
	w->rng = cb_wall_ns() ^ ((uint64_t)i << 32) ^ 0x9e3779b97f4a7c15ull;
	w->stats = cb_index_stats(conf->ix, i);
	w->lfd = st_srv_listen_socket(&conf->cfg->server.listen);
	if (w->lfd < 0) {
		ret = w->lfd;
		w->lfd = -1;
		return ret;
	}
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0) {
		ret = -errno;
		cb_err("worker %u: eventfd: %s", i, strerror(errno));
		return ret;
	}
	w->ffd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ffd < 0) {
		ret = -errno;
		cb_err("worker %u: eventfd: %s", i, strerror(errno));
		return ret;
	}
	/* The ring is made here and used by the worker thread: no SINGLE_ISSUER. */
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_R_DISABLED;
		ret = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	}
	if (ret < 0) {
		cb_err("worker %u: io_uring_queue_init: %s", i, strerror(-ret));
		return ret;
	}
	w->ring_up = true;
	ret = setup_buffers(w);
	if (ret < 0) {
		cb_err("worker %u: io_uring buffers: %s", i, strerror(-ret));
		return ret;
	}
	ret = ring_restrict(w);
	if (ret < 0)
		cb_err("worker %u: io_uring restrictions: %s", i, strerror(-ret));
	return ret;
}

/* Frees what worker_init made of w, however far it got; its thread is joined. */
static void worker_fini(struct worker *w)
{
	if (w->magic != WORKER_MAGIC)
		return; /* never initialised */
	if (w->ring_up)
		io_uring_queue_exit(&w->ring);
	if (w->lfd >= 0)
		close(w->lfd);
	if (w->efd >= 0)
		close(w->efd);
	if (w->ffd >= 0)
		close(w->ffd);
	free(w->br);
	free(w->rbufs);
	free(w->zc_mem);
	free(w->scratch);
	free(w->tls_plain);
	w->magic = 0;
}

/* Workers, by default one per core, within 1..CB_MAX_WORKERS. */
static unsigned workers_wanted(const struct cfg *cfg)
{
	unsigned n = cfg->server.workers;

	if (n == 0)
		n = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	return CB_MAX(1u, CB_MIN(n, (unsigned)CB_MAX_WORKERS));
}

/*
 * Starts the server: everything is made first, then the threads. On a
 * failure everything made so far is undone by st_server_stop, which knows
 * how far start got (nworkers initialised, nstarted running).
 */
struct st_server *st_server_start(const struct st_server_conf *conf)
{
	const struct cfg *cfg = conf->cfg;
	unsigned n = workers_wanted(cfg);
	struct st_server *srv;
	int ret;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->magic = SERVER_MAGIC;
	srv->conf = *conf;
	ret = -pthread_mutex_init(&srv->tls_lock, NULL);
	if (ret < 0) {
		free(srv);
		errno = -ret;
		return NULL;
	}
	srv->slots = st_slots_new(SLOT_TABLE);
	srv->peers = st_peers_new(cfg->server.max_connections_per_client,
				  (uint64_t)n * cfg->server.max_connections);
	srv->w = calloc(n, sizeof(*srv->w));
	if (!srv->slots || !srv->peers || !srv->w) {
		ret = -ENOMEM;
		cb_err("file server: %s", strerror(-ret));
		goto fail;
	}
	ret = st_srv_tls_init(srv);
	if (ret < 0)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		ret = worker_init(srv, &srv->w[i], i);
		srv->nworkers++; /* even if it failed: worker_fini frees what it made */
		if (ret < 0)
			goto fail;
	}
	srv->fm = st_fill_mgr_new(cfg, conf->ss, conf->ix, conf->oc, FILL_THREADS, st_srv_notify,
				  srv);
	if (!srv->fm) {
		ret = -errno;
		cb_err("fill threads: %s", strerror(errno));
		goto fail;
	}
	st_fill_mgr_set_policy(srv->fm, conf->pol);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		ret = -pthread_create(&srv->w[i].thread, NULL, worker_main, &srv->w[i]);
		if (ret < 0) {
			cb_err("worker %u: pthread_create: %s", i, strerror(-ret));
			goto fail;
		}
		srv->nstarted++;
	}
	return srv;
fail:
	st_server_stop(srv);
	errno = -ret;
	return NULL;
}

void st_server_stop(struct st_server *srv)
{
	uint64_t one = 1;

	if (!srv)
		return;
	ST_SRV_CHECK_OBJ(srv, SERVER_MAGIC);
	for (unsigned i = 0; i < srv->nstarted; i++)
		if (write(srv->w[i].efd, &one, sizeof(one)) < 0)
			cb_warn("worker %u: wake: %s", i, strerror(errno));
	for (unsigned i = 0; i < srv->nstarted; i++)
		pthread_join(srv->w[i].thread, NULL);
	/* Then the fetch threads (their wake-ups go to the workers' eventfds). */
	st_fill_mgr_free(srv->fm);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_fini(&srv->w[i]);
	free(srv->w);
	SSL_CTX_free(srv->tls);
	pthread_mutex_destroy(&srv->tls_lock);
	st_peers_free(srv->peers);
	st_slots_free(srv->slots);
	srv->magic = 0;
	free(srv);
}
