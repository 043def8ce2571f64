/*
 * The .cbfetch file: text, one "key value" per line, the bitmap of verified
 * pieces in hex last, so that an operator can read it and a damaged one is
 * refused (then the download starts over) rather than half believed.
 *
 *   cachebox-fetch-state 1
 *   url <url>
 *   id <content id hex>
 *   size <bytes>
 *   piece_size <bytes>
 *   etag <validator or ->
 *   last_modified <date or ->
 *   good <hex of ceil(pieces / 8) bytes>
 */
#include "cf_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_common.h"
#include "cb_io.h"

#define STATE_MAGIC "cachebox-fetch-state 1"

int cf_state_alloc(struct cf_state *s)
{
	free(s->good);
	s->good = calloc((size_t)s->npieces / 8 + 1, 1);
	return s->good ? 0 : -ENOMEM;
}

void cf_state_fini(struct cf_state *s)
{
	free(s->good);
	s->good = NULL;
}

int cf_state_save(const char *path, const struct cf_state *s)
{
	size_t nb = (size_t)s->npieces / 8 + 1, cap = strlen(s->url) + 2 * nb + 1024;
	char tmp[CB_PATH_TMP + 8], *buf = malloc(cap);
	int fd = -1, ret, len;

	if (!buf)
		return -ENOMEM;
	len = snprintf(buf, cap,
		       STATE_MAGIC "\nurl %s\nid %s\nsize %llu\npiece_size %u\netag %s\n"
				   "last_modified %s\ngood ",
		       s->url, s->id_hex, (unsigned long long)s->size, s->piece_size,
		       *s->etag ? s->etag : "-", *s->last_modified ? s->last_modified : "-");
	cb_hex_encode(s->good, nb, buf + len);
	len += (int)(2 * nb);
	buf[len++] = '\n';
	ret = -ENAMETOOLONG;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ret = fd < 0 ? -errno : cb_write_all(fd, buf, (size_t)len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret && fd >= 0)
		unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* The value of line "key value" at *s, NUL-terminated in place; NULL if another key. */
static char *field(char **s, const char *key)
{
	size_t klen = strlen(key);
	char *l = *s, *nl = strchr(l, '\n');

	if (!nl || strncmp(l, key, klen) || l[klen] != ' ')
		return NULL;
	*nl = 0;
	*s = nl + 1;
	return l + klen + 1;
}

static int copy_validator(char *dst, const char *v)
{
	if (strlen(v) >= CF_VALIDATOR_MAX)
		return -EPROTO;
	strcpy(dst, strcmp(v, "-") ? v : "");
	return 0;
}

int cf_state_load(const char *path, struct cf_state *s)
{
	char *text = NULL, *p, *v[7], *end;
	uint8_t *raw = NULL;
	size_t len;
	int ret;
	static const char *const keys[] = {"url",	    "id",  "size", "piece_size", "etag",
					   "last_modified", "good"};

	memset(s, 0, sizeof(*s));
	ret = cb_read_file(path, 1 << 26, &raw, &len);
	if (ret)
		return ret;
	text = (char *)raw;
	ret = -EPROTO;
	if (len < sizeof(STATE_MAGIC) || memchr(text, 0, len) ||
	    memcmp(text, STATE_MAGIC "\n", sizeof(STATE_MAGIC)))
		goto out;
	text[len] = 0; /* cb_read_file leaves a spare byte */
	p = text + sizeof(STATE_MAGIC);
	for (size_t i = 0; i < CB_ARRAY_SIZE(keys); i++)
		if (!(v[i] = field(&p, keys[i])))
			goto out;
	if (strlen(v[0]) >= sizeof(s->url) || strlen(v[1]) != 64)
		goto out;
	strcpy(s->url, v[0]);
	strcpy(s->id_hex, v[1]);
	s->size = strtoull(v[2], &end, 10);
	if (*end)
		goto out;
	s->piece_size = (uint32_t)strtoul(v[3], &end, 10);
	if (*end || !s->piece_size || s->piece_size > 1u << 30)
		goto out;
	s->npieces = (uint32_t)((s->size + s->piece_size - 1) / s->piece_size);
	if (copy_validator(s->etag, v[4]) || copy_validator(s->last_modified, v[5]) ||
	    strlen(v[6]) != 2 * ((size_t)s->npieces / 8 + 1))
		goto out;
	ret = cf_state_alloc(s);
	if (ret)
		goto out;
	ret = cb_hex_decode(v[6], strlen(v[6]), s->good) ? -EPROTO : 0;
out:
	if (ret)
		cf_state_fini(s);
	free(raw);
	return ret;
}
