/*
 * cachebox-bench: an HTTP/1.1 range load generator used to compare cachebox with other file
 * servers (bench/compare.sh runs it against cachebox and nginx). Each thread drives its share of
 * the keep-alive connections from one epoll loop; every connection asks, one request at a time,
 * for `Range: bytes=a-b` of a fixed size at a random aligned offset of one of the given objects,
 * checks that the answer is a 206 whose Content-Length and Content-Range match the request
 * exactly, reads and discards exactly the body (in the kernel with MSG_TRUNC unless --copy) and
 * records the latency in a small log-bucketed histogram. Object sizes come from a one-byte range
 * probe at start. Nothing is allocated once the run has started; the run stops after a fixed
 * duration and prints a table or one CSV line. With --tls (or https:// URLs) every connection,
 * the probe's too, speaks TLS through OpenSSL over the same non-blocking sockets: a full
 * handshake per connection, then SSL_write/SSL_read, whose WANT_READ/WANT_WRITE pick the epoll
 * mask; bodies are then decrypted into the user buffer (MSG_TRUNC cannot apply).
 */
#include "cb_common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BENCH_MAX_URLS	  4096u
#define BENCH_MAX_PATH	  2048u
#define BENCH_MAX_CONNS	  65536u
#define BENCH_MAX_THREADS 64u
#define BENCH_MAX_EXTRA	  4096u /* bytes of extra request headers */
#define BENCH_REQ_MAX	  (BENCH_MAX_PATH + BENCH_MAX_EXTRA + 512)
#define BENCH_HEAD_MAX	  8192u	       /* cap on a response head */
#define BENCH_DISCARD	  (1u << 20)   /* per-thread body sink */
#define BENCH_EVENTS	  64	       /* epoll batch */
#define BENCH_READ_BURST  32	       /* reads per connection per event */
#define BENCH_SCAN_NS	  100000000ull /* timeout / reconnect scan period */
#define BENCH_BACKOFF_NS  10000000ull  /* wait after a failed connect */
#define BENCH_MAX_REPORTS 5	       /* error lines printed per thread */
#define BENCH_EXIT_USAGE  2
#define BENCH_EXIT_ERRORS 3

/* ---- latency histogram --------------------------------------------------------------------- */

/*
 * HDR-style log-linear histogram of nanoseconds. Values below 2^(SUB_BITS+1) get one bucket each;
 * above that every power of two [2^e, 2^(e+1)) is split into 2^SUB_BITS equal buckets, indexed by
 * the SUB_BITS bits after the leading one. The relative error is thus below 2^-SUB_BITS (~3 %)
 * over the whole 64-bit range in 1920 counters, recording is a clz and a shift, and per-thread
 * histograms merge by adding counters. Percentiles report the highest value of the bucket that
 * holds the requested rank (as HdrHistogram does), clamped to the largest value seen.
 */
#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_SUB	    (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_LINEAR   (2u * BENCH_HIST_SUB)
#define BENCH_HIST_BUCKETS  (BENCH_HIST_LINEAR + (64u - BENCH_HIST_SUB_BITS - 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count[BENCH_HIST_BUCKETS];
	uint64_t total;
	uint64_t sum;
	uint64_t max;
};

static unsigned bench_hist_index(uint64_t v)
{
	unsigned e;

	if (v < BENCH_HIST_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return BENCH_HIST_LINEAR + (e - BENCH_HIST_SUB_BITS - 1) * BENCH_HIST_SUB +
	       (unsigned)((v >> (e - BENCH_HIST_SUB_BITS)) - BENCH_HIST_SUB);
}

static uint64_t bench_hist_highest(unsigned idx)
{
	unsigned k, e;
	uint64_t m;

	if (idx < BENCH_HIST_LINEAR)
		return idx;
	k = idx - BENCH_HIST_LINEAR;
	e = k / BENCH_HIST_SUB + BENCH_HIST_SUB_BITS + 1;
	m = k % BENCH_HIST_SUB + BENCH_HIST_SUB;
	return (m << (e - BENCH_HIST_SUB_BITS)) + ((1ull << (e - BENCH_HIST_SUB_BITS)) - 1);
}

static void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->count[bench_hist_index(v)]++;
	h->total++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->count[i] += src->count[i];
	dst->total += src->total;
	dst->sum += src->sum;
	dst->max = CB_MAX(dst->max, src->max);
}

/* p in (0, 100]; 0 when the histogram is empty. */
static uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->total)
		return 0;
	rank = (uint64_t)(p / 100.0 * (double)h->total + 0.999999);
	rank = CB_MAX(rank, 1);
	rank = CB_MIN(rank, h->total);
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return CB_MIN(bench_hist_highest(i), h->max);
	}
	return h->max;
}

/* ---- options ------------------------------------------------------------------------------- */

struct bench_url {
	char *path;
	uint64_t size;	  /* object size from the probe */
	uint64_t nranges; /* whole ranges in the object */
};

struct bench_opts {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[300];
	bool addr_given;
	char host[300]; /* Host header value */
	char extra[BENCH_MAX_EXTRA];
	size_t extra_len;
	struct bench_url *urls;
	unsigned nurls;
	uint64_t range;
	unsigned conns;
	unsigned threads;
	double secs;
	uint64_t timeout_ns;
	uint64_t seed;
	bool copy;
	bool csv;
	bool tls;
	SSL_CTX *tls_ctx;  /* set when tls */
	uint64_t rate_bps; /* --rate: pace requests to this many body bits/s, 0 = flat out */
};

enum bench_err {
	BENCH_E_CONNECT,
	BENCH_E_IO,
	BENCH_E_TIMEOUT,
	BENCH_E_STATUS,
	BENCH_E_HEADER,
	BENCH_E_LENGTH,
	BENCH_E_RANGE,
	BENCH_E_COUNT,
};

static const char *const bench_err_names[BENCH_E_COUNT] = {
	"connect", "io", "timeout", "status", "header", "length", "range",
};

/* ---- response head parser ------------------------------------------------------------------ */

struct bench_head {
	unsigned status;
	bool has_length;
	uint64_t length;
	bool has_range;
	uint64_t first;
	uint64_t last;
	uint64_t total; /* UINT64_MAX for '*' */
	bool close;
	bool transfer_coding;
};

/* Parses 1*DIGIT with overflow check; advances *p. 0 or -1. */
static int bench_parse_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

static bool bench_name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* True when the comma-separated list holds the token (case-insensitive), RFC 9110 §5.6.1. */
static bool bench_list_has(const char *v, const char *end, const char *token)
{
	size_t tl = strlen(token);

	while (v < end) {
		const char *s, *e;

		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		s = v;
		while (v < end && *v != ',')
			v++;
		e = v;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
			return true;
	}
	return false;
}

/*
 * Parses a response head (status line and header fields, RFC 9112 §4 and §5) of len bytes that
 * ends with the empty line. Only the fields the benchmark checks are kept. Returns 0, or the
 * error class (BENCH_E_HEADER for malformed input, BENCH_E_LENGTH for a bad Content-Length,
 * BENCH_E_RANGE for a bad Content-Range).
 */
