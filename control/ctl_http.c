/*
 * The metrics listener ([control] metrics_listen, loopback by default):
 * GET /metrics (the Prometheus text), / (the status page) and /status.json
 * (its data, ctl_page.c). One request per connection, on a job thread of
 * ctl_serve.c: its head read within CTL_METRICS_READ_MS in all, the answer
 * written within CTL_METRICS_WRITE_MS, with the bounded I/O of ctl_serve.c.
 */
#include "cb_common.h"
#include "cb_log.h"
#include "ctl.h"
#include "st_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTL_METRICS_READ_MS  2000 /* a whole HTTP request head */
#define CTL_METRICS_WRITE_MS 2000

/* The Prometheus endpoint: [control] metrics_listen, loopback by default. */
int ctl_serve_metrics_socket(struct ctl *ctl)
{
	const struct cfg_addr *a = &ctl->cfg->control.metrics_listen;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST},
			*ai = NULL;
	char port[8];
	int fd, one = 1, ret;

	snprintf(port, sizeof(port), "%u", a->port);
	if (getaddrinfo(a->host, port, &hints, &ai) != 0) {
		cb_err("metrics_listen %s:%u: not a numeric address", a->host, a->port);
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		ret = ctl_socket_listen(fd, ai->ai_addr, ai->ai_addrlen);
	}
	if (ret) {
		cb_err("metrics_listen %s:%u: %s", a->host, a->port, strerror(-ret));
		if (fd >= 0)
			close(fd);
		fd = ret;
	}
	freeaddrinfo(ai);
	return fd;
}

/* What metrics_listen answers: the Prometheus text, the status page, its data. */
enum metrics_page { PAGE_METRICS, PAGE_HTML, PAGE_JSON, PAGE_NONE };

static const struct {
	const char *path, *type;
} metrics_pages[] = {
	[PAGE_METRICS] = {"/metrics", "text/plain; version=0.0.4; charset=utf-8"},
	[PAGE_HTML] = {"/", "text/html; charset=utf-8"},
	[PAGE_JSON] = {"/status.json", "application/json"},
};

static enum metrics_page metrics_page_of(const struct st_http_req *req)
{
	const char *q = memchr(req->target.p, '?', req->target.len);
	size_t len = q ? (size_t)(q - req->target.p) : req->target.len;

	for (int i = 0; i < PAGE_NONE; i++)
		if (strlen(metrics_pages[i].path) == len &&
		    memcmp(req->target.p, metrics_pages[i].path, len) == 0)
			return (enum metrics_page)i;
	return PAGE_NONE;
}

/* The body of page, ctl->lock held for reading; 0 or -ENOMEM. */
static int metrics_body(struct ctl *ctl, enum metrics_page page, FILE *out)
{
	switch (page) {
	case PAGE_METRICS:
		ctl_metrics_write(ctl, out);
		return 0;
	case PAGE_HTML:
		return fwrite(ctl_page_html, 1, ctl_page_html_len, out) == ctl_page_html_len
			       ? 0
			       : -ENOMEM;
	case PAGE_JSON:
		return ctl_json_print(out, ctl_page_json(ctl));
	default:
		return -ENOENT;
	}
}

/* The answer to a parsed request: GET of a page above, else 404/405 (500: out of memory). */
static void metrics_answer(struct ctl *ctl, int fd, const struct st_http_req *req)
{
	uint64_t deadline = cb_now_ns() + CTL_METRICS_WRITE_MS * 1000000ull;
	enum metrics_page page = metrics_page_of(req);
	char *body = NULL, head[448], err[96];
	size_t blen = 0;
	int status = 200, hl;
	FILE *out = open_memstream(&body, &blen);

	if (!out)
		return;
	if (req->method != ST_HTTP_GET && req->method != ST_HTTP_HEAD) {
		status = 405;
	} else if (page == PAGE_NONE) {
		status = 404;
	} else {
		pthread_rwlock_rdlock(&ctl->lock);
		if (metrics_body(ctl, page, out) < 0)
			status = 500;
		pthread_rwlock_unlock(&ctl->lock);
	}
	if (fclose(out) != 0)
		status = 500;
	if (status != 200) { /* a line saying what there is, instead of what was made */
		free(body);
		body = NULL;
		blen = (size_t)snprintf(err, sizeof(err),
					"%d: GET /metrics (Prometheus), / (the status page), "
					"/status.json\n",
					status);
	}
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		      /* the page loads nothing but its own data */
		      "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
		      "style-src 'unsafe-inline'; connect-src 'self'\r\n"
		      "Connection: close\r\n\r\n",
		      status,
		      status == 200   ? "OK"
		      : status == 404 ? "Not Found"
		      : status == 405 ? "Method Not Allowed"
				      : "Internal Server Error",
		      status == 200 ? metrics_pages[page].type : "text/plain", blen);
	if (ctl_send_all(fd, head, (size_t)hl, deadline) == 0 && req->method != ST_HTTP_HEAD)
		ctl_send_all(fd, body ? body : err, blen, deadline);
	free(body);
}

/* One request per connection, its head read within CTL_METRICS_READ_MS in all. */
void ctl_http_serve(struct ctl *ctl, int fd)
{
	uint64_t deadline = cb_now_ns() + CTL_METRICS_READ_MS * 1000000ull;
	struct st_http_req req;
	char in[8192];
	size_t got = 0;
	int n = -2, status = 0;

	while (n == -2 && got < sizeof(in)) {
		ssize_t r = ctl_recv_some(ctl, fd, in + got, sizeof(in) - got, deadline);

		if (r <= 0)
			break;
		got += (size_t)r;
		n = st_http_parse_request(in, got, &req, &status);
	}
	if (n >= 0)
		metrics_answer(ctl, fd, &req);
}
