/*
 * The configuration loader of every cachebox process (see cfg.h and the
 * "Config" section of DESIGN.md). libinih splits "key = value" lines and calls
 * us once per key; everything around that is ours, so that the result does
 * not depend on how a distribution compiled libinih: a line reader in front
 * of it counts lines, strips comments and leading blanks (which turns off
 * libinih's multi-line continuation), rejects control bytes and over-long
 * lines, and parses section headers itself (libinih truncates section names
 * to 50 bytes, too short for origin host names). The handler then looks the
 * key up in one table that gives its section, type, field and range, so every
 * key is parsed, range-checked and reported the same way. The first error
 * stops the load and names file, line, section and key.
 */
#include "cfg_priv.h"

#include "cb_common.h"
#include "cb_io.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes one message into err, if the caller gave room for it. */
void cfg_msg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Copies s (n bytes) for a message: at most CFG_SHOW_MAX bytes, anything but
 * printable ASCII as '?', so a message never carries terminal escapes.
 */
const char *cfg_show_n(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && i < CFG_SHOW_MAX && o + 1 < outlen; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *cfg_show(const char *s, char *out, size_t outlen)
{
	return cfg_show_n(s, strlen(s), out, outlen);
}

/* Records the first error: "<file>:<line>: <text>". Later errors are dropped. */
void cfg_fail(struct cfg_parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = true;
	p->errline = line;
	if (!p->err || !p->errlen)
		return;
	if (line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void cfg_sect_text(enum cfg_sect s, const struct cfg_origin *o, char *out, size_t len)
{
	if (s == CFG_S_ORIGIN)
		snprintf(out, len, "[origin %s]", o->host);
	else
		snprintf(out, len, "[%s]", cfg_sect_names[s]);
}

/* Records "<file>:<line>: [<section>] <key>: <text>". */
void cfg_fail_key(struct cfg_parser *p, unsigned line, enum cfg_sect s, const struct cfg_origin *o,
		  const char *key, const char *fmt, ...)
{
	char sect[CFG_HOST_MAX + 16], k[CFG_SHOW_MAX + 8], text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cfg_sect_text(s, o, sect, sizeof(sect));
	cfg_fail(p, line, "%s %s: %s", sect, cfg_show(key, k, sizeof(k)), text);
}

/*
 * The error of a value that failed to parse (-EINVAL: "bad <what> '<v>'") or
 * is outside its range (-ERANGE: "<what> out of range '<v>'"); hint, if any,
 * follows in parentheses. Returns -EINVAL for the handler.
 */
int cfg_bad(struct cfg_parser *p, const char *key, int ret, const char *what, const char *v,
	    const char *hint)
{
	char shown[CFG_SHOW_MAX + 8];

	cfg_show(v, shown, sizeof(shown));
	if (ret == -ERANGE)
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "%s out of range '%s'%s%s%s",
			     what, shown, hint ? " (expected " : "", hint ? hint : "",
			     hint ? ")" : "");
	else
		cfg_fail_key(p, p->lineno, p->sect, p->origin, key, "bad %s '%s'%s%s%s", what,
			     shown, hint ? " (expected " : "", hint ? hint : "", hint ? ")" : "");
	return -EINVAL;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parser *p = user;
	unsigned *line;
	char shown[CFG_SHOW_MAX + 8];
	int i;

	(void)section; /* libinih's copy may be truncated; the reader tracks ours */
	if (p->failed)
		return 0;
	if (!name || !value) { /* a libinih built with INI_ALLOW_NO_VALUE; the reader stops those */
		cfg_fail(p, p->lineno, "expected 'key = value' or '[section]'");
		return 0;
	}
	if (!*name) {
		cfg_fail(p, p->lineno, "missing key name before '='");
		return 0;
	}
	if (p->sect == CFG_S_NONE) {
		cfg_fail(p, p->lineno, "key '%s' outside of any section",
			 cfg_show(name, shown, sizeof(shown)));
		return 0;
	}
	i = cfg_key_find(p->sect, name);
	if (i < 0) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, name, "unknown key");
		return 0;
	}
	line = &p->key_line[p->sect == CFG_S_ORIGIN ? 1 + p->origin_idx : 0][i];
	if (*line && !(cfg_keys[i].flags & CFG_F_REPEAT)) {
		cfg_fail_key(p, p->lineno, p->sect, p->origin, name,
			     "duplicate key (first set on line %u)", *line);
		return 0;
	}
	*line = p->lineno;
	return cfg_set(p, &cfg_keys[i], name, value) == 0;
}