static int bench_head_parse(const char *buf, size_t len, struct bench_head *h)
{
	const char *p = buf, *end = buf + len, *eol;
	uint64_t v;

	memset(h, 0, sizeof(*h));
	/* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4) */
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return BENCH_E_HEADER;
	h->close = p[7] == '0'; /* HTTP/1.0 without keep-alive negotiation */
	p += 9;
	if (bench_parse_u64(&p, end, &v) || p - buf != 12 || v < 100 || v > 599 ||
	    (*p != ' ' && *p != '\r'))
		return BENCH_E_HEADER;
	h->status = (unsigned)v;
	eol = memchr(p, '\n', (size_t)(end - p));
	if (!eol || eol[-1] != '\r')
		return BENCH_E_HEADER;
	p = eol + 1;

	for (;;) {
		const char *name, *colon, *val, *vend;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol || eol == p || eol[-1] != '\r')
			return BENCH_E_HEADER; /* bare LF (RFC 9112 §2.2) or missing end */
		if (eol - p == 1)
			break; /* the empty line */
		name = p;
		colon = memchr(p, ':', (size_t)(eol - p));
		/* no whitespace between field name and colon (RFC 9112 §5.1), no obs-fold */
		if (!colon || colon == name || colon[-1] == ' ' || colon[-1] == '\t' ||
		    *name == ' ' || *name == '\t')
			return BENCH_E_HEADER;
		val = colon + 1;
		vend = eol - 1;
		while (val < vend && (*val == ' ' || *val == '\t'))
			val++;
		while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;

		if (bench_name_is(name, (size_t)(colon - name), "content-length")) {
			const char *q = val;

			/* RFC 9110 §8.6: 1*DIGIT; a repeated field must carry the same value */
			if (bench_parse_u64(&q, vend, &v) || q != vend ||
			    (h->has_length && h->length != v))
				return BENCH_E_LENGTH;
			h->has_length = true;
			h->length = v;
		} else if (bench_name_is(name, (size_t)(colon - name), "content-range")) {
			const char *q = val;

			/* RFC 9110 §14.4: "bytes" SP first-pos "-" last-pos "/" ( length / "*" ) */
			if (h->has_range || vend - q < 6 || strncasecmp(q, "bytes ", 6) != 0)
				return BENCH_E_RANGE;
			q += 6;
			if (bench_parse_u64(&q, vend, &h->first) || q >= vend || *q++ != '-' ||
			    bench_parse_u64(&q, vend, &h->last) || q >= vend || *q++ != '/')
				return BENCH_E_RANGE;
			if (q < vend && *q == '*' && q + 1 == vend)
				h->total = UINT64_MAX;
			else if (bench_parse_u64(&q, vend, &h->total) || q != vend)
				return BENCH_E_RANGE;
			if (h->last < h->first)
				return BENCH_E_RANGE;
			h->has_range = true;
		} else if (bench_name_is(name, (size_t)(colon - name), "connection")) {
			if (bench_list_has(val, vend, "close"))
				h->close = true;
			else if (bench_list_has(val, vend, "keep-alive"))
				h->close = false;
		} else if (bench_name_is(name, (size_t)(colon - name), "transfer-encoding")) {
			h->transfer_coding = true;
		}
		p = eol + 1;
	}
	return 0;
}

/* ---- connections and threads --------------------------------------------------------------- */

enum bench_state {
	BENCH_IDLE, /* closed; reopened at retry_ns */
	BENCH_CONNECTING,
	BENCH_HANDSHAKE, /* TLS only */
	BENCH_SENDING,
	BENCH_HEAD,
	BENCH_BODY,
};

struct bench_conn {
	int fd;
	SSL *ssl;     /* NULL without TLS */
	uint32_t gen; /* bumped on every open: events for an older socket are ignored */
	enum bench_state state;
	uint32_t events;  /* epoll mask now registered */
	bool fresh;	  /* no response completed on this socket yet */
	bool close_after; /* the response carried Connection: close */
	unsigned url;
	uint64_t first;
	uint64_t last;
	uint64_t start_ns; /* request (or connect) start */
	uint64_t next_ns;  /* --rate: when this connection may send its next request */
	bool paced;	   /* --rate: waiting for next_ns */
	uint64_t retry_ns;
	uint64_t body_left;
	size_t req_len;
	size_t req_off;
	size_t head_len;
	char req[BENCH_REQ_MAX];
	char head[BENCH_HEAD_MAX];
};

struct bench_stats {
	uint64_t requests;
	uint64_t body_bytes;
	uint64_t reconnects;
	uint64_t errors[BENCH_E_COUNT];
	struct bench_hist lat;
};

struct bench_thread {
	const struct bench_opts *o;
	struct bench_conn *conns;
	unsigned nconns;
	unsigned id;
	int epfd;
	unsigned reports;
	bool reopen; /* some connection failed and waits in BENCH_IDLE */
	uint64_t rng;
	uint64_t deadline_ns;
	uint64_t end_ns;
	bool failed;
	char *discard;
	pthread_t tid;
	struct bench_stats st;
} __attribute__((aligned(CB_CACHELINE)));

static volatile sig_atomic_t bench_stop; /* the signal that ended the run early, or -1 */

static void bench_on_signal(int sig)
{
	bench_stop = sig;
}

/* splitmix64: tiny, fast and good enough to pick offsets. */
static uint64_t bench_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for n far below 2^64 (multiply-shift, no division). */
static uint64_t bench_rand_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)bench_rand(s) * n) >> 64);
}

static uint64_t bench_conn_key(const struct bench_thread *t, const struct bench_conn *c)
{
	return ((uint64_t)(c - t->conns) << 32) | c->gen;
}

static void bench_conn_want(struct bench_thread *t, struct bench_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u64 = bench_conn_key(t, c)};

	if (c->events == events)
		return;
	if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		CB_ASSERT(!"epoll_ctl MOD failed on a registered socket");
	c->events = events;
}

static void bench_conn_close(struct bench_conn *c)
{
	SSL_free(c->ssl); /* no close_notify: the socket goes anyway */
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd); /* also removes it from the epoll set */
	c->fd = -1;
	c->state = BENCH_IDLE;
}

