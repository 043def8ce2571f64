/*
 * A connection of the file server, from accept to free. It moves through
 * READ (head bytes arrive by recv into provided buffers and are copied
 * into c->in; the buffer goes straight back), SEND (a response is being
 * sent, or waits parked) and LINGER (after an error answer the write side
 * is shut and input drained for a moment, so the client reads the answer
 * rather than a reset). Pipelined requests wait in c->in and are parsed
 * only after the previous response is sent, so answers leave in order; a
 * bad request stops parsing, so nothing pipelined behind it is answered.
 * A request is answered once its whole body is buffered; one that asks
 * for it with Expect: 100-continue gets the interim "100 Continue" first,
 * once its head is in. Deadlines (head,
 * idle, linger) are checked by the loop's sweep. A connection is freed
 * only when no operation of it is in flight (c->pending).
 */
#include "st_srv.h"

#include "cb_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void conn_link(struct worker *w, struct conn *c)
{
	c->next = w->conns;
	c->prev = NULL;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
}

/*
 * The peer's address: printable for the logs, and v4-mapped as the slot
 * and st_peers key. false if the peer is gone already.
 */
static bool conn_peer(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", host, ntohs(a->sin_port));
		c->addr[10] = c->addr[11] = 0xff; /* ::ffff:a.b.c.d */
		memcpy(c->addr + 12, &a->sin_addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, ntohs(a->sin6_port));
		memcpy(c->addr, &a->sin6_addr, 16);
	}
	return true;
}

struct conn *st_srv_conn_new(struct worker *w, int fd)
{
	struct conn *c;
	int one = 1, ret;

	c = aligned_alloc(CONN_ALIGN, (sizeof(*c) + CONN_ALIGN - 1) & ~(size_t)(CONN_ALIGN - 1));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->magic = CONN_MAGIC;
	c->fd = fd;
	c->pipe[0] = c->pipe[1] = -1;
	if (!conn_peer(c)) {
		/*
		 * The peer reset the connection while it waited in the listen
		 * queue: nothing can be answered. Served anyway, its request
		 * would start fills for no one, share the all-zero client slot
		 * with every other such ghost and log an empty client address.
		 */
		c->magic = 0;
		free(c);
		errno = ENOTCONN;
		return NULL;
	}
	ret = st_peers_take(w->srv->peers, c->addr);

	if (ret < 0) {
		c->magic = 0;
		free(c);
		errno = -ret;
		return NULL;
	}
	c->peer_counted = ret > 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_link(w, c);
	w->stats->conns_open++;
	w->stats->conns_total++;
	c->state = CS_READ;
	st_srv_deadline_set(w, c, w->srv->conf.cfg->server.header_timeout_ms);
	st_srv_recv_arm(w, c);
	return c;
}

static void conn_unlink(struct worker *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
}

