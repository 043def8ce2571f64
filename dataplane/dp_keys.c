/*
 * Reads the group key file (see dp_keys.h). The parser works on a byte
 * buffer with its length, so the unit tests and the fuzzer feed it
 * directly; dp_keys_load adds the mode check and the read. Every buffer
 * that held key text or bytes is wiped before it is freed or dropped.
 */
#include "dp_keys.h"

#include "cb_common.h"
#include "cb_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void dp_keys_msg(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dp_keys_msg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool dp_keys_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* A decimal uint32 of n bytes; 0 or -EINVAL (empty, not a digit, overflow). */
static int dp_keys_id(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!cb_is_digit(s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/*
 * One line without its newline and comment: blank, or "KEY_ID HEX".
 * Returns 1 for a key stored in *k, 0 for a blank line, -EINVAL with the
 * reason in *why.
 */
static int dp_keys_line(const char *s, size_t n, struct dp_key *k, const char **why)
{
	size_t i = 0, id0, idn, hex0, hexn;

	while (i < n && dp_keys_blank(s[i]))
		i++;
	if (i == n)
		return 0;
	for (id0 = i; i < n && !dp_keys_blank(s[i]);)
		i++;
	idn = i - id0;
	while (i < n && dp_keys_blank(s[i]))
		i++;
	for (hex0 = i; i < n && !dp_keys_blank(s[i]);)
		i++;
	hexn = i - hex0;
	while (i < n && dp_keys_blank(s[i]))
		i++;
	*why = "expected 'KEY_ID HEX'";
	if (hexn == 0 || i != n)
		return -EINVAL;
	*why = "bad KEY_ID (expected a decimal number up to 4294967295)";
	if (dp_keys_id(s + id0, idn, &k->id) < 0)
		return -EINVAL;
	*why = "key too short (expected at least 64 hex digits, 32 bytes)";
	if (hexn < 2 * DP_KEY_MIN)
		return -EINVAL;
	*why = "key too long (at most 256 hex digits, 128 bytes)";
	if (hexn > 2 * DP_KEY_MAX)
		return -EINVAL;
	*why = "bad key (expected an even number of hex digits)";
	if (cb_hex_decode(s + hex0, hexn, k->bytes) < 0)
		return -EINVAL;
	k->len = (uint16_t)(hexn / 2);
	return 1;
}

int dp_keys_parse(struct dp_keys *ks, const char *name, const char *buf, size_t len, char *err,
		  size_t errlen)
{
	struct dp_key k;
	const char *why = NULL;
	unsigned lineno = 0;
	size_t pos = 0;
	int ret = -EINVAL;

	memset(ks, 0, sizeof(*ks));
	if (err && errlen)
		err[0] = '\0';
	if (memchr(buf, '\0', len)) {
		dp_keys_msg(err, errlen, "%s: NUL byte in key file", name);
		goto out;
	}
	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *hash = memchr(line, '#', n);
		int r;

		lineno++;
		pos += n + (nl != NULL);
		r = dp_keys_line(line, hash ? (size_t)(hash - line) : n, &k, &why);
		if (r < 0) {
			dp_keys_msg(err, errlen, "%s:%u: %s", name, lineno, why);
			goto out;
		}
		if (r == 0)
			continue;
		if (dp_keys_find(ks, k.id)) {
			dp_keys_msg(err, errlen, "%s:%u: duplicate KEY_ID %u", name, lineno, k.id);
			goto out;
		}
		if (ks->n == DP_KEYS_MAX) {
			dp_keys_msg(err, errlen, "%s:%u: too many keys (max %d)", name, lineno,
				    DP_KEYS_MAX);
			goto out;
		}
		ks->keys[ks->n++] = k;
	}
	if (ks->n == 0) {
		dp_keys_msg(err, errlen, "%s: no key in key file (expected 'KEY_ID HEX' lines)",
			    name);
		goto out;
	}
	ret = 0;
out:
	explicit_bzero(&k, sizeof(k));
	if (ret < 0)
		dp_keys_wipe(ks);
	return ret;
}

int dp_keys_load(struct dp_keys *ks, const char *path, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd, ret;

	memset(ks, 0, sizeof(*ks));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		dp_keys_msg(err, errlen, "%s: cannot open key file: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		dp_keys_msg(err, errlen, "%s: cannot stat key file: %s", path, strerror(-ret));
		goto out;
	}
	ret = -EINVAL;
	if (!S_ISREG(st.st_mode)) {
		dp_keys_msg(err, errlen, "%s: key file is not a regular file", path);
		goto out;
	}
	ret = -EACCES;
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		dp_keys_msg(err, errlen,
			    "%s: key file has mode %04o, group or others may read or write it; "
			    "run chmod 600 %s",
			    path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	ret = cb_read_fd(fd, DP_KEYS_FILE_MAX, &buf, &len);
	if (ret < 0) {
		if (ret == -EFBIG)
			dp_keys_msg(err, errlen, "%s: key file larger than %u bytes", path,
				    DP_KEYS_FILE_MAX);
		else
			dp_keys_msg(err, errlen, "%s: cannot read key file: %s", path,
				    strerror(-ret));
		goto out;
	}
	ret = dp_keys_parse(ks, path, (const char *)buf, len, err, errlen);
out:
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	close(fd);
	return ret;
}

const struct dp_key *dp_keys_find(const struct dp_keys *ks, uint32_t id)
{
	for (unsigned i = 0; i < ks->n; i++)
		if (ks->keys[i].id == id)
			return &ks->keys[i];
	return NULL;
}

void dp_keys_wipe(struct dp_keys *ks)
{
	if (!ks)
		return;
	explicit_bzero(ks, sizeof(*ks));
}