__attribute__((format(printf, 4, 5))) static void bench_conn_fail(struct bench_thread *t,
								  struct bench_conn *c,
								  enum bench_err err,
								  const char *fmt, ...)
{
	uint64_t now = cb_now_ns();

	t->st.errors[err]++;
	if (t->reports < BENCH_MAX_REPORTS && !bench_stop && now < t->deadline_ns) {
		va_list ap;

		t->reports++;
		fprintf(stderr, "cachebox-bench: thread %u conn %u: %s error: ", t->id,
			(unsigned)(c - t->conns), bench_err_names[err]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		if (t->reports == BENCH_MAX_REPORTS)
			fprintf(stderr, "cachebox-bench: thread %u: further errors only counted\n",
				t->id);
	}
	/*
	 * Reopened from the event loop, not from here: a server that fails every request at once
	 * must not recurse open -> send -> fail -> open.
	 */
	bench_conn_close(c);
	c->retry_ns = err == BENCH_E_CONNECT ? now + BENCH_BACKOFF_NS : now;
	t->reopen = true;
}

/*
 * TLS result n of SSL_read/SSL_write/SSL_do_handshake as a socket call's: > 0 as is; 0 for a
 * clean close; -1 with errno EAGAIN after arming epoll for what OpenSSL waits on, or with
 * another errno (EPROTO for a TLS failure) otherwise.
 */
static ssize_t bench_tls_result(struct bench_thread *t, struct bench_conn *c, int n)
{
	int err = SSL_get_error(c->ssl, n);

	switch (err) {
	case SSL_ERROR_NONE:
		return n;
	case SSL_ERROR_WANT_READ:
		bench_conn_want(t, c, EPOLLIN);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		bench_conn_want(t, c, EPOLLOUT);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (!errno)
			return 0; /* EOF without close_notify */
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

/* send() or SSL_write(); on EAGAIN the epoll mask is already set. */
static ssize_t bench_io_send(struct bench_thread *t, struct bench_conn *c, const void *buf,
			     size_t len)
{
	ssize_t n;

	if (c->ssl) {
		errno = 0;
		return bench_tls_result(t, c,
					SSL_write(c->ssl, buf, (int)CB_MIN(len, (size_t)INT_MAX)));
	}
	n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		bench_conn_want(t, c, EPOLLOUT);
	return n;
}

/* recv() or SSL_read() (flags ignored with TLS); on EAGAIN the epoll mask is already set. */
static ssize_t bench_io_recv(struct bench_thread *t, struct bench_conn *c, void *buf, size_t len,
			     int flags)
{
	if (c->ssl) {
		errno = 0;
		return bench_tls_result(t, c,
					SSL_read(c->ssl, buf, (int)CB_MIN(len, (size_t)INT_MAX)));
	}
	return recv(c->fd, buf, len, flags);
}

static void bench_conn_send(struct bench_thread *t, struct bench_conn *c)
{
	while (c->req_off < c->req_len) {
		ssize_t n = bench_io_send(t, c, c->req + c->req_off, c->req_len - c->req_off);

		if (n > 0) {
			c->req_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		bench_conn_fail(t, c, BENCH_E_IO, "send: %s", n < 0 ? strerror(errno) : "0 bytes");
		return;
	}
	c->state = BENCH_HEAD;
	bench_conn_want(t, c, EPOLLIN);
}

/* Picks the next object and aligned range, writes the request and starts sending it. */
static void bench_conn_request(struct bench_thread *t, struct bench_conn *c)
{
	const struct bench_opts *o = t->o;
	const struct bench_url *u;
	int n;

	c->url = o->nurls > 1 ? (unsigned)bench_rand_below(&t->rng, o->nurls) : 0;
	u = &o->urls[c->url];
	c->first = bench_rand_below(&t->rng, u->nranges) * o->range;
	c->last = c->first + o->range - 1;
	n = snprintf(c->req, sizeof(c->req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%" PRIu64 "-%" PRIu64
		     "\r\n%.*s\r\n",
		     u->path, o->host, c->first, c->last, (int)o->extra_len, o->extra);
	CB_ASSERT(n > 0 && (size_t)n < sizeof(c->req)); /* sizes are capped when parsing options */
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->head_len = 0;
	c->state = BENCH_SENDING;
	c->start_ns = cb_now_ns();
	bench_conn_send(t, c);
}

/* Drives the TLS handshake; sends the first request once it is done. */
static void bench_conn_handshake(struct bench_thread *t, struct bench_conn *c)
{
	ssize_t n;

	errno = 0;
	n = bench_tls_result(t, c, SSL_do_handshake(c->ssl));
	if (n > 0) {
		bench_conn_request(t, c);
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	bench_conn_fail(t, c, BENCH_E_CONNECT, "TLS handshake with %s: %s", t->o->addr_text,
			n < 0 ? strerror(errno) : "connection closed");
}

/* The TCP connection is up: start TLS, or send the first request. */
static void bench_conn_ready(struct bench_thread *t, struct bench_conn *c)
{
	if (!t->o->tls) {
		bench_conn_request(t, c);
		return;
	}
	c->ssl = SSL_new(t->o->tls_ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		ERR_clear_error();
		bench_conn_fail(t, c, BENCH_E_CONNECT, "SSL_new/SSL_set_fd failed");
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->state = BENCH_HANDSHAKE;
	bench_conn_handshake(t, c);
}

static void bench_conn_open(struct bench_thread *t, struct bench_conn *c, uint64_t now)
{
	const struct bench_opts *o = t->o;
	struct epoll_event ev;
	int one = 1, fd;

	c->gen++;
	c->fresh = true;
	c->start_ns = now;
	fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		bench_conn_fail(t, c, BENCH_E_CONNECT, "socket: %s", strerror(errno));
		return;
	}
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.events = EPOLLOUT;
	ev.data.u64 = bench_conn_key(t, c);
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		bench_conn_fail(t, c, BENCH_E_CONNECT, "epoll_ctl: %s", strerror(errno));
		return;
	}
	c->events = EPOLLOUT;
	if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) == 0) {
		bench_conn_ready(t, c);
		return;
	}
	if (errno != EINPROGRESS) {
		bench_conn_fail(t, c, BENCH_E_CONNECT, "connect %s: %s", o->addr_text,
				strerror(errno));
		return;
	}
	c->state = BENCH_CONNECTING;
}

static void bench_conn_connected(struct bench_thread *t, struct bench_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		bench_conn_fail(t, c, BENCH_E_CONNECT, "connect %s: %s", t->o->addr_text,
				strerror(err));
		return;
	}
	bench_conn_ready(t, c);
}

static void bench_conn_done(struct bench_thread *t, struct bench_conn *c, bool close_after)
{
	uint64_t now = cb_now_ns();

	bench_hist_record(&t->st.lat, now - c->start_ns);
	t->st.requests++;
	c->fresh = false;
	if (!close_after && t->o->rate_bps) {
		/* Each connection its share of the rate: one range per interval. */
		uint64_t interval = (uint64_t)((double)t->o->range * 8 * t->o->conns * 1e9 /
					       (double)t->o->rate_bps);

		c->next_ns = CB_MAX(now, c->next_ns + interval);
		if (c->next_ns > now) {
			c->paced = true;
			return;
		}
	}
	if (!close_after) {
		bench_conn_request(t, c);
		return;
	}
	t->st.reconnects++;
	bench_conn_close(c);
	bench_conn_open(t, c, now);
}

/*
 * Copies up to 160 bytes of a response head into out (>= 4 * 160 + 1 bytes) with CR, LF and
 * other non-printing bytes escaped, for error messages.
 */
static const char *bench_escape(const char *in, size_t len, char *out)
{
	char *o = out;

	for (size_t i = 0; i < CB_MIN(len, (size_t)160); i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch == '\r') {
			*o++ = '\\';
			*o++ = 'r';
		} else if (ch == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (ch < 0x20 || ch > 0x7e || ch == '\\') {
			o += sprintf(o, "\\x%02x", ch);
		} else {
			*o++ = (char)ch;
		}
	}
	*o = '\0';
	return out;
}

/* Checks a complete response head against the request. Returns 0 or an error class. */
static int bench_conn_check(struct bench_thread *t, struct bench_conn *c,
			    const struct bench_head *h)
{
	const struct bench_url *u = &t->o->urls[c->url];
	uint64_t want = c->last - c->first + 1;

	if (h->status != 206) {
		bench_conn_fail(t, c, BENCH_E_STATUS, "%s bytes=%" PRIu64 "-%" PRIu64 ": status %u",
				u->path, c->first, c->last, h->status);
		return BENCH_E_STATUS;
	}
	if (h->transfer_coding || !h->has_length || h->length != want) {
		bench_conn_fail(t, c, BENCH_E_LENGTH,
				"%s bytes=%" PRIu64 "-%" PRIu64 ": Content-Length %s%" PRIu64
				"%s, want %" PRIu64,
				u->path, c->first, c->last, h->has_length ? "" : "missing ",
				h->length, h->transfer_coding ? " with Transfer-Encoding" : "",
				want);
		return BENCH_E_LENGTH;
	}
	if (!h->has_range || h->first != c->first || h->last != c->last || h->total != u->size) {
		bench_conn_fail(t, c, BENCH_E_RANGE,
				"%s bytes=%" PRIu64 "-%" PRIu64 ": Content-Range %s%" PRIu64
				"-%" PRIu64 "/%" PRIu64 ", want size %" PRIu64,
				u->path, c->first, c->last, h->has_range ? "" : "missing ",
				h->first, h->last, h->total, u->size);
		return BENCH_E_RANGE;
	}
	return 0;
}

/* One read while waiting for the head. Returns 1 to keep reading, 0 to stop. */
static int bench_conn_read_head(struct bench_thread *t, struct bench_conn *c)
{
	size_t from = c->head_len >= 3 ? c->head_len - 3 : 0, head_end, extra;
	struct bench_head h;
	const char *crlf2;
	ssize_t n;
	int err;

	n = bench_io_recv(t, c, c->head + c->head_len, sizeof(c->head) - c->head_len, 0);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		bench_conn_fail(t, c, BENCH_E_IO, "%s before the response head%s",
				n < 0 ? strerror(errno) : "connection closed",
				c->fresh ? "" : " (reused connection)");
		return 0;
	}
	c->head_len += (size_t)n;
	crlf2 = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
	if (!crlf2) {
		if (c->head_len == sizeof(c->head)) {
			bench_conn_fail(t, c, BENCH_E_HEADER, "response head over %u bytes",
					BENCH_HEAD_MAX);
			return 0;
		}
		return 1;
	}
	head_end = (size_t)(crlf2 - c->head) + 4;
	err = bench_head_parse(c->head, head_end, &h);
	if (err) {
		char esc[4 * 160 + 1];

		bench_conn_fail(t, c, (enum bench_err)err, "malformed response head: '%s'",
				bench_escape(c->head, head_end, esc));
		return 0;
	}
	if (bench_conn_check(t, c, &h))
		return 0;
	extra = c->head_len - head_end;
	if (extra > h.length) {
		bench_conn_fail(t, c, BENCH_E_LENGTH, "%zu bytes after a %" PRIu64 "-byte body",
				extra - (size_t)h.length, h.length);
		return 0;
	}
	t->st.body_bytes += extra;
	c->body_left = h.length - extra;
	if (!c->body_left) {
		bench_conn_done(t, c, h.close);
		return 0;
	}
	c->close_after = h.close;
	c->state = BENCH_BODY;
	return 1;
}

/* One read of the body. Returns 1 to keep reading, 0 to stop. */
static int bench_conn_read_body(struct bench_thread *t, struct bench_conn *c)
{
	size_t want = (size_t)CB_MIN(c->body_left, (uint64_t)BENCH_DISCARD);
	ssize_t n;

	/* For TCP, MSG_TRUNC drops the bytes in the kernel without copying them (tcp(7)). */
	n = bench_io_recv(t, c, t->discard, want, t->o->copy ? 0 : MSG_TRUNC);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0 || (size_t)n > want) {
		bench_conn_fail(t, c, BENCH_E_IO, "%s with %" PRIu64 " body bytes missing",
				n < 0 ? strerror(errno) : "connection closed", c->body_left);
		return 0;
	}
	t->st.body_bytes += (uint64_t)n;
	c->body_left -= (uint64_t)n;
	if (!c->body_left) {
		bench_conn_done(t, c, c->close_after);
		return 0;
	}
	return 1;
}

