/*
 * cacheboxctl verbs on objects: list, import, prestage, evict. They run on
 * a thread of their own (ctl_serve.c); prestage and import may take
 * minutes and hold no lock meanwhile, and prestage ends early when control
 * stops.
 */
#include "ctl.h"

#include "cb_common.h"
#include "cb_io.h"
#include "cb_log.h"
#include "st_http.h"
#include "st_import.h"
#include "st_url.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct list_ctx {
	struct ctl *ctl;
	FILE *out;
	json_t *arr; /* --json: the objects, printed at the end */
};

static int list_one(const struct cb_index_rec *rec, void *arg)
{
	struct list_ctx *lc = arg;
	char hex[ST_ID_HEX + 1], key[ST_KEY_MAX + 1] = "?";

	cb_hex_encode(rec->id, ST_ID_LEN, hex);
	if (rec->shard >= lc->ctl->ss.n ||
	    st_meta_read_key(lc->ctl->ss.s[rec->shard].path, rec->id, key, sizeof(key)))
		snprintf(key, sizeof(key), "?");
	if (lc->arr) {
		json_array_append_new(lc->arr,
				      json_pack("{s:s, s:I, s:i, s:b, s:b, s:i, s:o, s:o}", "id",
						hex, "size", (json_int_t)rec->size, "pieces",
						(int)st_npieces(rec->size, rec->piece_size),
						"complete", !!(rec->flags & ST_META_COMPLETE),
						"pinned", !!(rec->flags & ST_META_PINNED), "shard",
						(int)rec->shard, "etag", ctl_json_text(rec->etag),
						"key", ctl_json_text(key)));
	} else {
		fprintf(lc->out, "%s %12llu %6u %-8s %s\n", hex, (unsigned long long)rec->size,
			st_npieces(rec->size, rec->piece_size),
			rec->flags & ST_META_COMPLETE ? "complete" : "partial", key);
	}
	return 0;
}

int verb_list(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct list_ctx lc = {ctl, out, NULL};

	if (req->json) {
		lc.arr = json_array();
		if (!lc.arr) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	} else {
		fprintf(out, "%-64s %12s %6s %-8s %s\n", "content-id", "bytes", "pieces", "state",
			"key");
	}
	cb_index_foreach(ctl->ix, list_one, &lc);
	return lc.arr ? ctl_json_print(out, lc.arr) : 0;
}

int verb_import(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct st_import_result res;
	char hex[ST_ID_HEX + 1];
	uint64_t t0 = cb_now_ns();
	int ret;

	ret = st_import_file(ctl->cfg, &ctl->ss, ctl->ix, req->argv[1], req->argv[2], &res, err,
			     errlen);
	if (ret)
		return ret;
	cb_hex_encode(res.id, ST_ID_LEN, hex);
	cb_info("imported %s as %s (%s): %llu bytes, %u pieces, shard %u, %.1f ms%s", req->argv[1],
		res.key, hex, (unsigned long long)res.size, res.npieces, res.shard,
		(double)(cb_now_ns() - t0) / 1e6, res.replaced ? ", replaced the old version" : "");
	if (req->json)
		return ctl_json_print(
			out, json_pack("{s:s, s:o, s:I, s:i, s:i, s:o, s:b}", "id", hex, "key",
				       ctl_json_text(res.key), "size", (json_int_t)res.size,
				       "pieces", (int)res.npieces, "shard", (int)res.shard, "etag",
				       ctl_json_text(res.etag), "replaced", (int)res.replaced));
	fprintf(out, "%s %s %llu bytes, %u pieces, verified%s\n", hex, res.key,
		(unsigned long long)res.size, res.npieces,
		res.replaced ? " (replaced the old version)" : "");
	return 0;
}

#define PRESTAGE_IDLE_MS 120000 /* the file server sent nothing for this long: give up */

/*
 * One read from the file server, waiting at most PRESTAGE_IDLE_MS for a
 * byte and looking at ctl_stopping() every 100 ms: bytes, 0 at EOF,
 * -ETIMEDOUT, -ECANCELED (control is stopping) or -errno.
 */
