/*
 * Rebuilding the shared index from the shards (see st_rebuild.h). At start
 * the disk is the truth: every <id>.meta that decodes and whose data file
 * has the right size becomes an entry; anything else found in the object
 * directories (other generations' data files, leftovers of interrupted
 * writes, temporary files) is removed. When one object is on two shards
 * (a shard was re-added), the newer generation wins.
 */
#include "st_rebuild.h"

#include "cb_common.h"
#include "cb_log.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The index is filled verbatim from the metadata: the two must agree. */
_Static_assert(CB_ID_LEN == ST_ID_LEN, "content IDs of the index and the format");
_Static_assert(CB_ETAG_MAX == ST_ETAG_MAX, "ETags of the index and the format");
_Static_assert((unsigned)CB_INDEX_COMPLETE == (unsigned)ST_META_COMPLETE &&
		       (unsigned)CB_INDEX_PINNED == (unsigned)ST_META_PINNED,
	       "index flags are the metadata's flags");

uint32_t st_meta_present_count(const struct st_meta *m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->npieces / 8; i++)
		n += (uint32_t)__builtin_popcount(m->present[i]);
	for (uint32_t p = m->npieces & ~7u; p < m->npieces; p++)
		n += st_meta_has(m, p);
	return n;
}

void st_index_rec_from_meta(struct cb_index_rec *rec, const struct st_meta *m, unsigned shard)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->id, m->id, ST_ID_LEN);
	rec->size = m->size;
	rec->gen = m->gen;
	rec->last_modified = m->last_modified;
	rec->created = m->created;
	rec->last_access = m->created;
	rec->piece_size = m->piece_size;
	rec->shard = (uint16_t)shard;
	rec->flags = (uint16_t)m->flags;
	rec->npieces = m->npieces;
	rec->pieces_present = st_meta_present_count(m);
	memcpy(rec->etag, m->etag, sizeof(rec->etag));
}

static void drop_files(const char *dir, const char *hexid)
{
	char path[CB_PATH_TMP];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, hexid, ST_ID_HEX) != 0)
			continue;
		cb_fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Indexes one metadata file; returns 1 if indexed, 0 if dropped. */
static int rebuild_one(struct cb_index *ix, const struct st_shards *ss, unsigned shard,
		       const char *dir, const char *name)
{
	char path[CB_PATH_TMP], data[CB_PATH_TMP], hexid[ST_ID_HEX + 1];
	struct cb_index_rec rec, old;
	struct st_meta m;
	struct stat st;
	int ret;

	cb_fmt(path, sizeof(path), "%s/%s", dir, name);
	memcpy(hexid, name, ST_ID_HEX);
	hexid[ST_ID_HEX] = '\0';
	ret = st_meta_read(path, &m);
	if (ret) {
		cb_warn("shard %s: object %s: metadata %s (%s); dropped", ss->s[shard].path, hexid,
			ret == -EINVAL ? "is corrupt" : "unreadable", strerror(-ret));
		drop_files(dir, hexid);
		return 0;
	}
	st_path_data(ss->s[shard].path, m.id, m.gen, data, sizeof(data));
	if (stat(data, &st) < 0 || (uint64_t)st.st_size != m.size) {
		cb_warn("shard %s: object %s: data file missing or of the wrong size; dropped",
			ss->s[shard].path, hexid);
		drop_files(dir, hexid);
		st_meta_fini(&m);
		return 0;
	}
	if (cb_index_lookup(ix, m.id, &old) == 0 && old.gen > m.gen) {
		st_meta_fini(&m);
		return 0; /* an older copy on another shard; the newer one wins */
	}
	st_index_rec_from_meta(&rec, &m, shard);
	st_meta_fini(&m);
	ret = cb_index_put(ix, &rec);
	if (ret) {
		cb_err("index full (%u objects): raise [storage] index_capacity",
		       cb_index_capacity(ix));
		return ret;
	}
	return 1;
}

