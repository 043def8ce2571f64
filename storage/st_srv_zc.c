/*
 * The file server's zero-copy send path. Each worker registers ZC_BUFS
 * buffers of ZC_BUF_SIZE with its ring at start; a large file range is
 * read into them with O_DIRECT (the page cache is not filled twice) and
 * sent with SEND_ZC, a few chunks in flight per connection, in file order.
 * A buffer is the kernel's until the send's notification completion comes
 * back: it has one reference for the chunk it holds and one for each
 * SEND_ZC not yet notified. When every buffer is taken, the range falls
 * back to splice (st_srv_send.c); TLS connections use the same reads to
 * feed SSL_write.
 */
#include "st_srv.h"

#include "cb_log.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Registered buffers of the O_DIRECT + SEND_ZC path; optional. */
int st_srv_zc_setup(struct worker *w)
{
	struct iovec iov[ZC_BUFS];
	void *mem;
	int ret;

	if (posix_memalign(&mem, 4096, (size_t)ZC_BUFS * ZC_BUF_SIZE) != 0)
		return -ENOMEM;
	for (unsigned i = 0; i < ZC_BUFS; i++) {
		iov[i].iov_base = (uint8_t *)mem + (size_t)i * ZC_BUF_SIZE;
		iov[i].iov_len = ZC_BUF_SIZE;
	}
	ret = io_uring_register_buffers(&w->ring, iov, ZC_BUFS);
	if (ret < 0) {
		free(mem);
		return ret;
	}
	w->zc_mem = mem;
	w->zc_ok = true;
	return 0;
}

static void zc_release(struct worker *w, int buf)
{
	CB_ASSERT(buf >= 0 && buf < ZC_BUFS && w->zc_ref[buf] > 0);
	w->zc_ref[buf]--;
}

void st_srv_zc_pop(struct worker *w, struct conn *c)
{
	zc_release(w, c->zq[c->zq_head].buf);
	c->zq_head = (c->zq_head + 1) % ZC_PER_CONN;
	c->zq_count--;
}

static int zc_get(struct worker *w)
{
	for (int i = 0; i < ZC_BUFS; i++) {
		if (!w->zc_ref[i]) {
			w->zc_ref[i] = 1; /* held by the chunk it is given to */
			return i;
		}
	}
	return -1;
}

/* Sends the oldest chunk if its read is done and no send is in flight. */
void st_srv_zc_try_send(struct worker *w, struct conn *c, const struct seg *s)
{
	struct zchunk *k = &c->zq[c->zq_head];
	struct io_uring_sqe *sqe;
	uint32_t n;
	bool more;

	if (c->ssl) {
		/* TLS: the read buffer is encrypted a chunk at a time, then sent. */
		if (c->tls_sending || c->zq_count == 0 || !k->ready)
			return;
		n = CB_MIN(k->len, (uint32_t)TLS_CHUNK);
		if (SSL_write(c->ssl, w->zc_mem + (size_t)k->buf * ZC_BUF_SIZE + k->skip, (int)n) !=
		    (int)n) {
			st_srv_conn_close(w, c);
			return;
		}
		c->seg_done += n;
		c->body_sent += n;
		k->skip += n;
		k->len -= n;
		if (k->len == 0)
			st_srv_zc_pop(w, c);
		st_srv_tls_flush(w, c);
		return;
	}
	if (c->zc_sending || c->zq_count == 0 || !k->ready)
		return;
	more = c->zq_count > 1 || c->zc_read_off < s->len || st_srv_more_after(c);
	sqe = st_srv_conn_sqe_buf(w, c, OP_ZC_SEND, k->buf);
	io_uring_prep_send_zc_fixed(sqe, c->fd, w->zc_mem + (size_t)k->buf * ZC_BUF_SIZE + k->skip,
				    k->len, MSG_NOSIGNAL | (more ? MSG_MORE : 0), 0,
				    (unsigned)k->buf);
	c->zc_sending = true;
	w->zc_ref[k->buf]++; /* until the send's notification */
}

/*
 * SEND_ZC path: O_DIRECT reads of up to ZC_BUF_SIZE into registered
 * buffers (4 KiB aligned; the unaligned head and tail of a range are cut
 * off at send time), at most ZC_PER_CONN in flight, each sent with
 * SEND_ZC in file order. A buffer is free again at its notification.
 */
