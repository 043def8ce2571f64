/*
 * CDN-Loop (RFC 8586): this box's id, the check that a request has not
 * already passed through it, and the value a fill sends upstream. See
 * st_loop.h for why the chain is passed on and why it is filtered.
 */
#include "st_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "cb_common.h"
#include "cb_io.h"
#include "st_http_chars.h"

static bool is_id(const char *s, size_t len)
{
	size_t pl = sizeof(ST_LOOP_PREFIX) - 1;

	if (len != ST_LOOP_ID_LEN || memcmp(s, ST_LOOP_PREFIX, pl) != 0)
		return false;
	for (size_t i = pl; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static int id_make(const char *path, char id[ST_LOOP_ID_LEN + 1], char *err, size_t errlen)
{
	uint8_t r[8];
	char tmp[4200], line[ST_LOOP_ID_LEN + 2];
	int fd, n;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		snprintf(err, errlen, "box id: getrandom: %s", strerror(errno));
		return -EIO;
	}
	memcpy(id, ST_LOOP_PREFIX, sizeof(ST_LOOP_PREFIX) - 1);
	cb_hex_encode(r, sizeof(r), id + sizeof(ST_LOOP_PREFIX) - 1);
	id[ST_LOOP_ID_LEN] = '\0';
	n = snprintf(line, sizeof(line), "%s\n", id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || cb_write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int e = errno;

		snprintf(err, errlen, "box id %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	return 0;
}

int st_loop_id_load(const char *state_dir, char id[ST_LOOP_ID_LEN + 1], char *err, size_t errlen)
{
	char path[4096], buf[ST_LOOP_ID_LEN + 2];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/box-id", state_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "box id %s: %s", path, strerror(errno));
		return -errno;
	}
	if (n == ST_LOOP_ID_LEN + 1 && buf[ST_LOOP_ID_LEN] == '\n' && is_id(buf, ST_LOOP_ID_LEN)) {
		memcpy(id, buf, ST_LOOP_ID_LEN);
		id[ST_LOOP_ID_LEN] = '\0';
		return 0;
	}
	return id_make(path, id, err, errlen);
}

/* RFC 8586 §2: cdn-id = ( uri-host [ ":" port ] ) / pseudonym, the characters of either. */
static bool cdn_id_char(char ch)
{
	return is_tchar(ch) || ch == ':' || ch == '[' || ch == ']';
}

/*
 * Calls fn for each cdn-id of req's CDN-Loop fields (the text before any
 * ';' parameter, without OWS), in order; stops when fn returns true.
 */
static bool each_cdn_id(const struct st_http_req *req, bool (*fn)(const char *, size_t, void *),
			void *arg)
{
	for (unsigned i = 0; req && i < req->nhdrs; i++) {
		const struct st_http_hdr *h = &req->hdrs[i];
		const char *p = h->value.p, *end = p + h->value.len;

		if (h->name.len != 8 || strncasecmp(h->name.p, "cdn-loop", 8) != 0)
			continue;
		while (p < end) {
			const char *s, *e;

			while (p < end && (is_ows(*p) || *p == ','))
				p++;
			s = p;
			while (p < end && cdn_id_char(*p))
				p++;
			e = p;
			while (p < end && *p != ',')
				p++; /* parameters, or bytes no cdn-id holds */
			if (e > s && fn(s, (size_t)(e - s), arg))
				return true;
		}
	}
	return false;
}

struct seek {
	const char *id;
};

static bool is_this(const char *s, size_t len, void *arg)
{
	const struct seek *k = arg;

	return len == ST_LOOP_ID_LEN && memcmp(s, k->id, len) == 0;
}

bool st_loop_seen(const struct st_http_req *req, const char *id)
{
	struct seek k = {id};

	return each_cdn_id(req, is_this, &k);
}

struct chain {
	const char *ids[ST_LOOP_HOPS];
	size_t lens[ST_LOOP_HOPS];
	unsigned total;
};

static bool keep(const char *s, size_t len, void *arg)
{
	struct chain *c = arg;

	if (len <= ST_LOOP_ELEM_MAX) {
		c->ids[c->total % (ST_LOOP_HOPS - 1)] = s;
		c->lens[c->total % (ST_LOOP_HOPS - 1)] = len;
		c->total++;
	}
	return false;
}

void st_loop_chain(const struct st_http_req *req, const char *id, char *out, size_t cap)
{
	struct chain c = {.total = 0};
	size_t len = 0;
	unsigned first, n;

	CB_ASSERT(cap >= ST_LOOP_MAX);
	each_cdn_id(req, keep, &c);
	n = CB_MIN(c.total, ST_LOOP_HOPS - 1);
	first = c.total - n;
	for (unsigned i = 0; i < n; i++) {
		unsigned k = (first + i) % (ST_LOOP_HOPS - 1);

		len += (size_t)snprintf(out + len, cap - len, "%.*s, ", (int)c.lens[k], c.ids[k]);
	}
	snprintf(out + len, cap - len, "%s", id);
}