static void bench_conn_event(struct bench_thread *t, uint64_t key)
{
	struct bench_conn *c = &t->conns[key >> 32];

	if ((uint32_t)key != c->gen || c->fd < 0)
		return; /* stale event for a socket already closed */
	switch (c->state) {
	case BENCH_CONNECTING:
		bench_conn_connected(t, c);
		break;
	case BENCH_HANDSHAKE:
		bench_conn_handshake(t, c);
		break;
	case BENCH_SENDING:
		bench_conn_send(t, c);
		break;
	case BENCH_HEAD:
	case BENCH_BODY:
		/*
		 * With TLS, read until OpenSSL wants the socket: it may hold decrypted bytes the
		 * socket no longer signals.
		 */
		for (int i = 0; i < BENCH_READ_BURST || c->ssl; i++) {
			int more = c->state == BENCH_HEAD ? bench_conn_read_head(t, c)
							  : bench_conn_read_body(t, c);

			if (!more)
				break;
		}
		break;
	case BENCH_IDLE:
	default:
		break;
	}
}

/* Times out stuck requests and reopens connections whose backoff is over. */
static void bench_thread_scan(struct bench_thread *t, uint64_t now)
{
	t->reopen = false;
	for (unsigned i = 0; i < t->nconns; i++) {
		struct bench_conn *c = &t->conns[i];

		if (c->paced)
			continue;
		if (c->state == BENCH_IDLE) {
			if (now >= c->retry_ns)
				bench_conn_open(t, c, now);
			else
				t->reopen = true;
		} else if (now > c->start_ns && now - c->start_ns > t->o->timeout_ns) {
			bench_conn_fail(t, c, BENCH_E_TIMEOUT, "no complete response after %.1f s",
					(double)(now - c->start_ns) / 1e9);
		}
	}
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	struct epoll_event evs[BENCH_EVENTS];
	uint64_t now = cb_now_ns(), next_scan = now + BENCH_SCAN_NS;

	for (unsigned i = 0; i < t->nconns; i++)
		bench_conn_open(t, &t->conns[i], now);
	while (!bench_stop) {
		int n, wait_ms;

		now = cb_now_ns();
		if (now >= t->deadline_ns)
			break;
		if (now >= next_scan) {
			bench_thread_scan(t, now);
			next_scan = now + BENCH_SCAN_NS;
		}
		wait_ms =
			(int)CB_MIN((t->deadline_ns - now) / 1000000 + 1, BENCH_SCAN_NS / 1000000);
		if (t->reopen)
			wait_ms = (int)CB_MIN((uint64_t)wait_ms, BENCH_BACKOFF_NS / 1000000);
		for (unsigned i = 0; t->o->rate_bps && i < t->nconns; i++)
			if (t->conns[i].paced)
				wait_ms =
					(int)CB_MIN((uint64_t)wait_ms,
						    t->conns[i].next_ns > now
							    ? (t->conns[i].next_ns - now) / 1000000
							    : 0);
		n = epoll_wait(t->epfd, evs, BENCH_EVENTS, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "cachebox-bench: epoll_wait: %s\n", strerror(errno));
			t->failed = true;
			break;
		}
		for (int i = 0; i < n; i++)
			bench_conn_event(t, evs[i].data.u64);
		now = cb_now_ns();
		for (unsigned i = 0; t->o->rate_bps && i < t->nconns; i++) {
			struct bench_conn *c = &t->conns[i];

			if (c->paced && now >= c->next_ns) {
				c->paced = false;
				bench_conn_request(t, c);
			}
		}
		if (t->reopen) {
			now = cb_now_ns();
			bench_thread_scan(t, now);
		}
	}
	t->end_ns = cb_now_ns();
	for (unsigned i = 0; i < t->nconns; i++)
		bench_conn_close(&t->conns[i]);
	return NULL;
}

