/*
 * TLS on the file server's plain-HTTP port: the first byte of a connection
 * tells (0x16, a handshake record, RFC 8446 §5.1). The ciphertext io_uring
 * receives is written into a memory read BIO, and SSL_read leaves plaintext
 * in c->in for the same HTTP parser. Response bytes go through SSL_write
 * from where they are (file bytes from the registered buffers io_uring read
 * them into, 64 KiB = four 16 KiB records at a time); the write BIO is ours
 * (tls_bio_write): each record OpenSSL seals lands straight in c->tls_out,
 * which io_uring sends, one send at a time per connection. This file also
 * makes the server's context and swaps it on reload.
 */
#include "st_srv.h"

#include "cb_log.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int tls_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct conn *c = BIO_get_data(b);

	ST_SRV_CHECK_OBJ(c, CONN_MAGIC);

	BIO_clear_retry_flags(b);
	if (!c->tls_sending && c->tls_out_off == c->tls_out_len)
		c->tls_out_off = c->tls_out_len = 0;
	if (len > TLS_OUT_CAP - c->tls_out_len) {
		/* Not reached by construction: one chunk's records always fit. */
		BIO_set_retry_write(b);
		return 0;
	}
	memcpy(c->tls_out + c->tls_out_len, data, len);
	c->tls_out_len += len;
	*written = len;
	return 1;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	/* Flush: the bytes are queued already; tls_flush sends them. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *tls_bio_method;

static void tls_bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cachebox-out");

	if (m && BIO_meth_set_write_ex(m, tls_bio_write) && BIO_meth_set_ctrl(m, tls_bio_ctrl) &&
	    BIO_meth_set_create(m, tls_bio_create))
		tls_bio_method = m;
}

int st_srv_tls_start(struct worker *w, struct conn *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	BIO *rb, *wb;
	SSL_CTX *ctx;

	pthread_once(&once, tls_bio_method_init);
	/* The context is swapped on reload; SSL_new takes its own reference. */
	pthread_mutex_lock(&w->srv->tls_lock);
	ctx = w->srv->tls;
	c->ssl = ctx ? SSL_new(ctx) : NULL;
	pthread_mutex_unlock(&w->srv->tls_lock);
	if (!ctx || !tls_bio_method)
		return -1; /* TLS is off on this box: a handshake is garbage */
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(tls_bio_method);
	c->tls_raw = malloc(TLS_RAW);
	c->tls_out = malloc(TLS_OUT_CAP);
	if (!c->ssl || !rb || !wb || !c->tls_raw || !c->tls_out) {
		BIO_free(rb);
		BIO_free(wb);
		return -1;
	}
	BIO_set_data(wb, c);
	SSL_set_bio(c->ssl, rb, wb);
	SSL_set_accept_state(c->ssl);
	/* What came so far is ciphertext: it goes to OpenSSL, not the parser. */
	if (BIO_write(rb, c->in, (int)c->in_len) != (int)c->in_len)
		return -1;
	c->in_len = 0;
	return 0;
}

/* Sends the queued ciphertext; 0 if nothing is left to send, 1 if a send runs. */
int st_srv_tls_flush(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->tls_sending)
		return 1;
	if (c->tls_out_off == c->tls_out_len) {
		c->tls_out_off = c->tls_out_len = 0;
		return 0;
	}
	sqe = st_srv_conn_sqe(w, c, OP_SEND);
	io_uring_prep_send(sqe, c->fd, c->tls_out + c->tls_out_off, c->tls_out_len - c->tls_out_off,
			   MSG_NOSIGNAL);
	c->tls_sending = true;
	return 1;
}

/* Decrypts what arrived into c->in; -1 on a TLS error (the connection closes). */
int st_srv_tls_read(struct worker *w, struct conn *c)
{
	while (c->in_len < IN_CAP) {
		int n = SSL_read(c->ssl, c->in + c->in_len, (int)(IN_CAP - c->in_len));

		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_ZERO_RETURN:
			c->peer_eof = true;
			break;
		default:
			if (cb_log_level_get() >= CB_LOG_DEBUG) {
				const char *why = ERR_reason_error_string(ERR_get_error());

				cb_dbg("%s: TLS: %s", c->peer, why ? why : "error");
			}
			ERR_clear_error();
			return -1;
		}
		break;
	}
	/* Handshake records, session tickets: out before any answer. */
	if (c->state != CS_SEND || c->park != PARK_NONE)
		st_srv_tls_flush(w, c);
	return 0;
}