void st_srv_conn_free(struct worker *w, struct conn *c)
{
	CB_ASSERT(c->pending == 0);
	/* Chunks not (wholly) sent still hold their buffers. */
	while (c->zq_count)
		st_srv_zc_pop(w, c);
	conn_unlink(w, c);
	if (c->status && c->state == CS_SEND) {
		/* A response cut short (client gone, origin failed): logged with what it got. */
		st_srv_response_log(w, c);
	}
	st_srv_slot_release(w, c);
	if (c->peer_counted)
		st_peers_put(w->srv->peers, c->addr);
	if (c->bw_queued)
		st_srv_bwq_remove(w, c);
	st_srv_response_reset(w, c);
	if (c->fd >= 0)
		close(c->fd);
	if (c->pipe[0] >= 0) {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	free(c->out);
	SSL_free(c->ssl);
	free(c->tls_raw);
	free(c->tls_out);
	w->stats->conns_open--;
	c->magic = 0;
	free(c);
}

/*
 * Starts closing: shuts the socket so in-flight operations end soon. The
 * connection is freed by handle_cqe once its last operation completes, or
 * by st_srv_conn_close_idle outside completion handling.
 */
void st_srv_conn_close(struct worker *w, struct conn *c)
{
	(void)w;
	if (!c->closing) {
		c->closing = true;
		shutdown(c->fd, SHUT_RDWR);
	}
}

void st_srv_conn_close_idle(struct worker *w, struct conn *c)
{
	st_srv_conn_close(w, c);
	if (c->pending == 0)
		st_srv_conn_free(w, c);
}

void st_srv_deadline_set(struct worker *w, struct conn *c, uint64_t ms)
{
	(void)w;
	c->deadline_ns = cb_now_ns() + ms * 1000000ull;
}

void st_srv_recv_arm(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->closing || c->peer_eof || c->in_len >= IN_CAP)
		return;
	sqe = st_srv_conn_sqe(w, c, OP_RECV);
	if (c->ssl) {
		io_uring_prep_recv(sqe, c->fd, c->tls_raw, TLS_RAW, 0);
	} else {
		/*
		 * No more than c->in has room for: while an answer goes out the
		 * client may pipeline on, and what a provided buffer holds past
		 * that room could not be kept (the next requests would be parsed
		 * from a stream with a hole in it).
		 */
		io_uring_prep_recv(sqe, c->fd, NULL, CB_MIN(RBUF_SIZE, IN_CAP - c->in_len), 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
	}
	c->recv_armed = true;
}

/* Fallback when no provided buffer is free: receive straight into c->in. */
static void arm_recv_direct(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = st_srv_conn_sqe(w, c, OP_RECV);

	io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
	c->recv_armed = true;
}

/*
 * A request is answered only once its whole body is buffered (GET with a
 * body is legal, if odd; the body is validated and dropped). Returns the
 * body length, -2 to wait for more, or -1 with *status set.
 */
static long body_length(const struct conn *c, const struct st_http_req *req, size_t head,
			int *status)
{
	struct st_http_chunked ch;
	bool done = false;
	long n;

	if (req->has_content_length) {
		if (req->content_length > IN_CAP - head) {
			*status = 413;
			return -1;
		}
		return c->in_len - head >= req->content_length ? (long)req->content_length : -2;
	}
	if (!req->chunked)
		return 0;
	st_http_chunked_init(&ch);
	n = st_http_chunked_feed(&ch, c->in + head, c->in_len - head, &done);
	if (n < 0) {
		*status = 400;
		return -1;
	}
	if (done)
		return n;
	if (c->in_len == IN_CAP) {
		*status = 413;
		return -1;
	}
	return -2;
}

/* A head (or its body) has begun: the header timeout runs from its first byte. */
static void input_wait(struct worker *w, struct conn *c)
{
	if (!c->head_timer) {
		c->head_timer = true;
		st_srv_deadline_set(w, c, w->srv->conf.cfg->server.header_timeout_ms);
	}
	st_srv_recv_arm(w, c);
}

/* What a request's Expect fields ask (RFC 9110 §10.1.1). */
enum expect { EXPECT_NONE, EXPECT_CONTINUE, EXPECT_OTHER };

/*
 * Expect = #expectation, a list whose members are case-insensitive;
 * 100-continue is the only expectation defined, so any other member (one
 * with parameters too) is one we cannot meet. Empty members are skipped
 * (RFC 9110 §5.6.1), in every Expect field of the head.
 */
static enum expect expect_of(const struct st_http_req *req)
{
	static const char cont[] = "100-continue";
	enum expect e = EXPECT_NONE;

	for (unsigned i = 0; i < req->nhdrs; i++) {
		const struct st_http_hdr *h = &req->hdrs[i];
		const char *p = h->value.p, *end = p + h->value.len;

		if (h->name.len != 6 || strncasecmp(h->name.p, "Expect", 6) != 0)
			continue;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *q = comma ? comma : end, *next = comma ? comma + 1 : end;

			while (p < q && (*p == ' ' || *p == '\t'))
				p++;
			while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
				q--;
			if (q - p == (long)sizeof(cont) - 1 &&
			    strncasecmp(p, cont, sizeof(cont) - 1) == 0)
				e = EXPECT_CONTINUE;
			else if (q > p)
				return EXPECT_OTHER;
			p = next;
		}
	}
	return e;
}

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
#define CONTINUE_LEN (sizeof(continue_line) - 1)