static ssize_t prestage_read(struct ctl *ctl, int fd, char *buf, size_t cap)
{
	for (int waited = 0; waited < PRESTAGE_IDLE_MS; waited += 100) {
		struct pollfd p = {fd, POLLIN, 0};
		int n;

		if (ctl_stopping(ctl))
			return -ECANCELED;
		n = poll(&p, 1, 100);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0) {
			ssize_t r = read(fd, buf, cap);

			return r < 0 ? -errno : r;
		}
	}
	return -ETIMEDOUT;
}

/*
 * prestage asks the file server for the whole object, the way a client
 * would, and discards the bytes: the server's fill brings the pieces (with
 * its coalescing, so a client asking meanwhile costs the origin nothing
 * more), and the answer ends when the last piece is in and verified.
 */
/* The GET that makes the file server fill url from byte from; its length, or -E2BIG. */
static int prestage_request(const char *url, uint64_t from, char *req, size_t cap)
{
	const char *host = strstr(url, "://") + 3, *rest = strchr(host, '/'), *q, *colon;
	size_t hlen;
	int n;

	if (!rest)
		rest = "/";
	colon = memchr(host, ':', (size_t)(rest - host));
	hlen = (size_t)((colon && *host != '[' ? colon : rest) - host);
	q = strchr(rest, '?');
	n = snprintf(req, cap,
		     "GET %s%scacheHostOrigin=%.*s HTTP/1.1\r\nHost: cachebox\r\n"
		     "Range: bytes=%llu-\r\nConnection: close\r\n\r\n",
		     rest, q ? "&" : "?", (int)hlen, host, (unsigned long long)from);
	return n < 0 || (size_t)n >= cap ? -E2BIG : n;
}

/* A connection to the file server's listener (loopback for a wildcard); fd or -errno. */
static int storage_connect(const struct cfg_addr *l, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[8];
	int fd, ret;

	snprintf(port, sizeof(port), "%u", l->port);
	if (getaddrinfo(!l->host[0] || !strcmp(l->host, "0.0.0.0") ? "127.0.0.1"
			: !strcmp(l->host, "::")		   ? "::1"
								   : l->host,
			port, &hints, &ai) != 0) {
		snprintf(err, errlen, "cannot resolve the file server's address %s", l->host);
		return -EHOSTUNREACH;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot reach the file server on %s:%u: %s", l->host, l->port,
			 strerror(-ret));
		if (fd >= 0)
			close(fd);
		fd = ret;
	}
	freeaddrinfo(ai);
	return fd;
}

