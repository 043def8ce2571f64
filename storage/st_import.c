/* Import of a local file into the cache (see st_import.h). */
#include "st_import.h"

#include "cb_common.h"
#include "cb_failpoint.h"
#include "cb_io.h"
#include "cb_log.h"
#include "st_format.h"
#include "st_rebuild.h"
#include "st_url.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int st_url_key_of(const struct cfg *c, const char *url, char *key, size_t cap, char *err,
		  size_t errlen)
{
	const char *host, *host_end, *rest, *p;
	const struct cfg_origin *o;
	struct st_target t;
	size_t host_len;
	int n;

	if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else {
		snprintf(err, errlen, "URL must start with http:// or https://: '%s'", url);
		return -EINVAL;
	}
	rest = strchr(host, '/');
	if (!rest)
		rest = host + strlen(host);
	host_end = rest;
	if (*host == '[') { /* IPv6 literal: keep the brackets, drop a port */
		p = memchr(host, ']', (size_t)(rest - host));
		if (!p) {
			snprintf(err, errlen, "bad IPv6 host in URL '%s'", url);
			return -EINVAL;
		}
		host_end = p + 1;
	} else {
		p = memchr(host, ':', (size_t)(rest - host));
		if (p)
			host_end = p;
	}
	host_len = (size_t)(host_end - host);
	if (host_len == 0 || memchr(host, '@', (size_t)(rest - host))) {
		snprintf(err, errlen, "URL has no usable host: '%s'", url);
		return -EINVAL;
	}
	if (*rest == '\0')
		rest = "/";
	if (st_url_split(rest, strlen(rest), &t) < 0) {
		snprintf(err, errlen, "bad path in URL '%s'", url);
		return -EINVAL;
	}
	o = cfg_origin_find(c, host, host_len);
	n = st_cache_key(host, host_len, t.path, t.path_len, t.query, t.query_len,
			 o && o->key_query_keep, key, cap);
	if (n < 0) {
		snprintf(err, errlen, "URL refused (bad host or path, or too long): '%s'", url);
		return -EINVAL;
	}
	return n;
}

uint64_t st_new_gen(uint64_t old)
{
	uint64_t g = cb_wall_ns();

	return g > old ? g : old + 1;
}

/*
 * Makes m (whose data file, named by m->gen on shard, is written and synced)
 * the current version: metadata and index switch together under the writer
 * lock, then the old version's files are unlinked (open readers keep
 * theirs). data holds the data file's path and is updated if the
 * generation has to move past a concurrent writer's.
 */
int st_version_publish(const struct st_shards *ss, struct cb_index *ix, struct st_meta *m,
		       unsigned shard, char *data, size_t datacap, int *replaced, char *err,
		       size_t errlen)
{
	char meta_path[CB_PATH_TMP], old_path[CB_PATH_TMP];
	struct cb_index_rec rec, old;
	int ret, have_old;

	cb_index_lock(ix);
	have_old = cb_index_lookup(ix, m->id, &old) == 0;
	if (have_old && old.gen >= m->gen) {
		/* Rare: a concurrent writer published meanwhile; ours is the newest. */
		m->gen = st_new_gen(old.gen);
		st_path_data(ss->s[shard].path, m->id, m->gen, old_path, sizeof(old_path));
		if (rename(data, old_path) < 0) {
			ret = -errno;
			cb_index_unlock(ix);
			snprintf(err, errlen, "rename %s: %s", data, strerror(errno));
			return ret;
		}
		snprintf(data, datacap, "%s", old_path);
	}
	if (have_old)
		m->flags |= old.flags & ST_META_PINNED;
	st_path_meta(ss->s[shard].path, m->id, meta_path, sizeof(meta_path));
	ret = st_meta_write(meta_path, m);
	if (ret == 0) {
		st_index_rec_from_meta(&rec, m, shard);
		ret = cb_index_put(ix, &rec);
		if (ret)
			unlink(meta_path);
	}
	if (ret == 0 && have_old)
		CB_FAILPOINT("publish-indexed");
	if (ret == 0 && have_old && old.shard < ss->n) {
		if (old.shard != shard) {
			st_path_meta(ss->s[old.shard].path, m->id, old_path, sizeof(old_path));
			unlink(old_path);
		}
		st_path_data(ss->s[old.shard].path, m->id, old.gen, old_path, sizeof(old_path));
		unlink(old_path);
	}
	cb_index_unlock(ix);
	if (ret)
		snprintf(err, errlen, "publishing %s: %s", m->key, strerror(-ret));
	*replaced = have_old;
	return ret;
}

int st_meta_update(const struct st_shards *ss, struct cb_index *ix, const uint8_t id[ST_ID_LEN],
		   uint64_t gen, int (*fn)(struct st_meta *m, struct cb_index_rec *rec, void *arg),
		   void *arg)
{
	char path[CB_PATH_TMP];
	struct cb_index_rec rec;
	struct st_meta m;
	int ret;

	cb_index_lock(ix);
	ret = -ENOENT;
	if (cb_index_lookup(ix, id, &rec) != 0 || (gen && rec.gen != gen) || rec.shard >= ss->n)
		goto out;
	ret = st_path_meta(ss->s[rec.shard].path, id, path, sizeof(path));
	if (ret)
		goto out;
	ret = st_meta_read(path, &m);
	if (ret)
		goto out;
	ret = m.gen == rec.gen ? fn(&m, &rec, arg) : -ESTALE;
	if (ret == 0)
		ret = st_meta_write(path, &m);
	if (ret == 0)
		ret = cb_index_put(ix, &rec);
	st_meta_fini(&m);
out:
	cb_index_unlock(ix);
	return ret;
}

