/*
 * Origin HTTP client (see st_origin.h). A response is read in two steps:
 * the head into a bounded buffer (parsed by st_http_parse_response), then
 * exactly Content-Length body bytes into the caller's piece buffer. Bytes
 * beyond the declared length that arrive with the head are an error ("extra
 * bytes"): an origin that sends more than it declared is not trusted.
 */
#include "st_origin.h"

#include "cb_common.h"
#include "cb_log.h"
#include "st_http.h"
#include "st_loop.h"
#include "st_range.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_CAP 16384

struct st_origin_conn {
	int fd;
	SSL *ssl; /* NULL for http:// upstreams */
	uint64_t timeout_ms;
	const struct cfg_origin *o;
	char head[HEAD_CAP];
	size_t head_len; /* bytes buffered past the last response */
};

static int wait_fd(int fd, short events, uint64_t timeout_ms)
{
	struct pollfd p = {fd, events, 0};
	int n;

	do {
		n = poll(&p, 1, (int)CB_MIN(timeout_ms, (uint64_t)INT32_MAX));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/*
 * TLS towards origins: one client context per origin (its ca_file, or the
 * system store), TLS 1.2 at least, ECDHE with AEAD ciphers for 1.2, the
 * chain and the host name (or IP address) of the upstream verified.
 */
#define TLS_CTX_MAX 64

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const struct cfg_origin *o;
	SSL_CTX *ctx;
} tls_ctx[TLS_CTX_MAX];

/* The settings of every origin context; 1, or 0 with OpenSSL's error queue set. */
static int ctx_setup(SSL_CTX *ctx)
{
	return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
	       SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
}

int st_origin_tls_warm(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx && ctx_setup(ctx) ? SSL_new(ctx) : NULL;
	int ret = ssl ? 0 : -ENOMEM;

	if (ret)
		snprintf(err, errlen, "TLS towards origins cannot be set up: %s",
			 ERR_reason_error_string(ERR_get_error()));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return ret;
}

static SSL_CTX *ctx_for(const struct cfg_origin *o, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	int i;

	pthread_mutex_lock(&tls_lock);
	for (i = 0; i < TLS_CTX_MAX && tls_ctx[i].o; i++) {
		if (tls_ctx[i].o == o) {
			ctx = tls_ctx[i].ctx;
			goto out;
		}
	}
	if (i == TLS_CTX_MAX) {
		snprintf(err, errlen, "origin %s: too many TLS origins", o->host);
		goto out;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !ctx_setup(ctx) ||
	    !(o->ca_file[0] ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)
			    : SSL_CTX_set_default_verify_paths(ctx))) {
		snprintf(err, errlen, "origin %s: TLS set-up failed (ca_file '%s'): %s", o->host,
			 o->ca_file, ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		ctx = NULL;
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	tls_ctx[i].o = o;
	tls_ctx[i].ctx = ctx;
out:
	pthread_mutex_unlock(&tls_lock);
	return ctx;
}

/* Waits for what an SSL call asked for; 0, or -ETIMEDOUT / -ECONNRESET. */
static int tls_wait(struct st_origin_conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(c->fd, POLLIN, c->timeout_ms);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(c->fd, POLLOUT, c->timeout_ms);
	default:
		return -ECONNRESET;
	}
}

static int tls_handshake(struct st_origin_conn *c, char *err, size_t errlen)
{
	const struct cfg_origin *o = c->o;
	SSL_CTX *ctx = ctx_for(o, err, errlen);
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, o->upstream_host, ip) == 1 ||
		     inet_pton(AF_INET6, o->upstream_host, ip) == 1;
	int ret;

	if (!ctx)
		return -EPROTO;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return -EPROTO;
	if (is_ip) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o->upstream_host);
	} else {
		SSL_set_tlsext_host_name(c->ssl, o->upstream_host);
		SSL_set1_host(c->ssl, o->upstream_host);
	}
	ERR_clear_error();
	while ((ret = SSL_connect(c->ssl)) != 1) {
		long vr = SSL_get_verify_result(c->ssl);
		int w = tls_wait(c, ret);

		if (w == -ETIMEDOUT) {
			snprintf(err, errlen, "origin %s: TLS handshake stalled", o->host);
			return -ETIMEDOUT;
		}
		if (w < 0) {
			unsigned long e = ERR_get_error();
			const char *why = vr != X509_V_OK ? X509_verify_cert_error_string(vr)
					  : e		  ? ERR_reason_error_string(e)
							  : NULL;

			snprintf(err, errlen, "origin %s: TLS handshake with %s failed: %s",
				 o->host, o->upstream_host, why ? why : "connection closed");
			return -EPROTO;
		}
	}
	return 0;
}