/* ---- start-up: options, probe, report ------------------------------------------------------ */

static void bench_usage(FILE *f)
{
	fprintf(f,
		"Usage: cachebox-bench [OPTIONS] -u URL [-u URL ...] | -f URL_FILE\n"
		"\n"
		"HTTP/1.1 range load generator. Opens -c keep-alive connections to one server "
		"and,\n"
		"on each, sends one request at a time: GET of a random object from the URL list "
		"with\n"
		"'Range: bytes=a-b' of exactly -r bytes at a random offset that is a multiple of "
		"-r.\n"
		"Each object's size comes from a 'Range: bytes=0-0' probe at start (it must "
		"answer\n"
		"206 with Content-Range .../SIZE and be at least -r bytes long). Every response "
		"must\n"
		"be a 206 with Content-Length = -r and Content-Range = the requested range and "
		"the\n"
		"object size; the body is read and discarded exactly. Anything else counts as an\n"
		"error and the connection is reopened. The run stops after -d seconds; requests "
		"still\n"
		"in flight then are not counted (their body bytes so far are).\n"
		"\n"
		"Target and URLs:\n"
		"  -u, --url URL         a path (/f1.bin) or http[s]://HOST[:PORT]/PATH; "
		"repeatable\n"
		"  -f, --url-file FILE   one path or URL per line; blank lines and '#' lines "
		"skipped\n"
		"  -a, --addr HOST:PORT  server address (default: from the first full URL, else\n"
		"                        127.0.0.1:8003); [v6addr]:port for IPv6\n"
		"      --host NAME       Host header (default: the URL's authority or -a as "
		"given)\n"
		"  -H, --header 'N: V'   extra request header, repeatable; 'Host: x' sets the "
		"Host\n"
		"      --tls             HTTPS (also implied by https:// URLs): TLS 1.2/1.3 with\n"
		"                        OpenSSL's default preferences, no certificate check, one\n"
		"                        full handshake per connection; bodies are decrypted into\n"
		"                        a user buffer, so the client works harder than without\n"
		"\n"
		"Load:\n"
		"  -c, --conns N         connections (default 16, max %u)\n"
		"  -t, --threads N       threads, each with its own epoll loop (default 1, max "
		"%u)\n"
		"  -d, --duration SECS   run time, fractions allowed (default 10)\n"
		"  -r, --range SIZE      bytes per request, suffix K M G = KiB MiB GiB (default "
		"64K)\n"
		"      --timeout SECS    a response not complete after this is an error (default "
		"10)\n"
		"      --seed N          random seed (default: from the clock)\n"
		"      --rate BITS       pace the requests so the bodies arrive at about this "
		"many\n"
		"                        bits/s in all (k M G decimal suffixes; default: as fast\n"
		"                        as the server goes), to compare servers at one load\n"
		"      --copy            read bodies into a user buffer like an ordinary client\n"
		"                        (default: discard them in the kernel with MSG_TRUNC, so "
		"the\n"
		"                        client spends less CPU per byte than the server)\n"
		"\n"
		"Output:\n"
		"      --csv             print one CSV line instead of the table\n"
		"      --csv-header      print the CSV column names and exit\n"
		"  -h, --help            this text\n"
		"\n"
		"Reported: completed requests and req/s; body bytes and Gb/s (10^9 bits/s); "
		"latency\n"
		"from the first byte of the request sent to the last byte of the body, "
		"p50/p90/p99/\n"
		"max/mean from a log-bucketed histogram (<= 3%% bucket error); errors by class:\n"
		"  connect  socket/connect failed (retried after 10 ms)\n"
		"  io       reset, or closed before the response was complete\n"
		"  timeout  no complete response within --timeout\n"
		"  status   status other than 206\n"
		"  header   malformed or over-long (%u bytes) response head\n"
		"  length   Content-Length missing or not the range size, Transfer-Encoding, or\n"
		"           bytes beyond the body\n"
		"  range    Content-Range missing or not 'bytes a-b/SIZE' for the request\n"
		"and reconnects (responses with Connection: close), and the client's own CPU use\n"
		"(near 100%% per thread means the client, not the server, is the bottleneck).\n"
		"\n"
		"SIGINT or SIGTERM ends the run early: the report of the time so far is printed,\n"
		"then the program dies of that signal, so that a calling shell stops too.\n"
		"\n"
		"Exit status: 0 ok; 1 set-up failed (address, probe); 2 usage; 3 the run\n"
		"completed but counted errors.\n",
		BENCH_MAX_CONNS, BENCH_MAX_THREADS, BENCH_HEAD_MAX);
}

static const char bench_csv_header[] =
	"range_bytes,conns,threads,secs,requests,body_bytes,req_per_s,gbit_per_s,p50_us,p90_us,"
	"p99_us,max_us,mean_us,errors,reconnects,client_cpu_s";

static int bench_parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t v, mul = 1;

	if (bench_parse_u64(&p, p + strlen(p), &v))
		return -1;
	switch (*p) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		break;
	case '\0':
	case 'b':
	case 'B':
		break;
	default:
		return -1;
	}
	if (mul > 1) {
		p++;
		if (*p == 'i' && p[1] == 'B')
			p += 2;
		else if (*p == 'B')
			p++;
	} else if (*p) {
		p++;
	}
	if (*p || !v || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	const char *p = s;
	uint64_t v;

	if (bench_parse_u64(&p, p + strlen(p), &v) || *p || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int bench_parse_secs(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

/* Bytes allowed in a request line or header value we send: visible ASCII and SP/HTAB. */
static bool bench_text_ok(const char *s, bool allow_space)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\t' || ch == ' ') {
			if (!allow_space)
				return false;
		} else if (ch < 0x21 || ch > 0x7e) {
			return false;
		}
	}
	return true;
}

static int bench_set_addr(struct bench_opts *o, const char *text)
{
	char host[256], port[16];
	const char *colon;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	size_t hl;
	int rc;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -1;
		hl = (size_t)(close - text - 1);
		colon = close + 1;
		text++;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - text);
	}
	if (!hl || hl >= sizeof(host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(port))
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "cachebox-bench: %s:%s: %s\n", host, port, gai_strerror(rc));
		return -1;
	}
	CB_ASSERT(res->ai_addrlen <= sizeof(o->addr));
	memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
	o->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Adds a path or http:// or https:// URL (https:// turns --tls on). The first URL's authority
 * becomes the default address/Host.
 */