int st_index_reconcile(struct cb_index *ix, const struct st_shards *ss, const uint8_t id[ST_ID_LEN])
{
	char path[CB_PATH_TMP], hexid[ST_ID_HEX + 1];
	struct cb_index_rec rec, fresh;
	struct st_meta m;
	struct stat st;
	bool valid = false;
	int ret = 0;

	cb_hex_encode(id, ST_ID_LEN, hexid);
	cb_index_lock(ix);
	if (cb_index_lookup(ix, id, &rec) != 0)
		goto out;
	if (rec.shard < ss->n && st_path_meta(ss->s[rec.shard].path, id, path, sizeof(path)) == 0 &&
	    st_meta_read(path, &m) == 0) {
		st_path_data(ss->s[rec.shard].path, id, m.gen, path, sizeof(path));
		valid = stat(path, &st) == 0 && (uint64_t)st.st_size == m.size;
		if (valid)
			st_index_rec_from_meta(&fresh, &m, rec.shard);
		st_meta_fini(&m);
	}
	if (valid && fresh.gen == rec.gen)
		goto out; /* they agree: the reader's failure was something else */
	ret = 1;
	if (valid && cb_index_put(ix, &fresh) == 0) {
		cb_warn("index: object %s named generation %016llx, its metadata %016llx (a writer "
			"died between them): re-indexed from the metadata",
			hexid, (unsigned long long)rec.gen, (unsigned long long)fresh.gen);
		goto out;
	}
	cb_index_del(ix, id);
	cb_warn("index: object %s: its metadata or data file is missing or corrupt (a writer died "
		"mid-commit?): removed from the index, it will be fetched again",
		hexid);
out:
	cb_index_unlock(ix);
	return ret;
}

/* Removes data files of other generations and leftovers of interrupted writes. */
static void sweep_dir(const char *dir)
{
	char path[CB_PATH_TMP], meta[CB_PATH_TMP], hexid[ST_ID_HEX + 1], *end;
	struct st_meta m;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		bool keep = false;

		if (de->d_name[0] == '.')
			continue;
		if (len == ST_ID_HEX + 5 && strcmp(de->d_name + ST_ID_HEX, ".meta") == 0)
			continue;
		cb_fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (len == ST_ID_HEX + 22 && strcmp(de->d_name + len - 5, ".data") == 0) {
			memcpy(hexid, de->d_name, ST_ID_HEX);
			hexid[ST_ID_HEX] = '\0';
			cb_fmt(meta, sizeof(meta), "%s/%s.meta", dir, hexid);
			if (st_meta_read(meta, &m) == 0) {
				keep = strtoull(de->d_name + ST_ID_HEX + 1, &end, 16) == m.gen;
				st_meta_fini(&m);
			}
		}
		if (!keep) {
			cb_info("removing leftover %s", path);
			unlink(path);
		}
	}
	closedir(d);
}

int st_index_rebuild(struct cb_index *ix, const struct st_shards *ss)
{
	char dir[CB_PATH_TMP];
	int total = 0, ret = 0;

	cb_index_lock(ix);
	cb_index_clear(ix);
	for (unsigned s = 0; s < ss->n && ret >= 0; s++) {
		for (unsigned b = 0; b < 256 && ret >= 0; b++) {
			struct dirent *de;
			DIR *d;

			cb_fmt(dir, sizeof(dir), "%s/objects/%02x", ss->s[s].path, b);
			d = opendir(dir);
			if (!d)
				continue;
			sweep_dir(dir);
			while ((de = readdir(d))) {
				size_t len = strlen(de->d_name);

				if (len != ST_ID_HEX + 5 || strcmp(de->d_name + ST_ID_HEX, ".meta"))
					continue;
				ret = rebuild_one(ix, ss, s, dir, de->d_name);
				if (ret > 0)
					total++;
			}
			closedir(d);
		}
		/* Temporary files of imports and fills that never finished. */
		cb_fmt(dir, sizeof(dir), "%s/tmp", ss->s[s].path);
		{
			DIR *d = opendir(dir);
			struct dirent *de;

			while (d && (de = readdir(d))) {
				char p[CB_PATH_TMP];

				if (de->d_name[0] == '.')
					continue;
				cb_fmt(p, sizeof(p), "%s/%s", dir, de->d_name);
				unlink(p);
			}
			if (d)
				closedir(d);
		}
	}
	cb_index_unlock(ix);
	return ret < 0 ? ret : total;
}