/* The rest of the plaintext "100 Continue", by one send. */
static void continue_send_rest(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = st_srv_conn_sqe(w, c, OP_SEND);

	io_uring_prep_send(sqe, c->fd, continue_line + c->continue_off,
			   CONTINUE_LEN - c->continue_off, MSG_NOSIGNAL);
}

/*
 * RFC 9110 §10.1.1, §15.2.1: the client waits for "100 Continue" before
 * it sends the body. Sent once per request, before any other answer: on
 * TLS it is sealed ahead of whatever follows; in plaintext the request
 * is not answered until its send is done (st_srv_continue_on_send).
 */
static void continue_send(struct worker *w, struct conn *c)
{
	c->continue_sent = true;
	if (c->ssl) {
		if (SSL_write(c->ssl, continue_line, (int)CONTINUE_LEN) != (int)CONTINUE_LEN) {
			st_srv_conn_close(w, c);
			return;
		}
		st_srv_tls_flush(w, c);
		return;
	}
	c->continue_off = 0;
	c->continue_sending = true;
	continue_send_rest(w, c);
}

void st_srv_continue_on_send(struct worker *w, struct conn *c, int res)
{
	c->continue_off += (unsigned)res;
	if (c->continue_off < CONTINUE_LEN) {
		continue_send_rest(w, c);
		return;
	}
	c->continue_sending = false;
	st_srv_input_process(w, c); /* the body may be in by now */
}

/*
 * The next whole request of c->in: its head's length, and *body its
 * body's; -2 when more bytes must come first (waiting for them is
 * arranged, or c closed), -1 with *status set for a bad request (417 for
 * an expectation we cannot meet). A head with Expect: 100-continue whose
 * body is not here yet gets "100 Continue" (not in HTTP/1.0, where the
 * expectation is ignored, RFC 9110 §10.1.1).
 */
static int input_next(struct worker *w, struct conn *c, struct st_http_req *req, long *body,
		      int *status)
{
	int n = st_http_parse_request(c->in, c->in_len, req, status);
	enum expect e;

	if (n == -2) {
		if (c->peer_eof)
			st_srv_conn_close(w, c);
		else
			input_wait(w, c);
		return -2;
	}
	if (n < 0)
		return -1;
	e = expect_of(req);
	if (e == EXPECT_OTHER) {
		*status = 417;
		return -1;
	}
	*body = body_length(c, req, (size_t)n, status);
	if (*body == -2) {
		if (e == EXPECT_CONTINUE && req->minor == 1 && !c->continue_sent)
			continue_send(w, c);
		input_wait(w, c);
		return -2;
	}
	return *body < 0 ? -1 : n;
}

void st_srv_input_process(struct worker *w, struct conn *c)
{
	struct st_http_req req;
	int status = 0, n;
	long body = 0;

	if (c->closing || c->state != CS_READ || c->continue_sending)
		return; /* a "100 Continue" going out comes back here when sent */
	if (c->ssl && st_srv_tls_read(w, c) < 0) { /* plaintext OpenSSL still holds */
		st_srv_conn_close(w, c);
		return;
	}
	if (c->in_len == 0) {
		if (c->peer_eof)
			st_srv_conn_close(w, c);
		else
			st_srv_recv_arm(w, c);
		return;
	}
	n = input_next(w, c, &req, &body, &status);
	if (n == -2)
		return;
	c->head_timer = false;
	c->continue_sent = false; /* the next request may ask for its own */
	c->t_start = cb_now_ns();
	if (n < 0) {
		/* Nothing after a bad request is ever answered. */
		c->in_len = 0;
		st_srv_resp_error(w, c, status ? status : 400, true);
		st_srv_response_start(w, c);
		return;
	}
	/* c->req points into c->in: the bytes are dropped when the response is done. */
	c->req = req;
	c->req_consume = (size_t)n + (size_t)body;
	c->state = CS_SEND;
	st_srv_request_handle(w, c, &c->req);
	if (c->park == PARK_NONE)
		st_srv_response_start(w, c);
	st_srv_recv_arm(w, c);
}