static int send_all(struct st_origin_conn *c, const char *p, size_t len)
{
	while (c->ssl && len) {
		int n = SSL_write(c->ssl, p, (int)CB_MIN(len, (size_t)INT32_MAX));

		if (n <= 0) {
			int w = tls_wait(c, n);

			if (w)
				return w;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int ret = wait_fd(c->fd, POLLOUT, c->timeout_ms);

			if (ret)
				return ret;
			continue;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One read with the timeout; bytes read, 0 at EOF, or -errno. */
static ssize_t recv_some(struct st_origin_conn *c, void *buf, size_t cap)
{
	while (c->ssl) {
		int n = SSL_read(c->ssl, buf, (int)CB_MIN(cap, (size_t)INT32_MAX));

		if (n > 0)
			return n;
		if (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN)
			return 0;
		n = tls_wait(c, n);
		if (n)
			return n == -ECONNRESET ? 0 : n;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, cap, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = wait_fd(c->fd, POLLIN, c->timeout_ms);
		if (n)
			return n;
	}
}

static long fail(char *err, size_t errlen, long ret, const char *host, const char *why)
{
	snprintf(err, errlen, "origin %s: %s", host, why);
	return ret;
}

/* Reads a response head into c->head; its length, or -errno with err set. */
static int read_head(struct st_origin_conn *c, struct st_http_resp *resp, char *err, size_t errlen)
{
	const char *h = c->o->host;

	for (;;) {
		int head = st_http_parse_response(c->head, c->head_len, resp);
		ssize_t r;

		if (head >= 0)
			return head;
		if (head == -1)
			return (int)fail(err, errlen, -EPROTO, h, "malformed response head");
		if (c->head_len == sizeof(c->head))
			return (int)fail(err, errlen, -EPROTO, h, "response head too large");
		r = recv_some(c, c->head + c->head_len, sizeof(c->head) - c->head_len);
		if (r == -ETIMEDOUT)
			return (int)fail(err, errlen, -ETIMEDOUT, h, "stalled before the head");
		if (r <= 0)
			return (int)fail(err, errlen, -ECONNRESET, h,
					 "closed or reset before the head");
		c->head_len += (size_t)r;
	}
}

/* host:port of the upstream, an IPv6 address in brackets (RFC 9110 §4.2.3). */
static void authority(const struct cfg_origin *o, char *buf, size_t cap)
{
	bool v6 = strchr(o->upstream_host, ':') != NULL;

	snprintf(buf, cap, "%s%s%s:%u", v6 ? "[" : "", o->upstream_host, v6 ? "]" : "",
		 o->upstream_port);
}

/*
 * https through the upstream proxy: a CONNECT tunnel (RFC 9110 §9.3.6) to
 * the upstream, then TLS end to end through it; the proxy sees only the
 * host and port. Anything but a 2xx, or bytes from the proxy before our
 * ClientHello, is refused.
 */
static int proxy_tunnel(struct st_origin_conn *c, char *err, size_t errlen)
{
	const struct cfg_origin *o = c->o;
	struct st_http_resp resp;
	char auth[CFG_HOST_MAX + 16], req[2 * sizeof(auth) + 64];
	int n, head, ret;

	authority(o, auth, sizeof(auth));
	n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", auth, auth);
	ret = send_all(c, req, (size_t)n);
	if (ret < 0) {
		snprintf(err, errlen, "origin %s: proxy %s:%u: sending CONNECT failed", o->host,
			 o->proxy.host, o->proxy.port);
		return ret;
	}
	head = read_head(c, &resp, err, errlen);
	if (head < 0)
		return head;
	if (resp.status / 100 != 2) {
		snprintf(err, errlen, "origin %s: proxy %s:%u answered %d to CONNECT %s", o->host,
			 o->proxy.host, o->proxy.port, resp.status, auth);
		return -EPROTO;
	}
	if (c->head_len != (size_t)head) {
		snprintf(err, errlen, "origin %s: proxy %s:%u sent bytes before the TLS handshake",
			 o->host, o->proxy.host, o->proxy.port);
		return -EPROTO;
	}
	c->head_len = 0;
	return 0;
}

struct st_origin_conn *st_origin_connect(const struct cfg_origin *o, uint64_t timeout_ms, char *err,
					 size_t errlen)
{
	const struct cfg_addr *via = o->proxy.port ? &o->proxy : NULL;
	const char *host = via ? via->host : o->upstream_host;
	unsigned port = via ? via->port : o->upstream_port;
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct st_origin_conn *c;
	char portstr[8];
	int fd = -1, ret, one = 1;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host, portstr, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "origin %s: cannot resolve %s: %s", o->host, host,
			 gai_strerror(ret));
		errno = EHOSTUNREACH;
		return NULL;
	}
	ret = -EHOSTUNREACH; /* if no socket can be made */
	for (ai = res; ai; ai = ai->ai_next) {
		socklen_t sl = sizeof(ret);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		ret = -errno;
		if (errno == EINPROGRESS) {
			ret = wait_fd(fd, POLLOUT, timeout_ms);
			if (ret == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &ret, &sl) == 0 &&
			    !ret)
				break;
			ret = ret > 0 ? -ret : ret;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "origin %s: connect %s:%u: %s", o->host, host, port,
			 strerror(-ret));
		errno = -ret;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		snprintf(err, errlen, "origin %s: out of memory", o->host);
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->o = o;
	ret = 0;
	if (o->upstream_tls && via)
		ret = proxy_tunnel(c, err, errlen);
	if (o->upstream_tls && ret == 0)
		ret = tls_handshake(c, err, errlen);
	if (ret) {
		st_origin_close(c);
		errno = -ret;
		return NULL;
	}
	return c;
}

void st_origin_close(struct st_origin_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

void st_origin_abort(struct st_origin_conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
}

long st_origin_get_range(struct st_origin_conn *c, const char *target, const char *loop,
			 uint64_t first, uint64_t last, uint8_t *buf, struct st_origin_reply *reply,
			 int *reusable, char *err, size_t errlen)
{
	const char *h = c->o->host, *host = h;
	struct st_http_resp resp;
	char req[ST_HTTP_MAX_URI + ST_LOOP_MAX + 512], proxy_prefix[CFG_HOST_MAX + 16] = "";
	uint64_t want = last - first + 1, got = 0, cf, cl, total;
	int n, head;
	ssize_t r;

	*reusable = 0;
	memset(reply, 0, sizeof(*reply));
	if (c->o->proxy.port && !c->ssl) { /* absolute-form (RFC 9112 §3.2.2) */
		strcpy(proxy_prefix, "http://");
		authority(c->o, proxy_prefix + 7, sizeof(proxy_prefix) - 7);
		host = proxy_prefix + 7; /* RFC 9112 §3.2.2: Host is the target's authority */
	}
	n = snprintf(req, sizeof(req),
		     "GET %s%s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%llu-%llu\r\n"
		     "CDN-Loop: %s\r\n\r\n",
		     proxy_prefix, target, host, (unsigned long long)first,
		     (unsigned long long)last, loop);
	if (n < 0 || (size_t)n >= sizeof(req))
		return fail(err, errlen, -E2BIG, h, "request target too long");
	if (send_all(c, req, (size_t)n) < 0)
		return fail(err, errlen, -ECONNRESET, h, "sending the request failed");

	head = read_head(c, &resp, err, errlen);
	if (head < 0)
		return head;
	if (resp.status != 206) {
		char what[64];

		snprintf(what, sizeof(what), "answered %d to a range request", resp.status);
		/*
		 * Not found or refused at the origin is an answer, not a fault: no
		 * retry, and the client gets 404 or 403, not a 502 for a gateway
		 * that worked (RFC 9110 §15.5.4, §15.5.5, RFC 7725).
		 */
		return fail(err, errlen,
			    resp.status == 404 || resp.status == 410 ? -ENOENT
			    : resp.status == 401 || resp.status == 403 || resp.status == 451
				    ? -EACCES
				    : -EPROTO,
			    h, what);
	}
	if (resp.chunked || !resp.has_content_length || !resp.content_range.len ||
	    st_range_parse_content_range(resp.content_range.p, resp.content_range.len, &cf, &cl,
					 &total))
		return fail(err, errlen, -EPROTO, h,
			    "206 without a usable Content-Range and Content-Length");
	if (cf != first || (cl != last && !(cl == total - 1 && last > cl)))
		return fail(err, errlen, -EPROTO, h, "Content-Range is not the range asked");
	want = cl - cf + 1;
	if (resp.content_length != want)
		return fail(err, errlen, -EPROTO, h, "Content-Length does not match the range");
	reply->first = cf;
	reply->last = cl;
	reply->complete = total;
	if (resp.etag.len && resp.etag.len < sizeof(reply->etag)) {
		memcpy(reply->etag, resp.etag.p, resp.etag.len);
		reply->etag[resp.etag.len] = '\0';
	}
	if (resp.last_modified.len)
		st_http_date_parse(resp.last_modified.p, resp.last_modified.len,
				   &reply->last_modified);

	/* The body: what came with the head, then the rest, never more. */
	got = CB_MIN((uint64_t)(c->head_len - (size_t)head), want);
	memcpy(buf, c->head + head, got);
	if (c->head_len - (size_t)head > want)
		return fail(err, errlen, -EPROTO, h, "extra bytes after the body");
	c->head_len = 0;
	while (got < want) {
		r = recv_some(c, buf + got, want - got);
		if (r == -ETIMEDOUT)
			return fail(err, errlen, -ETIMEDOUT, h, "stalled in the body");
		if (r <= 0)
			return fail(err, errlen, -ECONNRESET, h, "closed or reset in the body");
		got += (uint64_t)r;
	}
	/* More bytes already waiting, with no request of ours out: the origin lied. */
	if (c->ssl ? SSL_peek(c->ssl, c->head, 1) > 0
		   : recv(c->fd, c->head, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		return fail(err, errlen, -EPROTO, h, "extra bytes after the body");
	*reusable = resp.keep_alive;
	return (long)want;
}