/* Opens the file to import; it must be a regular file. 0 or -errno (reason in err). */
static int import_open_src(const char *src, int *in, struct stat *st, char *err, size_t errlen)
{
	*in = open(src, O_RDONLY | O_CLOEXEC);
	if (*in < 0 || fstat(*in, st) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", src, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", src);
		return -EINVAL;
	}
	return 0;
}

/*
 * The metadata of the new version of key (klen bytes) for the file src of st's
 * size and date, its piece arrays allocated, a generation past any indexed
 * one. 0, -EFBIG (too many pieces) or -ENOMEM (reason in err).
 */
static int import_meta_init(const struct cfg *c, struct cb_index *ix, const char *key, int klen,
			    const char *src, const struct stat *st, struct st_meta *m, char *err,
			    size_t errlen)
{
	struct cb_index_rec old;
	int ret;

	m->piece_size = (uint32_t)c->storage.piece_size;
	m->size = (uint64_t)st->st_size;
	m->npieces = st_npieces(m->size, m->piece_size);
	if (m->npieces > ST_MAX_PIECES) {
		snprintf(err, errlen, "%s is too large for piece_size %u", src, m->piece_size);
		return -EFBIG;
	}
	st_content_id(key, (size_t)klen, m->id);
	memcpy(m->key, key, (size_t)klen);
	m->key_len = (uint16_t)klen;
	m->created = time(NULL);
	m->last_modified = st->st_mtime;
	m->gen = st_new_gen(cb_index_lookup(ix, m->id, &old) == 0 ? old.gen : 0);
	ret = st_meta_alloc(m);
	if (ret)
		snprintf(err, errlen, "out of memory");
	return ret;
}

/* Creates the data file of m's version on shard (its path in data). 0 or -errno. */
static int import_create_data(const struct st_shards *ss, const struct st_meta *m, unsigned shard,
			      char *data, size_t datacap, int *out, char *err, size_t errlen)
{
	char dir[CB_PATH_TMP];
	int ret;

	st_path_dir(ss->s[shard].path, m->id, dir, sizeof(dir));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-ret));
		return ret;
	}
	ret = st_path_data(ss->s[shard].path, m->id, m->gen, data, datacap);
	if (ret == 0) {
		*out = open(data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		ret = *out < 0 ? -errno : 0;
	}
	if (ret) {
		snprintf(err, errlen, "cannot create %s: %s", data, strerror(-ret));
		data[0] = '\0'; /* not ours to unlink */
	}
	return ret;
}

/*
 * Copies in to out piece by piece, hashing each into m and marking it
 * present, then syncs out. 0 or -errno (-EIO: the file shrank meanwhile).
 */
static int import_copy(int in, int out, struct st_meta *m, const char *src, const char *data,
		       char *err, size_t errlen)
{
	uint8_t *buf = malloc(m->piece_size);
	uint64_t off = 0;
	int ret = 0;

	if (!buf) {
		snprintf(err, errlen, "copying %s: out of memory", src);
		return -ENOMEM;
	}
	for (uint32_t p = 0; p < m->npieces; p++) {
		size_t want = (size_t)CB_MIN((uint64_t)m->piece_size, m->size - off), got;

		ret = cb_read_full(in, buf, want, &got);
		if (ret == 0 && got != want)
			ret = -EIO; /* the file shrank under us */
		if (ret == 0)
			ret = cb_pwrite_all(out, buf, got, off);
		if (ret) {
			snprintf(err, errlen, "copying %s: %s", src, strerror(-ret));
			goto out;
		}
		st_sha256(buf, got, m->hashes + (size_t)p * 32);
		m->present[p >> 3] |= (uint8_t)(1u << (p & 7));
		off += got;
	}
	CB_FAILPOINT("import-copied");
	if (fsync(out) < 0) {
		ret = -errno;
		snprintf(err, errlen, "fsync %s: %s", data, strerror(-ret));
	}
out:
	free(buf);
	return ret;
}

int st_import_file(const struct cfg *c, const struct st_shards *ss, struct cb_index *ix,
		   const char *src, const char *url, struct st_import_result *res, char *err,
		   size_t errlen)
{
	char data[CB_PATH_TMP];
	struct st_meta m;
	struct stat st;
	int in = -1, out = -1, ret, klen, replaced;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	data[0] = '\0';
	klen = st_url_key_of(c, url, res->key, sizeof(res->key), err, errlen);
	if (klen < 0)
		return -EINVAL;
	ret = import_open_src(src, &in, &st, err, errlen);
	if (ret)
		goto out;
	ret = import_meta_init(c, ix, res->key, klen, src, &st, &m, err, errlen);
	if (ret)
		goto out;
	res->shard = st_shards_place(ss, m.id);
	ret = import_create_data(ss, &m, res->shard, data, sizeof(data), &out, err, errlen);
	if (ret)
		goto out;
	ret = import_copy(in, out, &m, src, data, err, errlen);
	if (ret)
		goto out;
	m.flags = ST_META_COMPLETE;
	st_meta_content_etag(&m);
	ret = st_version_publish(ss, ix, &m, res->shard, data, sizeof(data), &replaced, err,
				 errlen);
	if (ret)
		goto out;
	memcpy(res->id, m.id, ST_ID_LEN);
	res->size = m.size;
	res->npieces = m.npieces;
	res->replaced = replaced;
	memcpy(res->etag, m.etag, sizeof(res->etag));
	data[0] = '\0'; /* keep it */
	ret = 0;
out:
	if (ret && data[0])
		unlink(data);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	st_meta_fini(&m);
	return ret;
}