/* "[origin HOST]": host lower-cased, checked, not seen before. */
static int cfg_origin_section(struct cfg_parser *p, const char *h, size_t n)
{
	struct cfg *c = p->c;
	struct cfg_origin *o;
	char host[CFG_HOST_MAX], shown[CFG_SHOW_MAX + 8];

	if (n == 0) {
		cfg_fail(p, p->lineno, "[origin] needs a host name, e.g. [origin dl.example.com]");
		return -EINVAL;
	}
	if (n >= sizeof(host) || !cfg_host_valid(h, n)) {
		cfg_fail(p, p->lineno, "bad origin host '%s'",
			 cfg_show_n(h, n, shown, sizeof(shown)));
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		host[i] = cfg_lower(h[i]);
	host[n] = '\0';
	for (unsigned i = 0; i < c->norigins; i++) {
		if (strcmp(c->origins[i].host, host) == 0) {
			cfg_fail(p, p->lineno, "duplicate section [origin %s] (first on line %u)",
				 host, p->origin_line[i]);
			return -EINVAL;
		}
	}
	if (c->norigins == CFG_MAX_ORIGINS) {
		cfg_fail(p, p->lineno, "too many origin sections (max %d)", CFG_MAX_ORIGINS);
		return -EINVAL;
	}
	o = &c->origins[c->norigins];
	memset(o, 0, sizeof(*o));
	memcpy(o->host, host, n + 1);
	snprintf(o->upstream, sizeof(o->upstream), "https://%s", host);
	o->upstream_tls = true;
	memcpy(o->upstream_host, host, n + 1);
	o->upstream_port = 443;
	o->timeout_ms = 15000;
	p->origin_line[c->norigins] = p->lineno;
	p->origin_idx = c->norigins++;
	p->origin = o;
	p->sect = CFG_S_ORIGIN;
	return 0;
}

/* A section header from s ('[') to e (past its last non-blank byte). */
static int cfg_section(struct cfg_parser *p, const char *s, const char *e)
{
	char shown[CFG_SHOW_MAX + 8];
	const char *in = s + 1, *ine = e - 1;
	size_t n;

	if (e - s < 2 || e[-1] != ']' || memchr(in, '[', (size_t)(ine - in)) ||
	    memchr(in, ']', (size_t)(ine - in))) {
		cfg_fail(p, p->lineno, "bad section header (expected [name])");
		return -EINVAL;
	}
	while (in < ine && cfg_is_blank(*in))
		in++;
	while (ine > in && cfg_is_blank(ine[-1]))
		ine--;
	n = (size_t)(ine - in);
	p->origin = NULL;
	for (int i = CFG_S_APPLIANCE; i < CFG_S_ORIGIN; i++) {
		if (strlen(cfg_sect_names[i]) == n && memcmp(in, cfg_sect_names[i], n) == 0) {
			p->sect = (enum cfg_sect)i;
			return 0;
		}
	}
	if (n >= 6 && memcmp(in, "origin", 6) == 0 && (n == 6 || cfg_is_blank(in[6]))) {
		in += 6;
		while (in < ine && cfg_is_blank(*in))
			in++;
		return cfg_origin_section(p, in, (size_t)(ine - in));
	}
	cfg_fail(p, p->lineno, "unknown section [%s]", cfg_show_n(in, n, shown, sizeof(shown)));
	return -EINVAL;
}

static char *cfg_reader_blank(char *str, int num)
{
	if (num >= 2) {
		str[0] = '\n';
		str[1] = '\0';
	} else if (num == 1) {
		str[0] = '\0';
	}
	return str;
}

/*
 * libinih's fgets-style reader. Each call hands over exactly one line of the
 * buffer, so libinih's line count and ours stay equal. The line is cleaned
 * first: a UTF-8 BOM, leading blanks, comments (a line starting with ';' or
 * '#', or ';' / '#' after a blank) and trailing blanks go; comment lines and
 * section headers (parsed here) become empty lines. What remains must be a
 * "key = value" line without control bytes that fits libinih's line buffer.
 * Returns NULL at the end or after the first error, which stops libinih.
 */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parser *p = stream;
	const char *s, *e, *end, *nl;
	size_t n;

	if (p->failed || p->pos >= p->len)
		return NULL;
	s = p->buf + p->pos;
	nl = memchr(s, '\n', p->len - p->pos);
	end = nl ? nl : p->buf + p->len;
	p->pos = (size_t)(end - p->buf) + (nl ? 1 : 0);
	p->lineno++;

	if (p->lineno == 1 && end - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end && cfg_is_blank(*s))
		s++;
	if (s == end || *s == ';' || *s == '#')
		return cfg_reader_blank(str, num);
	for (e = s + 1; e < end; e++)
		if ((*e == ';' || *e == '#') && cfg_is_blank(e[-1]))
			break;
	while (e > s && cfg_is_blank(e[-1]))
		e--;
	for (const char *q = s; q < e; q++) {
		if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) {
			cfg_fail(p, p->lineno, "control character in line");
			return NULL;
		}
	}
	if (*s == '[')
		return cfg_section(p, s, e) < 0 ? NULL : cfg_reader_blank(str, num);
	n = (size_t)(e - s);
	if (!memchr(s, '=', n) && !memchr(s, ':', n)) {
		cfg_fail(p, p->lineno, "expected 'key = value' or '[section]'");
		return NULL;
	}
	if (num < 2 || n > (size_t)num - 2) {
		cfg_fail(p, p->lineno, "line too long (max %d characters before a comment)",
			 num > 2 ? num - 2 : 0);
		return NULL;
	}
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

