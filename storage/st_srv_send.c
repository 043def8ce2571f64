/*
 * The file server's sending: a response is a list of segments, memory
 * from c->out or a range of the object's file, sent in order. Memory goes
 * by send; a file range goes by splice (file -> pipe -> socket, no copy
 * through user space), or by the zero-copy path of st_srv_zc.c when it is
 * large, or through SSL_write on TLS. Only present and verified bytes are
 * ever sent: at a piece still being fetched the connection parks until
 * the fill brings it, and the bandwidth caps may park it too. When the
 * last segment is out the response is logged and the connection reads
 * the next request or starts its lingering close.
 */
#include "st_srv.h"

#include "cb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

size_t st_srv_scratch_for(struct worker *w, size_t len)
{
	if (w->scratch_len < len) {
		free(w->scratch);
		w->scratch = malloc(len);
		w->scratch_len = w->scratch ? len : 0;
	}
	return w->scratch_len;
}

void st_srv_response_reset(struct worker *w, struct conn *c)
{
	if (c->obj) {
		st_obj_put(w->srv->conf.oc, c->obj);
		c->obj = NULL;
	}
	st_fill_put(w->srv->fm, c->fill);
	c->fill = NULL;
	free(c->miss_key);
	c->miss_key = NULL;
	c->park = PARK_NONE;
	c->was_miss = false;
	c->out_len = 0;
	c->nseg = c->cur = 0;
	c->seg_done = 0;
	c->mode = SEG_UNDECIDED;
	c->zc_read_off = 0;
	c->body_len = c->body_sent = c->counted = 0;
	c->status = 0;
	c->method[0] = c->range_desc[0] = c->id_hex[0] = '\0';
	c->result = RESULT_NONE;
	if (c->out_cap > 256 * 1024) { /* a big pieces list: give the memory back */
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

static void response_done(struct worker *w, struct conn *c)
{
	uint64_t total = 0;
	const char *end = memmem(c->out, c->out_len, "\r\n\r\n", 4);

	/* Body bytes = everything sent but the head (multipart separators included). */
	for (unsigned i = 0; i < c->nseg; i++)
		total += c->segs[i].len;
	if (end && total >= (uint64_t)(end - c->out) + 4)
		c->body_sent = total - (uint64_t)(end - c->out) - 4;
	st_srv_response_log(w, c);
	st_srv_slot_release(w, c);
	st_srv_response_reset(w, c);
	st_srv_conn_next(w, c);
}

int st_srv_pipe_ensure(struct conn *c)
{
	if (c->pipe[0] >= 0)
		return 0;
	if (pipe2(c->pipe, O_CLOEXEC) < 0) {
		c->pipe[0] = c->pipe[1] = -1;
		return -errno;
	}
	fcntl(c->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	return 0;
}

bool st_srv_more_after(const struct conn *c)
{
	return c->cur + 1 < c->nseg;
}

void st_srv_splice_next(struct worker *w, struct conn *c, const struct seg *s, uint64_t ready)
{
	struct io_uring_sqe *sqe;
	uint64_t left = s->len - c->seg_done;

	if (c->pipe_bytes) {
		/* MORE only if bytes follow this splice: else the tail sits corked. */
		bool more = left > c->pipe_bytes || st_srv_more_after(c);

		sqe = st_srv_conn_sqe(w, c, OP_SPLICE_OUT);
		io_uring_prep_splice(sqe, c->pipe[0], -1, c->fd, -1, (unsigned)c->pipe_bytes,
				     SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));
		return;
	}
	left = CB_MIN(CB_MIN(left, ready), (uint64_t)PIPE_SIZE);
	st_srv_bw_used(c, left);
	sqe = st_srv_conn_sqe(w, c, OP_SPLICE_IN);
	io_uring_prep_splice(sqe, c->obj->fd, (int64_t)(s->off + c->seg_done), c->pipe[1], -1,
			     (unsigned)left, SPLICE_F_MOVE);
}

/*
 * Bytes of segment s from where it stands that are present and verified,
 * stopping at the first piece that is not (verifying pieces that are on
 * disk but not yet hashed in this process).
 */
static uint64_t ready_bytes(struct worker *w, struct conn *c, const struct seg *s)
{
	struct st_obj *o = c->obj;
	uint64_t off = s->off + c->seg_done, end = s->off + s->len, pos = off;

	while (pos < end) {
		uint32_t p = (uint32_t)(pos / o->piece_size);

		if (!(__atomic_load_n(&o->verified[p >> 3], __ATOMIC_ACQUIRE) & (1u << (p & 7))) &&
		    (!st_srv_scratch_for(w, o->piece_size) ||
		     st_obj_verify(w->srv->conf.oc, o, pos, pos, w->scratch) != 0))
			break;
		pos = CB_MIN(((uint64_t)p + 1) * o->piece_size, end);
	}
	return pos - off;
}

/* The next piece to send is not here: ask the fill for it and wait. */
static void wait_piece(struct worker *w, struct conn *c, const struct seg *s)
{
	uint32_t p = (uint32_t)((s->off + c->seg_done) / c->obj->piece_size);
	struct cb_index_rec frec;
	int fstatus;

	if (!st_srv_fill_for(w, c, c->obj->id, &c->orec, c->obj) ||
	    st_fill_status(w->srv->fm, c->fill, &frec, &fstatus) == ST_FILL_FAILED) {
		/* Headers are out: all we can do is stop short of the declared length. */
		cb_warn("%s: object %s: piece %u cannot be had; closing mid-body", c->peer,
			c->id_hex, p);
		st_srv_conn_close(w, c);
		return;
	}
	st_fill_want(w->srv->fm, c->fill, p, p + 3);
	st_srv_park(w, c, PARK_PIECE);
}

/*
 * Bytes of segment s that may be issued now: present and verified, and
 * allowed by the bandwidth caps. 0 when the connection was parked (waiting
 * for a piece or for a cap).
 */
uint64_t st_srv_sendable(struct worker *w, struct conn *c, const struct seg *s)
{
	uint64_t ready = ready_bytes(w, c, s);

	if (ready == 0) {
		wait_piece(w, c, s);
		return 0;
	}
	return st_srv_bw_limit(w, c, ready);
}

void st_srv_send_next(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;
	uint64_t ready = 0;
	struct seg *s;

	if (c->ssl && c->tls_sending)
		return; /* on_send comes back here when the ciphertext is out */
	if (c->out_oom) {
		cb_warn("%s: out of memory for a response head: connection closed", c->peer);
		st_srv_conn_close(w, c);
		return;
	}

	while (c->cur < c->nseg && c->seg_done == c->segs[c->cur].len) {
		c->cur++;
		c->seg_done = 0;
		c->mode = SEG_UNDECIDED;
		c->zc_read_off = 0;
	}
	if (c->cur == c->nseg) {
		response_done(w, c);
		return;
	}
	s = &c->segs[c->cur];
	if (c->ssl) {
		st_srv_tls_send_next(w, c, s);
		return;
	}
	if (!s->file) {
		sqe = st_srv_conn_sqe(w, c, OP_SEND);
		io_uring_prep_send(sqe, c->fd, c->out + s->off + c->seg_done, s->len - c->seg_done,
				   MSG_NOSIGNAL | (st_srv_more_after(c) ? MSG_MORE : 0));
		return;
	}
	if (c->pipe_bytes == 0 && c->zq_count == 0 && !c->zc_sending) {
		ready = st_srv_sendable(w, c, s);
		if (ready == 0)
			return; /* parked */
	}
	if (c->mode == SEG_UNDECIDED) {
		uint64_t thr = w->srv->conf.cfg->server.zerocopy_threshold;

		if (ready < s->len - c->seg_done || w->rate || w->rate_client)
			thr = 0; /* still filling, or capped: splice what may go */

		c->mode =
			w->zc_ok && c->obj->dfd >= 0 && thr && s->len >= thr ? SEG_ZC : SEG_SPLICE;
	}
	if (c->mode == SEG_ZC) {
		st_srv_zc_pump(w, c, s, s->len);
		return;
	}
	if (st_srv_pipe_ensure(c) < 0) {
		cb_err("pipe: %s", strerror(errno));
		st_srv_conn_close(w, c);
		return;
	}
	st_srv_splice_next(w, c, s, ready);
}

void st_srv_on_send(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	if (c->closing)
		return;
	if (cqe->res <= 0) {
		st_srv_conn_close(w, c);
		return;
	}
	if (c->continue_sending) {
		st_srv_continue_on_send(w, c, cqe->res);
		return;
	}
	if (c->ssl) {
		c->tls_sending = false;
		c->tls_out_off += (size_t)cqe->res;
		st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
		if (st_srv_tls_flush(w, c) == 0 && c->state == CS_SEND && c->park == PARK_NONE)
			st_srv_send_next(w, c);
		return;
	}
	c->seg_done += (uint64_t)cqe->res;
	st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
	st_srv_send_next(w, c);
}

void st_srv_on_splice(struct worker *w, struct conn *c, struct io_uring_cqe *cqe, bool in)
{
	if (c->closing)
		return;
	if (cqe->res <= 0) {
		/* A short file (truncated under us) or a dead peer: cut the body short. */
		if (in && cqe->res == 0)
			cb_err("object %s: data file shorter than its metadata", c->id_hex);
		st_srv_conn_close(w, c);
		return;
	}
	if (in) {
		c->pipe_bytes += (uint64_t)cqe->res;
	} else {
		c->pipe_bytes -= (uint64_t)cqe->res;
		c->seg_done += (uint64_t)cqe->res;
		c->body_sent += (uint64_t)cqe->res;
		st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
	}
	st_srv_send_next(w, c);
}