static int bench_add_url(struct bench_opts *o, const char *s, char *authority, size_t authlen)
{
	const char *path = s;
	size_t len;

	if (o->nurls == BENCH_MAX_URLS) {
		fprintf(stderr, "cachebox-bench: more than %u URLs\n", BENCH_MAX_URLS);
		return -1;
	}
	if (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0) {
		const char *a = strchr(s, ':') + 3;

		if (s[4] == 's' || s[4] == 'S')
			o->tls = true;

		path = strchr(a, '/');
		if (!path || path == a || (size_t)(path - a) >= authlen) {
			fprintf(stderr, "cachebox-bench: bad URL '%s'\n", s);
			return -1;
		}
		if (!authority[0]) {
			memcpy(authority, a, (size_t)(path - a));
			authority[path - a] = '\0';
		} else if (strlen(authority) != (size_t)(path - a) ||
			   strncmp(authority, a, (size_t)(path - a)) != 0) {
			fprintf(stderr, "cachebox-bench: URL '%s' is not on %s: one server only\n",
				s, authority);
			return -1;
		}
	} else if (strstr(s, "://")) {
		fprintf(stderr, "cachebox-bench: '%s': only http:// and https:// URLs\n", s);
		return -1;
	}
	len = strlen(path);
	if (path[0] != '/' || len >= BENCH_MAX_PATH || !bench_text_ok(path, false)) {
		fprintf(stderr, "cachebox-bench: bad path '%s' (must start with '/', no spaces)\n",
			path);
		return -1;
	}
	o->urls[o->nurls].path = strdup(path);
	if (!o->urls[o->nurls].path) {
		fprintf(stderr, "cachebox-bench: out of memory\n");
		return -1;
	}
	o->nurls++;
	return 0;
}

static int bench_read_url_file(struct bench_opts *o, const char *file, char *authority,
			       size_t authlen)
{
	char line[BENCH_MAX_PATH + 64];
	unsigned lineno = 0;
	FILE *f = fopen(file, "r");
	int ret = -1;

	if (!f) {
		fprintf(stderr, "cachebox-bench: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		char *s = line;

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			fprintf(stderr, "cachebox-bench: %s:%u: line too long\n", file, lineno);
			goto out;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
			       line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		if (bench_add_url(o, s, authority, authlen)) {
			fprintf(stderr, "cachebox-bench: in %s:%u\n", file, lineno);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "cachebox-bench: %s: read error\n", file);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
	return ret;
}

static int bench_add_header(struct bench_opts *o, const char *s, bool *host_set)
{
	const char *colon = strchr(s, ':'), *v;
	int n;

	if (!colon || colon == s || !bench_text_ok(s, true)) {
		fprintf(stderr, "cachebox-bench: bad header '%s' (want 'Name: value')\n", s);
		return -1;
	}
	for (const char *p = s; p < colon; p++) {
		if (*p == ' ' || *p == '\t') {
			fprintf(stderr, "cachebox-bench: bad header name in '%s'\n", s);
			return -1;
		}
	}
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (colon - s == 4 && strncasecmp(s, "host", 4) == 0) {
		if (!*v || strlen(v) >= sizeof(o->host))
			return -1;
		snprintf(o->host, sizeof(o->host), "%s", v);
		*host_set = true;
		return 0;
	}
	if ((colon - s == 5 && strncasecmp(s, "range", 5) == 0) ||
	    (colon - s == 14 && strncasecmp(s, "content-length", 14) == 0)) {
		fprintf(stderr, "cachebox-bench: header '%.*s' is set by the benchmark\n",
			(int)(colon - s), s);
		return -1;
	}
	n = snprintf(o->extra + o->extra_len, sizeof(o->extra) - o->extra_len, "%.*s: %s\r\n",
		     (int)(colon - s), s, v);
	if (n < 0 || (size_t)n >= sizeof(o->extra) - o->extra_len) {
		fprintf(stderr, "cachebox-bench: extra headers over %u bytes\n", BENCH_MAX_EXTRA);
		return -1;
	}
	o->extra_len += (size_t)n;
	return 0;
}

/*
 * Learns an object's size with a blocking 'Range: bytes=0-0' request on its own connection,
 * which also checks before the run that the server answers ranges at all. 0 or -1 (printed).
 */
static int bench_probe(const struct bench_opts *o, struct bench_url *u)
{
	struct timeval tv = {.tv_sec = 5};
	char req[BENCH_REQ_MAX], head[BENCH_HEAD_MAX];
	const char *crlf2 = NULL;
	struct bench_head h;
	size_t len = 0;
	SSL *ssl = NULL;
	int fd, n, ret = -1;

	fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "cachebox-bench: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) < 0) {
		fprintf(stderr, "cachebox-bench: connect %s: %s\n", o->addr_text, strerror(errno));
		goto out;
	}
	if (o->tls) {
		ssl = SSL_new(o->tls_ctx);
		if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
			const char *why = ERR_reason_error_string(ERR_peek_last_error());

			fprintf(stderr, "cachebox-bench: TLS handshake with %s failed: %s\n",
				o->addr_text, why ? why : "connection closed or timed out");
			goto out;
		}
	}
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=0-0\r\n%.*sConnection: "
		     "close\r\n\r\n",
		     u->path, o->host, (int)o->extra_len, o->extra);
	CB_ASSERT(n > 0 && (size_t)n < sizeof(req));
	if ((ssl ? SSL_write(ssl, req, n) : send(fd, req, (size_t)n, MSG_NOSIGNAL)) != n) {
		fprintf(stderr, "cachebox-bench: probe %s: send failed\n", u->path);
		goto out;
	}
	while (!crlf2 && len < sizeof(head)) {
		ssize_t r = ssl ? SSL_read(ssl, head + len, (int)(sizeof(head) - len))
				: recv(fd, head + len, sizeof(head) - len, 0);

		if (r <= 0) {
			fprintf(stderr, "cachebox-bench: probe %s: %s\n", u->path,
				r < 0 ? strerror(errno) : "closed before the response head");
			goto out;
		}
		len += (size_t)r;
		crlf2 = memmem(head, len, "\r\n\r\n", 4);
	}
	if (!crlf2) {
		fprintf(stderr, "cachebox-bench: probe %s: response head too long\n", u->path);
		goto out;
	}
	if (bench_head_parse(head, (size_t)(crlf2 - head) + 4, &h) || h.status != 206 ||
	    !h.has_range || h.first != 0 || h.last != 0 || h.total == UINT64_MAX) {
		const char *eol = memchr(head, '\r', len);

		fprintf(stderr,
			"cachebox-bench: probe %s: want 206 with Content-Range 'bytes 0-0/SIZE', "
			"got '%.*s'%s\n",
			u->path, eol ? (int)(eol - head) : 40, head,
			h.status == 206 ? " without a usable Content-Range" : "");
		goto out;
	}
	u->size = h.total;
	u->nranges = u->size / o->range;
	if (!u->nranges) {
		fprintf(stderr,
			"cachebox-bench: %s is %" PRIu64 " bytes, smaller than the range %" PRIu64
			"\n",
			u->path, u->size, o->range);
		goto out;
	}
	ret = 0;