void st_srv_zc_pump(struct worker *w, struct conn *c, const struct seg *s, uint64_t limit)
{
	while (c->zq_count < ZC_PER_CONN && c->zc_read_off < limit) {
		uint64_t abs = s->off + c->zc_read_off, start = abs & ~4095ull;
		uint64_t skip = abs - start;
		uint64_t want = CB_MIN((uint64_t)ZC_BUF_SIZE - skip, limit - c->zc_read_off);
		uint64_t rlen = (skip + want + 4095) & ~4095ull;
		struct io_uring_sqe *sqe;
		struct zchunk *k;
		int b = zc_get(w);

		if (b < 0)
			break;
		k = &c->zq[(c->zq_head + c->zq_count++) % ZC_PER_CONN];
		k->buf = b;
		k->ready = false;
		k->skip = (uint32_t)skip;
		k->len = (uint32_t)want;
		st_srv_bw_used(c, want);
		sqe = st_srv_conn_sqe_buf(w, c, OP_ZC_READ, b);
		/* TLS reads the page cache; SEND_ZC reads the disk with O_DIRECT. */
		io_uring_prep_read_fixed(sqe, c->ssl ? c->obj->fd : c->obj->dfd,
					 w->zc_mem + (size_t)b * ZC_BUF_SIZE, (unsigned)rlen, start,
					 b);
		c->zc_read_off += want;
	}
	if (c->ssl)
		goto send; /* TLS has its own fallback (st_srv_tls_send_next) */
	if (c->zq_count == 0 && c->zc_read_off < s->len && !c->zc_sending) {
		/* Every buffer of the worker is taken: splice the rest of this range. */
		c->mode = SEG_SPLICE;
		if (st_srv_pipe_ensure(c) < 0) {
			st_srv_conn_close(w, c);
			return;
		}
		st_srv_splice_next(w, c, s, s->len - c->seg_done);
		return;
	}
send:
	st_srv_zc_try_send(w, c, s);
}

void st_srv_on_zc_read(struct worker *w, struct conn *c, int buf, int res)
{
	struct zchunk *k = NULL;

	for (unsigned i = 0; i < c->zq_count; i++)
		if (c->zq[(c->zq_head + i) % ZC_PER_CONN].buf == buf)
			k = &c->zq[(c->zq_head + i) % ZC_PER_CONN];
	CB_ASSERT(k);
	k->ready = true;
	if (c->closing)
		return;
	if (res < 0 || (uint64_t)res < (uint64_t)k->skip + k->len) {
		/* A short read is a data file shorter than its metadata: cut the body. */
		cb_err("object %s: O_DIRECT read: %s", c->id_hex,
		       res < 0 ? strerror(-res) : "short read");
		st_srv_conn_close(w, c);
		return;
	}
	st_srv_zc_try_send(w, c, &c->segs[c->cur]);
}

void st_srv_on_zc_send(struct worker *w, struct conn *c, int buf, struct io_uring_cqe *cqe)
{
	struct zchunk *k = &c->zq[c->zq_head];

	if (cqe->flags & IORING_CQE_F_NOTIF) {
		zc_release(w, buf); /* the kernel is done with the bytes */
		if (!c->closing && c->state == CS_SEND && c->mode == SEG_ZC)
			st_srv_zc_pump(w, c, &c->segs[c->cur], c->segs[c->cur].len);
		return;
	}
	CB_ASSERT(c->zc_sending && c->zq_count && k->buf == buf);
	c->zc_sending = false;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		zc_release(w, buf); /* no notification follows */
	if (c->closing || cqe->res <= 0) {
		if (!c->closing)
			cb_dbg("%s: send_zc: %s", c->peer, strerror(-cqe->res));
		st_srv_conn_close(w, c);
		return;
	}
	c->seg_done += (uint64_t)cqe->res;
	c->body_sent += (uint64_t)cqe->res;
	st_srv_deadline_set(w, c, w->srv->conf.cfg->server.idle_timeout_ms);
	if ((uint32_t)cqe->res < k->len) {
		/* Short send: the chunk keeps its buffer for the rest. */
		k->skip += (uint32_t)cqe->res;
		k->len -= (uint32_t)cqe->res;
		st_srv_zc_try_send(w, c, &c->segs[c->cur]);
		return;
	}
	st_srv_zc_pop(w, c);
	st_srv_send_next(w, c);
}