static int prestage_via_storage(struct ctl *ctl, const char *url, uint64_t from, uint64_t *bytes,
				uint64_t *total, char *err, size_t errlen)
{
	struct st_http_resp resp;
	char req[ST_HTTP_MAX_URI + 512], buf[65536];
	size_t got = 0;
	int fd, ret = -EIO, n;
	ssize_t r;

	n = prestage_request(url, from, req, sizeof(req));
	if (n < 0) {
		snprintf(err, errlen, "URL too long");
		return n;
	}
	fd = storage_connect(&ctl->cfg->server.listen, err, errlen);
	if (fd < 0)
		return fd;
	ret = cb_write_all(fd, req, (size_t)n);
	if (ret) {
		snprintf(err, errlen, "sending to the file server: %s", strerror(-ret));
		goto out;
	}
	ret = -EIO;
	for (n = -2; n == -2;) {
		r = prestage_read(ctl, fd, buf + got, sizeof(buf) - 1 - got);
		if (r == -ECANCELED) {
			snprintf(err, errlen, "cachebox-control is stopping");
			ret = -ECANCELED;
			goto out;
		}
		if (r <= 0) {
			snprintf(err, errlen, "the file server closed without an answer");
			goto out;
		}
		got += (size_t)r;
		n = st_http_parse_response(buf, got, &resp);
	}
	if (n < 0 || !resp.has_content_length) {
		snprintf(err, errlen, "the file server's answer is malformed");
		goto out;
	}
	if (resp.status != 206 && !(resp.status == 200 && from == 0)) {
		char *nl;

		buf[got] = '\0';
		nl = strchr(buf + n, '\n');
		if (nl)
			*nl = '\0';
		snprintf(err, errlen, "%s", buf + n);
		ret = resp.status == 404 ? -ENOENT : -EIO;
		goto out;
	}
	*total = from + resp.content_length;
	*bytes = got - (size_t)n;
	while (*bytes < resp.content_length) {
		r = prestage_read(ctl, fd, buf, sizeof(buf));
		if (r == -ECANCELED) {
			snprintf(err, errlen,
				 "cachebox-control is stopping: the fill goes on in the "
				 "file server while it runs");
			ret = -ECANCELED;
			goto out;
		}
		if (r <= 0)
			break;
		*bytes += (uint64_t)r;
	}
	if (*bytes != resp.content_length) {
		snprintf(err, errlen,
			 "the fill stopped at byte %llu of %llu (the origin failed; the file "
			 "server's log says why); the pieces in are kept for a retry",
			 (unsigned long long)(from + *bytes), (unsigned long long)*total);
		ret = -EAGAIN;
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

int verb_prestage(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		  size_t errlen)
{
	char key[ST_KEY_MAX], hex[ST_ID_HEX + 1];
	const char *host = strstr(req->argv[1], "://"), *end;
	struct cb_index_rec rec;
	uint64_t t0 = cb_now_ns(), bytes = 0;
	uint8_t id[ST_ID_LEN];
	double secs;
	int n, ret;

	n = st_url_key_of(ctl->cfg, req->argv[1], key, sizeof(key), err, errlen);
	if (n < 0)
		return -EINVAL;
	host += 3;
	end = host + strcspn(host, ":/");
	if (!cfg_origin_find(ctl->cfg, host, (size_t)(end - host))) {
		snprintf(err, errlen, "%s is not a configured origin ([origin HOST] section)",
			 req->argv[1]);
		return -EPERM;
	}
	/*
	 * One more try from where a cut-short answer stopped: the fill resumes
	 * from the pieces it has, and if the origin fails again before the
	 * first missing byte the answer is a 502 that says why.
	 */
	uint64_t from = 0, total = 0;

	{
		ret = prestage_via_storage(ctl, req->argv[1], 0, &bytes, &total, err, errlen);
		if (ret == -EAGAIN) {
			from = bytes;
			ret = prestage_via_storage(ctl, req->argv[1], from, &bytes, &total, err,
						   errlen);
		}
	}
	if (ret) {
		cb_warn("prestage %s failed: %s", req->argv[1], err);
		return ret;
	}
	st_content_id(key, (size_t)n, id);
	cb_hex_encode(id, ST_ID_LEN, hex);
	if (cb_index_lookup(ctl->ix, id, &rec) != 0 || !(rec.flags & ST_META_COMPLETE)) {
		if (total < ctl->cfg->storage.min_file_size_to_cache)
			snprintf(err, errlen,
				 "%s (%llu bytes) is smaller than min_file_size_to_cache: passed "
				 "through, not stored",
				 key, (unsigned long long)total);
		else
			snprintf(err, errlen, "%s was served but is not stored complete", key);
		return -EIO;
	}
	secs = (double)(cb_now_ns() - t0) / 1e9;
	cb_info("prestaged %s as %s: %llu bytes, %u pieces, complete and verified, %.2f s", key,
		hex, (unsigned long long)rec.size, st_npieces(rec.size, rec.piece_size), secs);
	if (req->json)
		return ctl_json_print(out,
				      json_pack("{s:s, s:o, s:I, s:i, s:f, s:o}", "id", hex, "key",
						ctl_json_text(key), "size", (json_int_t)rec.size,
						"pieces", (int)st_npieces(rec.size, rec.piece_size),
						"seconds", secs, "etag", ctl_json_text(rec.etag)));
	fprintf(out, "%s %s %llu bytes, %u pieces, complete and verified (%.2f s)\n", hex, key,
		(unsigned long long)rec.size, st_npieces(rec.size, rec.piece_size), secs);
	return 0;
}

int ctl_resolve_id(struct ctl *ctl, const char *arg, uint8_t id[ST_ID_LEN], char *err,
		   size_t errlen)
{
	char key[ST_KEY_MAX];
	int n;

	if (strlen(arg) == ST_ID_HEX && cb_hex_decode(arg, ST_ID_HEX, id) == 0)
		return 0; /* a content ID */
	n = st_url_key_of(ctl->cfg, arg, key, sizeof(key), err, errlen);
	if (n < 0)
		return -EINVAL;
	st_content_id(key, (size_t)n, id);
	return 0;
}

int verb_evict(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	const char *arg = req->argv[1];
	char hex[ST_ID_HEX + 1];
	struct cb_index_rec rec;
	uint8_t id[ST_ID_LEN];
	int ret;

	if (!strcmp(arg, "--older-than") || !strcmp(arg, "--to-size")) {
		bool to_size = arg[2] == 't';
		uint64_t v = 0, n = 0, bytes = 0;

		if (req->argc != 3 || (to_size ? cfg_parse_size(req->argv[2], &v)
					       : cfg_parse_duration_ms(req->argv[2], &v))) {
			snprintf(err, errlen, "usage: evict %s",
				 to_size ? "--to-size SIZE (e.g. 500G)"
					 : "--older-than DURATION (e.g. 30d)");
			return -EINVAL;
		}
		/* The dispatch holds ctl->lock for writing: the eviction state is ours. */
		ret = ctl_evict_operator(ctl, to_size, to_size ? v : v / 1000, &n, &bytes);
		if (ret) {
			snprintf(err, errlen, "out of memory");
			return ret;
		}
		cb_info("%s %s: evicted %llu objects, %llu bytes", arg, req->argv[2],
			(unsigned long long)n, (unsigned long long)bytes);
		if (req->json)
			return ctl_json_print(out, json_pack("{s:I, s:I}", "evicted", (json_int_t)n,
							     "bytes", (json_int_t)bytes));
		else
			fprintf(out, "evicted %llu objects, %llu bytes (pinned objects kept)\n",
				(unsigned long long)n, (unsigned long long)bytes);
		return 0;
	}
	if (req->argc != 2) {
		snprintf(err, errlen,
			 "usage: evict URL|ID | --older-than DURATION | --to-size SIZE");
		return -EINVAL;
	}
	if (ctl_resolve_id(ctl, arg, id, err, errlen))
		return -EINVAL;
	cb_hex_encode(id, ST_ID_LEN, hex);
	if (ctl_object_remove(ctl, id, 0, &rec)) {
		snprintf(err, errlen, "%s is not cached", hex);
		return -ENOENT;
	}
	cb_info("evicted %s (%llu bytes) on request", hex, (unsigned long long)rec.size);
	if (req->json)
		return ctl_json_print(
			out, json_pack("{s:s, s:I}", "evicted", hex, "size", (json_int_t)rec.size));
	else
		fprintf(out, "evicted %s (%llu bytes)\n", hex, (unsigned long long)rec.size);
	return 0;
}

static int pin_change(struct st_meta *m, struct cb_index_rec *rec, void *arg)
{
	bool pin = *(const bool *)arg;

	m->flags = pin ? m->flags | ST_META_PINNED : m->flags & ~ST_META_PINNED;
	rec->flags = (uint16_t)(pin ? rec->flags | ST_META_PINNED : rec->flags & ~ST_META_PINNED);
	return 0;
}

/* pin / unpin: the flag in the metadata file (the truth) and in the index. */
static int set_pin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err,
		   size_t errlen, bool pin)
{
	char hex[ST_ID_HEX + 1];
	uint8_t id[ST_ID_LEN];
	int ret;

	if (ctl_resolve_id(ctl, req->argv[1], id, err, errlen))
		return -EINVAL;
	cb_hex_encode(id, ST_ID_LEN, hex);
	ret = st_meta_update(&ctl->ss, ctl->ix, id, 0, pin_change, &pin);
	if (ret == -ENOENT) {
		snprintf(err, errlen, "%s is not cached", hex);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "%s: metadata not updated: %s", hex, strerror(-ret));
		return ret;
	}
	cb_info("%s %s", pin ? "pinned" : "unpinned", hex);
	if (req->json)
		return ctl_json_print(out, json_pack("{s:s, s:b}", "id", hex, "pinned", (int)pin));
	fprintf(out, "%s %s\n", hex, pin ? "pinned: never evicted" : "unpinned");
	return 0;
}

int verb_pin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	return set_pin(ctl, req, out, err, errlen, true);
}

int verb_unpin(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	return set_pin(ctl, req, out, err, errlen, false);
}