struct cfg *cfg_load_buf(const char *name, const char *buf, size_t len, char *err, size_t errlen)
{
	struct cfg_parser *p = NULL;
	struct cfg *c = NULL;
	int ret, e = EINVAL;

	cfg_msg(err, errlen, "%s", "");
	if (!name)
		name = "(config)";
	if (!buf && len) {
		cfg_msg(err, errlen, "%s: no buffer", name);
		goto out;
	}
	if (strlen(name) >= sizeof(c->path)) {
		cfg_msg(err, errlen, "%.64s...: file name too long", name);
		e = ENAMETOOLONG;
		goto out;
	}
	c = malloc(sizeof(*c));
	p = calloc(1, sizeof(*p));
	if (!c || !p) {
		cfg_msg(err, errlen, "%s: out of memory", name);
		e = ENOMEM;
		goto out;
	}
	cfg_defaults(c);
	strcpy(c->path, name);
	p->c = c;
	p->name = name;
	p->buf = buf;
	p->len = len;
	p->err = err;
	p->errlen = errlen;

	ret = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	/* The reader lets through only lines libinih accepts; this is a safety net. */
	if (ret > 0 && (!p->failed || (unsigned)ret < p->errline)) {
		p->failed = false;
		cfg_fail(p, (unsigned)ret, "syntax error");
	}
	if (ret < 0 && !p->failed) {
		cfg_msg(err, errlen, "%s: out of memory", name);
		e = ENOMEM;
		goto out;
	}
	if (!p->failed)
		cfg_check(p);
	if (p->failed)
		goto out;
	e = 0;
out:
	free(p);
	if (e) {
		free(c);
		errno = e;
		return NULL;
	}
	return c;
}

struct cfg *cfg_load_string(const char *name, const char *text, char *err, size_t errlen)
{
	return cfg_load_buf(name, text, text ? strlen(text) : 0, err, errlen);
}

struct cfg *cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg *c = NULL;
	uint8_t *buf = NULL;
	char eb[128];
	size_t len = 0;
	int fd = -1, e = 0, ret;

	if (!path) {
		cfg_msg(err, errlen, "no config file given");
		errno = EINVAL;
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		cfg_msg(err, errlen, "%s: cannot open: %s", path, strerror_r(e, eb, sizeof(eb)));
		goto out;
	}
	ret = cb_read_fd(fd, CFG_FILE_MAX, &buf, &len);
	e = -ret;
	if (ret == -EFBIG)
		cfg_msg(err, errlen, "%s: file too large (max %u bytes)", path, CFG_FILE_MAX);
	else if (ret == -ENOMEM)
		cfg_msg(err, errlen, "%s: out of memory", path);
	else if (ret)
		cfg_msg(err, errlen, "%s: cannot read: %s", path, strerror_r(e, eb, sizeof(eb)));
	if (ret)
		goto out;
	c = cfg_load_buf(path, (const char *)buf, len, err, errlen);
	if (!c)
		e = errno;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (!c)
		errno = e;
	return c;
}

void cfg_free(struct cfg *c)
{
	free(c);
}

const struct cfg_origin *cfg_origin_find(const struct cfg *c, const char *host, size_t len)
{
	if (!c || !host)
		return NULL;
	for (unsigned i = 0; i < c->norigins; i++) {
		const char *h = c->origins[i].host;
		size_t j;

		for (j = 0; j < len && h[j] && h[j] == cfg_lower(host[j]); j++)
			;
		if (j == len && h[j] == '\0')
			return &c->origins[i];
	}
	return NULL;
}

const struct cfg_origin *cfg_origin_of_key(const struct cfg *c, const char *key, size_t len)
{
	const char *slash = key ? memchr(key, '/', len) : NULL;

	return slash ? cfg_origin_find(c, key, (size_t)(slash - key)) : NULL;
}