void st_srv_response_start(struct worker *w, struct conn *c)
{
	c->state = CS_SEND;
	st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
	st_srv_send_next(w, c);
}

/*
 * The response is done: the request's bytes go, and the connection reads
 * the next request, or after an error answer starts its lingering close.
 */
void st_srv_conn_next(struct worker *w, struct conn *c)
{
	/* The request's bytes can go now: nothing points into them any more. */
	if (c->req_consume) {
		memmove(c->in, c->in + c->req_consume, c->in_len - c->req_consume);
		c->in_len -= c->req_consume;
		c->req_consume = 0;
	}
	if (c->want_close) {
		/* Lingering close: the client reads our answer, not a reset. */
		shutdown(c->fd, SHUT_WR);
		c->state = CS_LINGER;
		c->in_len = 0;
		c->peer_eof = false;
		st_srv_deadline_set(w, c, LINGER_MS);
		st_srv_recv_arm(w, c);
		return;
	}
	c->state = CS_READ;
	st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
	st_srv_input_process(w, c);
}

/*
 * A receive's bytes go into c->in (plaintext) or to OpenSSL (ciphertext),
 * and the provided buffer back to the ring; the first bytes tell whether
 * the connection speaks TLS. false if c is closing.
 */
static bool recv_take(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = w->rbufs + (size_t)bid * RBUF_SIZE;

		if (res > 0 && !c->closing && c->state != CS_LINGER) {
			/* c->in only shrinks between the arming and here */
			CB_ASSERT((size_t)res <= IN_CAP - c->in_len);
			memcpy(c->in + c->in_len, buf, (size_t)res);
			c->in_len += (size_t)res;
		}
		io_uring_buf_ring_add(w->br, buf, RBUF_SIZE, (unsigned short)bid,
				      io_uring_buf_ring_mask(RBUF_COUNT), 0);
		io_uring_buf_ring_advance(w->br, 1);
	} else if (res > 0 && c->ssl) {
		if (BIO_write(SSL_get_rbio(c->ssl), c->tls_raw, res) != res) {
			st_srv_conn_close(w, c);
			return false;
		}
	} else if (res > 0 && c->state != CS_LINGER) {
		c->in_len += (size_t)res; /* direct receive into c->in */
	}
	if (c->closing)
		return false;
	if (res > 0 && !c->proto_known && c->in_len) {
		c->proto_known = true;
		/* RFC 8446 §5.1: a TLS record starts with content type 22, handshake. */
		if ((uint8_t)c->in[0] == 0x16 && st_srv_tls_start(w, c) < 0) {
			st_srv_conn_close(w, c);
			return false;
		}
	}
	if (res > 0 && c->ssl && st_srv_tls_read(w, c) < 0) {
		st_srv_conn_close(w, c);
		return false;
	}
	return true;
}

void st_srv_on_recv(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	c->recv_armed = false;
	if (!recv_take(w, c, cqe))
		return;
	if (res == -ENOBUFS) {
		arm_recv_direct(w, c);
		return;
	}
	if (c->state == CS_LINGER) {
		if (res <= 0)
			st_srv_conn_close(w, c);
		else
			st_srv_recv_arm(w, c);
		return;
	}
	if (res <= 0) {
		if (res == 0 && c->state == CS_SEND) {
			/*
			 * A half-close: finish the answers first, unless none of
			 * this one has been sent yet because it still waits for
			 * a client slot or for its fill to begin. Then the client
			 * has given up (nginx reads it so too, its 499): waiting
			 * on, it would keep its place in the queue until
			 * queue_timeout, be granted a slot it cannot use and
			 * start fills for no one.
			 */
			c->peer_eof = true;
			if (c->park == PARK_SLOT || c->park == PARK_REQ)
				st_srv_conn_close(w, c);
			return;
		}
		if (res == 0 && c->in_len) {
			c->peer_eof = true;
			st_srv_input_process(w, c);
			return;
		}
		st_srv_conn_close(w, c);
		return;
	}
	if (c->state == CS_READ)
		st_srv_input_process(w, c);
	else
		st_srv_recv_arm(w, c);
}
