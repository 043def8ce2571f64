/*
 * Accepting connections, for the file server's loop (st_srv_loop.c): the
 * worker's SO_REUSEPORT listener, its multishot accept, and what happens
 * when accept fails or a connection is over a limit. Descriptors or memory
 * short pause accepting for ACCEPT_BACKOFF_NS (re-armed from the tick)
 * instead of spinning; a connection over max_connections or
 * max_connections_per_client (st_peers.h) is closed at once and counted;
 * the lines saying so are at most one of each per CONN_LOG_INTERVAL_NS.
 */
#include "st_srv.h"

#include "cb_log.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A bound, listening SO_REUSEPORT socket for a; fd or -errno (logged). */
int st_srv_listen_socket(const struct cfg_addr *a)
{
	struct addrinfo hints = {0}, *res = NULL;
	char port[8];
	int fd = -1, one = 1, ret;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", a->port);
	ret = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
	if (ret) {
		cb_err("listen %s:%u: %s", a->host, a->port, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0)
		goto fail;
	freeaddrinfo(res);
	return fd;
fail:
	ret = -errno;
	cb_err("listen %s:%u: %s", a->host, a->port, strerror(-ret));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ret;
}

/* Accepts on the worker's listener, multishot: one submission, a completion per connection. */
void st_srv_accept_arm(struct worker *w)
{
	struct io_uring_sqe *sqe = st_srv_sqe_get(w);

	io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, st_srv_ud_make(w, OP_ACCEPT));
	w->accept_armed = true;
}

/*
 * The lines about failed accepts and refused connections: at most one of
 * each per CONN_LOG_INTERVAL_NS, counting what happened since the last
 * (called when it happens, and from the tick for what is left).
 */
static void accept_log(struct worker *w, uint64_t now)
{
	const struct cfg *cfg = w->srv->conf.cfg;

	if (w->accept_failed &&
	    (!w->last_accept_log || now - w->last_accept_log >= CONN_LOG_INTERVAL_NS)) {
		cb_warn("worker %u: accept: %s: %llu failed since the last report (each a %llu ms "
			"pause unless the error was one connection's)",
			w->idx, strerror(w->accept_err), (unsigned long long)w->accept_failed,
			(unsigned long long)(ACCEPT_BACKOFF_NS / 1000000ull));
		w->accept_failed = 0;
		w->last_accept_log = now;
	}
	if ((w->refused_max || w->refused_client) &&
	    (!w->last_refuse_log || now - w->last_refuse_log >= CONN_LOG_INTERVAL_NS)) {
		cb_warn("worker %u: connections refused since the last report: %llu at "
			"max_connections %u, %llu at max_connections_per_client %u",
			w->idx, (unsigned long long)w->refused_max, cfg->server.max_connections,
			(unsigned long long)w->refused_client,
			cfg->server.max_connections_per_client);
		w->refused_max = w->refused_client = 0;
		w->last_refuse_log = now;
	}
}

/*
 * Errors of one connection that accept(2) passes on (the peer reset it,
 * a network error pending on it): the next accept may well succeed.
 * Anything else, descriptors or memory short above all, pauses accepting.
 */
static bool accept_err_transient(int err)
{
	switch (err) {
	case ECONNABORTED:
	case EINTR:
	case EAGAIN:
	case EPERM:
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

static void accept_error(struct worker *w, int err)
{
	uint64_t now = cb_now_ns();

	w->stats->accept_failures++;
	w->accept_failed++;
	w->accept_err = err;
	if (!accept_err_transient(err))
		w->accept_resume = now + ACCEPT_BACKOFF_NS;
	accept_log(w, now);
}

/* A connection closed at once: the worker's cap, or its address's. */
static void accept_refused(struct worker *w, int fd, bool per_client)
{
	close(fd);
	if (per_client) {
		w->stats->conns_refused_client++;
		w->refused_client++;
	} else {
		w->stats->conns_refused_max++;
		w->refused_max++;
	}
	accept_log(w, cb_now_ns());
}

/*
 * A completion of the multishot accept. Without IORING_CQE_F_MORE the
 * accept is over (every failure ends it) and is re-armed exactly once:
 * here, or from the tick when accepting is paused.
 */
void st_srv_on_accept(struct worker *w, struct io_uring_cqe *cqe)
{
	int fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		w->accept_armed = false;
	if (fd < 0) {
		if (fd != -ECANCELED && !w->stopping) /* at stop: the listener was shut */
			accept_error(w, -fd);
	} else if (w->stopping) {
		close(fd);
	} else if (w->nconns >= w->srv->conf.cfg->server.max_connections) {
		accept_refused(w, fd, false);
	} else if (!st_srv_conn_new(w, fd)) {
		if (errno == EUSERS)
			accept_refused(w, fd, true);
		else
			close(fd);
	}
	if (!w->accept_armed && !w->accept_resume && !w->stopping)
		st_srv_accept_arm(w);
}

/* From the tick: a paused accept is re-armed when its pause is over. */
void st_srv_accept_tick(struct worker *w, uint64_t now)
{
	if (w->accept_resume && now >= w->accept_resume) {
		w->accept_resume = 0;
		if (!w->accept_armed && !w->stopping)
			st_srv_accept_arm(w);
	}
	accept_log(w, now);
}