out:
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
	return ret;
}

/*
 * The client TLS context: TLS 1.2 or 1.3, OpenSSL's default cipher and group preferences, no
 * certificate check (a benchmark of the server, not of its identity). 0 or -1 (printed).
 */
static int bench_tls_init(struct bench_opts *o)
{
	o->tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!o->tls_ctx || !SSL_CTX_set_min_proto_version(o->tls_ctx, TLS1_2_VERSION)) {
		fprintf(stderr, "cachebox-bench: cannot set up TLS: %s\n",
			ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	SSL_CTX_set_verify(o->tls_ctx, SSL_VERIFY_NONE, NULL);
	/* SSL_write is retried with the same request bytes; let it see them move along. */
	SSL_CTX_set_mode(o->tls_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

static double bench_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void bench_report(const struct bench_opts *o, const struct bench_stats *st, double secs,
			 double cpu)
{
	uint64_t errors = 0;
	double mean = st->lat.total ? (double)st->lat.sum / (double)st->lat.total / 1e3 : 0;
	double p50 = (double)bench_hist_percentile(&st->lat, 50) / 1e3;
	double p90 = (double)bench_hist_percentile(&st->lat, 90) / 1e3;
	double p99 = (double)bench_hist_percentile(&st->lat, 99) / 1e3;
	double max = (double)st->lat.max / 1e3;
	double rps = secs > 0 ? (double)st->requests / secs : 0;
	double gbps = secs > 0 ? (double)st->body_bytes * 8 / secs / 1e9 : 0;

	for (int i = 0; i < BENCH_E_COUNT; i++)
		errors += st->errors[i];
	if (o->csv) {
		printf("%" PRIu64 ",%u,%u,%.3f,%" PRIu64 ",%" PRIu64
		       ",%.1f,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%.2f\n",
		       o->range, o->conns, o->threads, secs, st->requests, st->body_bytes, rps,
		       gbps, p50, p90, p99, max, mean, errors, st->reconnects, cpu);
		return;
	}
	printf("target      %s  Host: %s  (%u URL%s)\n", o->addr_text, o->host, o->nurls,
	       o->nurls == 1 ? "" : "s");
	printf("load        %u conns, %u thread%s, range %" PRIu64 " B, %.2f s, %s, bodies %s\n",
	       o->conns, o->threads, o->threads == 1 ? "" : "s", o->range, secs,
	       o->tls ? "TLS" : "plain TCP",
	       o->tls	 ? "decrypted"
	       : o->copy ? "copied"
			 : "dropped in kernel");
	printf("requests    %" PRIu64 "  (%.1f req/s)\n", st->requests, rps);
	printf("body        %" PRIu64 " bytes  (%.3f Gb/s)\n", st->body_bytes, gbps);
	printf("latency     p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us  mean %.1f us\n",
	       p50, p90, p99, max, mean);
	printf("errors      %" PRIu64 "  (", errors);
	for (int i = 0; i < BENCH_E_COUNT; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", bench_err_names[i], st->errors[i]);
	printf(")\n");
	printf("reconnects  %" PRIu64 "\n", st->reconnects);
	printf("client cpu  %.2f s  (%.0f%% of one core)\n", cpu, secs > 0 ? cpu / secs * 100 : 0);
}

enum {
	BENCH_OPT_HOST = 256,
	BENCH_OPT_TIMEOUT,
	BENCH_OPT_SEED,
	BENCH_OPT_COPY,
	BENCH_OPT_CSV,
	BENCH_OPT_CSV_HEADER,
	BENCH_OPT_TLS,
	BENCH_OPT_RATE,
};

static const struct option bench_long_opts[] = {
	{"url", required_argument, NULL, 'u'},
	{"url-file", required_argument, NULL, 'f'},
	{"addr", required_argument, NULL, 'a'},
	{"host", required_argument, NULL, BENCH_OPT_HOST},
	{"header", required_argument, NULL, 'H'},
	{"conns", required_argument, NULL, 'c'},
	{"threads", required_argument, NULL, 't'},
	{"duration", required_argument, NULL, 'd'},
	{"range", required_argument, NULL, 'r'},
	{"timeout", required_argument, NULL, BENCH_OPT_TIMEOUT},
	{"seed", required_argument, NULL, BENCH_OPT_SEED},
	{"copy", no_argument, NULL, BENCH_OPT_COPY},
	{"tls", no_argument, NULL, BENCH_OPT_TLS},
	{"csv", no_argument, NULL, BENCH_OPT_CSV},
	{"csv-header", no_argument, NULL, BENCH_OPT_CSV_HEADER},
	{"rate", required_argument, NULL, BENCH_OPT_RATE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Parses argv into o. 0, 1 for "done, exit 0" (help), or -1 for a usage error (printed). */
static int bench_parse_args(struct bench_opts *o, int argc, char **argv)
{
	char authority[256] = "";
	bool host_set = false, seed_set = false;
	double timeout = 10;
	int opt;

	o->conns = 16;
	o->threads = 1;
	o->secs = 10;
	o->range = 64 << 10;
	while ((opt = getopt_long(argc, argv, "u:f:a:H:c:t:d:r:h", bench_long_opts, NULL)) != -1) {
		const char *p;

		switch (opt) {
		case 'u':
			if (bench_add_url(o, optarg, authority, sizeof(authority)))
				return -1;
			break;
		case 'f':
			if (bench_read_url_file(o, optarg, authority, sizeof(authority)))
				return -1;
			break;
		case 'a':
			if (strlen(optarg) >= sizeof(o->addr_text) || bench_set_addr(o, optarg)) {
				fprintf(stderr,
					"cachebox-bench: bad address '%s' (want HOST:PORT)\n",
					optarg);
				return -1;
			}
			snprintf(o->addr_text, sizeof(o->addr_text), "%s", optarg);
			o->addr_given = true;
			break;
		case BENCH_OPT_HOST:
			if (!*optarg || strlen(optarg) >= sizeof(o->host) ||
			    !bench_text_ok(optarg, false)) {
				fprintf(stderr, "cachebox-bench: bad --host '%s'\n", optarg);
				return -1;
			}
			snprintf(o->host, sizeof(o->host), "%s", optarg);
			host_set = true;
			break;
		case 'H':
			if (bench_add_header(o, optarg, &host_set))
				return -1;
			break;
		case 'c':
			if (bench_parse_uint(optarg, 1, BENCH_MAX_CONNS, &o->conns)) {
				fprintf(stderr, "cachebox-bench: -c wants 1..%u\n",
					BENCH_MAX_CONNS);
				return -1;
			}
			break;
		case 't':
			if (bench_parse_uint(optarg, 1, BENCH_MAX_THREADS, &o->threads)) {
				fprintf(stderr, "cachebox-bench: -t wants 1..%u\n",
					BENCH_MAX_THREADS);
				return -1;
			}
			break;
		case 'd':
			if (bench_parse_secs(optarg, 0.01, 86400, &o->secs)) {
				fprintf(stderr,
					"cachebox-bench: -d wants seconds in 0.01..86400\n");
				return -1;
			}
			break;
		case 'r':
			if (bench_parse_size(optarg, &o->range) || o->range > (1ull << 40)) {
				fprintf(stderr, "cachebox-bench: bad -r '%s' (e.g. 64K, 1M, 16M)\n",
					optarg);
				return -1;
			}
			break;
		case BENCH_OPT_TIMEOUT:
			if (bench_parse_secs(optarg, 0.001, 3600, &timeout)) {
				fprintf(stderr, "cachebox-bench: --timeout wants 0.001..3600 s\n");
				return -1;
			}
			break;
		case BENCH_OPT_SEED:
			p = optarg;
			if (bench_parse_u64(&p, p + strlen(p), &o->seed) || *p) {
				fprintf(stderr, "cachebox-bench: bad --seed\n");
				return -1;
			}
			seed_set = true;
			break;
		case BENCH_OPT_COPY:
			o->copy = true;
			break;
		case BENCH_OPT_CSV:
			o->csv = true;
			break;
		case BENCH_OPT_TLS:
			o->tls = true;
			break;
		case BENCH_OPT_CSV_HEADER:
			printf("%s\n", bench_csv_header);
			return 1;
		case BENCH_OPT_RATE: {
			char *end;
			double v = strtod(optarg, &end);
			double mul = *end == 'k' ? 1e3 : *end == 'M' ? 1e6 : *end == 'G' ? 1e9 : 1;

			if (mul != 1)
				end++;
			if (end == optarg || *end || !(v > 0) || v * mul > 1e13) {
				fprintf(stderr, "cachebox-bench: --rate wants bits/s, e.g. 4G\n");
				return -1;
			}
			o->rate_bps = (uint64_t)(v * mul);
			break;
		}
		case 'h':
			bench_usage(stdout);
			return 1;
		default:
			bench_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cachebox-bench: unexpected argument '%s' (URLs go after -u)\n",
			argv[optind]);
		return -1;
	}
	if (!o->nurls) {
		fprintf(stderr, "cachebox-bench: no URLs (use -u or -f; --help explains)\n");
		return -1;
	}
	if (o->threads > o->conns) {
		fprintf(stderr, "cachebox-bench: more threads (%u) than connections (%u)\n",
			o->threads, o->conns);
		return -1;
	}
	if (!o->addr_given) {
		const char *a = authority[0] ? authority : "127.0.0.1:8003";
		char withport[300];

		/* An authority without a port means port 80 (443 with TLS). */
		if (a[0] == '[' ? !strstr(a, "]:") : !strchr(a, ':'))
			snprintf(withport, sizeof(withport), "%s:%s", a, o->tls ? "443" : "80");
		else
			snprintf(withport, sizeof(withport), "%s", a);
		if (bench_set_addr(o, withport)) {
			fprintf(stderr, "cachebox-bench: bad address '%s'\n", withport);
			return -1;
		}
		snprintf(o->addr_text, sizeof(o->addr_text), "%s", withport);
	}
	if (!host_set)
		snprintf(o->host, sizeof(o->host), "%s", authority[0] ? authority : o->addr_text);
	o->timeout_ns = (uint64_t)(timeout * 1e9);
	o->seed = seed_set ? o->seed : cb_wall_ns() ^ ((uint64_t)getpid() << 32);
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench_opts o;
	static struct bench_url urls[BENCH_MAX_URLS];
	struct bench_thread *threads = NULL;
	struct bench_stats *total = NULL;
	struct sigaction sa = {.sa_handler = bench_on_signal};
	uint64_t start, end = 0, errors = 0;
	double cpu0, secs;
	int rc, ret = 1;

	o.urls = urls;
	rc = bench_parse_args(&o, argc, argv);
	if (rc) {
		ret = rc > 0 ? 0 : BENCH_EXIT_USAGE;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN); /* before any TLS write, which cannot pass MSG_NOSIGNAL */
	if (o.tls && bench_tls_init(&o))
		goto out;
	for (unsigned i = 0; i < o.nurls; i++) {
		if (bench_probe(&o, &o.urls[i]))
			goto out;
	}

	threads = aligned_alloc(CB_CACHELINE, sizeof(*threads) * o.threads);
	total = calloc(1, sizeof(*total));
	if (!threads || !total) {
		fprintf(stderr, "cachebox-bench: out of memory\n");
		goto out;
	}
	memset(threads, 0, sizeof(*threads) * o.threads);
	for (unsigned i = 0; i < o.threads; i++) {
		struct bench_thread *t = &threads[i];

		t->o = &o;
		t->id = i;
		t->epfd = -1;
		t->nconns = o.conns / o.threads + (i < o.conns % o.threads);
		t->rng = o.seed + 0x632be59bd9b4e019ull * (i + 1);
		t->conns = calloc(t->nconns, sizeof(*t->conns));
		t->discard = malloc(BENCH_DISCARD);
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!t->conns || !t->discard || t->epfd < 0) {
			fprintf(stderr, "cachebox-bench: set-up: %s\n", strerror(errno));
			goto out;
		}
		for (unsigned j = 0; j < t->nconns; j++)
			t->conns[j].fd = -1;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	cpu0 = bench_cpu_seconds();
	start = cb_now_ns();
	for (unsigned i = 0; i < o.threads; i++) {
		threads[i].deadline_ns = start + (uint64_t)(o.secs * 1e9);
		if (pthread_create(&threads[i].tid, NULL, bench_thread_main, &threads[i])) {
			fprintf(stderr, "cachebox-bench: pthread_create failed\n");
			bench_stop = -1;
			for (unsigned j = 0; j < i; j++)
				pthread_join(threads[j].tid, NULL);
			goto out;
		}
	}
	for (unsigned i = 0; i < o.threads; i++) {
		struct bench_thread *t = &threads[i];

		pthread_join(t->tid, NULL);
		if (t->failed)
			goto out;
		end = CB_MAX(end, t->end_ns);
		total->requests += t->st.requests;
		total->body_bytes += t->st.body_bytes;
		total->reconnects += t->st.reconnects;
		for (int e = 0; e < BENCH_E_COUNT; e++)
			total->errors[e] += t->st.errors[e];
		bench_hist_merge(&total->lat, &t->st.lat);
	}
	secs = (double)(end - start) / 1e9;
	bench_report(&o, total, secs, bench_cpu_seconds() - cpu0);
	for (int e = 0; e < BENCH_E_COUNT; e++)
		errors += total->errors[e];
	ret = errors ? BENCH_EXIT_ERRORS : 0;
	if (bench_stop > 0) {
		/*
		 * Interrupted: the partial report is out; now die of the signal so that a calling
		 * shell sees it (bash ignores a SIGINT its child handled and exited from normally).
		 */
		fflush(stdout);
		signal(bench_stop, SIG_DFL);
		raise(bench_stop);
	}
out:
	for (unsigned i = 0; threads && i < o.threads; i++) {
		free(threads[i].conns);
		free(threads[i].discard);
		if (threads[i].epfd >= 0)
			close(threads[i].epfd);
	}
	free(threads);
	free(total);
	SSL_CTX_free(o.tls_ctx);
	for (unsigned i = 0; i < o.nurls; i++)
		free(o.urls[i].path);
	return ret;
}