void st_srv_tls_send_next(struct worker *w, struct conn *c, const struct seg *s)
{
	const void *plain;
	uint64_t len;

	if (st_srv_tls_flush(w, c))
		return; /* ciphertext of earlier bytes still going out */
	if (!s->file) {
		plain = c->out + s->off + c->seg_done;
		len = CB_MIN(s->len - c->seg_done, (uint64_t)TLS_CHUNK);
	} else {
		uint64_t ready;
		ssize_t got;

		if (c->zq_count) { /* reads in flight: encrypt the oldest when it is in */
			st_srv_zc_try_send(w, c, s);
			return;
		}
		ready = st_srv_sendable(w, c, s);
		if (ready == 0)
			return; /* parked */
		if (w->zc_ok) {
			/* io_uring reads into registered buffers, up to four ahead. */
			c->zc_read_off = c->seg_done;
			st_srv_zc_pump(w, c, s, c->seg_done + ready);
			if (c->zq_count)
				return;
		}
		/* No registered buffer free: read this chunk here. */
		len = CB_MIN(ready, (uint64_t)TLS_CHUNK);
		st_srv_bw_used(c, len);
		got = pread(c->obj->fd, w->tls_plain, (size_t)len, (off_t)(s->off + c->seg_done));
		if (got != (ssize_t)len) {
			cb_err("object %s: read for TLS: %s", c->id_hex,
			       got < 0 ? strerror(errno) : "short read");
			st_srv_conn_close(w, c);
			return;
		}
		plain = w->tls_plain;
		c->body_sent += len;
	}
	if (SSL_write(c->ssl, plain, (int)len) != (int)len) {
		st_srv_conn_close(w, c);
		return;
	}
	c->seg_done += len;
	st_srv_tls_flush(w, c);
}

/* Whether the kernel offers the "tls" upper-layer protocol (kTLS). */
static bool ktls_available(void)
{
	char line[256] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
	bool yes;

	if (!f)
		return false;
	yes = fgets(line, sizeof(line), f) && strstr(line, "tls");
	fclose(f);
	return yes;
}

/*
 * The server's TLS context: Mozilla's "intermediate" profile: TLS 1.2 and
 * 1.3 only, ECDHE with AEAD ciphers, groups X25519, P-256, P-384.
 */
static SSL_CTX *tls_ctx_new(const struct cfg *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx,
				     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
				     "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256") ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
					   "TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set1_groups_list(ctx, "X25519:prime256v1:secp384r1") ||
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->server.tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->server.tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		const char *why = ERR_reason_error_string(ERR_get_error());

		cb_err("TLS: cannot use tls_cert %s / tls_key %s: %s", cfg->server.tls_cert,
		       cfg->server.tls_key, why ? why : "error");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/*
	 * The server picks the TLS 1.2 suite from its own order (all AEAD, the
	 * strongest first), except that a client listing ChaCha20 first (no AES
	 * instructions) gets it: a client's order otherwise decides, which
	 * scanners rate as no cipher order at all.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_PRIORITIZE_CHACHA);
	return ctx;
}

int st_srv_tls_init(struct st_server *srv)
{
	const struct cfg *cfg = srv->conf.cfg;

	if (!cfg->server.tls_cert[0])
		return 0;
	cb_info("TLS: kernel TLS %s; records are sealed in user space",
		ktls_available() ? "is offered by this kernel but not used yet"
				 : "is not offered by this kernel");
	srv->tls = tls_ctx_new(cfg);
	return srv->tls ? 0 : -EINVAL;
}

int st_server_reload_tls(struct st_server *srv)
{
	SSL_CTX *fresh, *old;

	if (!srv->conf.cfg->server.tls_cert[0])
		return 0;
	fresh = tls_ctx_new(srv->conf.cfg);
	if (!fresh)
		return -EINVAL; /* logged; the old certificate stays in use */
	pthread_mutex_lock(&srv->tls_lock);
	old = srv->tls;
	srv->tls = fresh;
	pthread_mutex_unlock(&srv->tls_lock);
	SSL_CTX_free(old); /* connections made with it hold their own reference */
	cb_info("TLS: certificate %s reloaded; new connections use it",
		srv->conf.cfg->server.tls_cert);
	return 0;
}
