/*
 * Scrub: `cacheboxctl verify [URL|ID]` reads every stored piece again and
 * compares its SHA-256 with the one recorded when it was filled. A corrupt
 * piece is dropped: its bit in the metadata is cleared, the object is no
 * longer complete, and the version moves to a new generation (the data
 * file renamed) so the file server opens it afresh and verifies what it
 * serves from scratch; the next request fetches the dropped pieces again.
 * It runs on a thread of its own without ctl->lock (ctl_serve.c): the
 * index has its own lock, and a stopping control ends it between objects.
 */
#include "ctl.h"

#include "cb_common.h"
#include "cb_log.h"
#include "st_format.h"
#include "st_import.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct scrub {
	uint64_t objects, pieces, corrupt, objects_bad, bytes;
	FILE *out;
	json_t *bad; /* --json: the corrupt objects, printed at the end */
};

/* Drops the corrupt pieces of m (flags cleared in m->present by the caller). */
static int drop_pieces(struct ctl *ctl, const struct cb_index_rec *rec, struct st_meta *m)
{
	char meta[CB_PATH_TMP], from[CB_PATH_TMP], to[CB_PATH_TMP];
	struct cb_index_rec cur;
	int ret = -ESTALE;

	cb_index_lock(ctl->ix);
	if (cb_index_lookup(ctl->ix, rec->id, &cur) == 0 && cur.gen == rec->gen) {
		const char *shard = ctl->ss.s[rec->shard].path;

		m->flags &= ~(uint32_t)ST_META_COMPLETE;
		m->gen = st_new_gen(rec->gen);
		st_path_data(shard, rec->id, rec->gen, from, sizeof(from));
		st_path_data(shard, rec->id, m->gen, to, sizeof(to));
		st_path_meta(shard, rec->id, meta, sizeof(meta));
		ret = rename(from, to) < 0 ? -errno : 0;
		if (ret == 0)
			ret = st_meta_write(meta, m);
		if (ret == 0) {
			st_index_rec_from_meta(&cur, m, rec->shard);
			ret = cb_index_put(ctl->ix, &cur);
		}
	}
	cb_index_unlock(ctl->ix);
	return ret;
}

static int scrub_one(const struct cb_index_rec *rec, void *arg)
{
	struct ctl *ctl = ((void **)arg)[0];
	struct scrub *sc = ((void **)arg)[1];
	char path[CB_PATH_TMP], hex[ST_ID_HEX + 1], bad[256] = "";
	json_t *pieces = sc->bad ? json_array() : NULL;
	uint8_t *buf = NULL, md[SHA256_DIGEST_LENGTH];
	uint32_t nbad = 0;
	struct st_meta m;
	int fd = -1;
	size_t bl = 0;

	if (ctl_stopping(ctl))
		return -ECANCELED;
	if (rec->shard >= ctl->ss.n)
		return 0;
	cb_hex_encode(rec->id, ST_ID_LEN, hex);
	st_path_meta(ctl->ss.s[rec->shard].path, rec->id, path, sizeof(path));
	if (st_meta_read(path, &m) != 0)
		return 0; /* gone meanwhile, or the next start's rebuild drops it */
	if (m.gen != rec->gen)
		goto out; /* replaced meanwhile */
	st_path_data(ctl->ss.s[rec->shard].path, rec->id, rec->gen, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	buf = malloc(m.piece_size);
	if (fd < 0 || !buf)
		goto out;
	sc->objects++;
	for (uint32_t p = 0; p < m.npieces; p++) {
		uint64_t off = (uint64_t)p * m.piece_size;
		size_t len = (size_t)CB_MIN((uint64_t)m.piece_size, m.size - off);

		if (!st_meta_has(&m, p))
			continue;
		sc->pieces++;
		sc->bytes += len;
		if (pread(fd, buf, len, (off_t)off) == (ssize_t)len) {
			st_sha256(buf, len, md);
			if (memcmp(md, m.hashes + (size_t)p * 32, 32) == 0)
				continue;
		}
		m.present[p >> 3] &= (uint8_t) ~(1u << (p & 7));
		nbad++;
		json_array_append_new(pieces, json_integer(p));
		if (bl < sizeof(bad) - 16)
			bl += (size_t)snprintf(bad + bl, sizeof(bad) - bl, "%s%u", bl ? "," : "",
					       p);
	}
	if (nbad) {
		int ret = drop_pieces(ctl, rec, &m);

		sc->corrupt += nbad;
		sc->objects_bad++;
		cb_warn("verify: object %s (%s): %u corrupt piece(s) [%s]: %s", hex, m.key, nbad,
			bad, ret ? strerror(-ret) : "dropped, fetched again on the next request");
		if (sc->bad)
			json_array_append_new(sc->bad,
					      json_pack("{s:s, s:O, s:b}", "id", hex,
							"corrupt_pieces", pieces, "dropped", !ret));
		else
			fprintf(sc->out, "%s %s: %u corrupt piece(s) [%s] %s\n", hex, m.key, nbad,
				bad, ret ? "could not be dropped" : "dropped");
	}
out:
	json_decref(pieces);
	if (fd >= 0)
		close(fd);
	free(buf);
	st_meta_fini(&m);
	return 0;
}

int verb_verify(struct ctl *ctl, const struct ctl_request *req, FILE *out, char *err, size_t errlen)
{
	struct scrub sc = {.out = out};
	void *arg[2] = {ctl, &sc};
	uint64_t t0 = cb_now_ns();
	int ret = 0;

	if (req->json && !(sc.bad = json_array())) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (req->argc == 2) {
		struct cb_index_rec rec;
		uint8_t id[ST_ID_LEN];

		if (ctl_resolve_id(ctl, req->argv[1], id, err, errlen)) {
			ret = -EINVAL;
			goto out;
		}
		if (cb_index_lookup(ctl->ix, id, &rec) != 0) {
			snprintf(err, errlen, "%s is not cached", req->argv[1]);
			ret = -ENOENT;
			goto out;
		}
		ret = scrub_one(&rec, arg);
	} else {
		ret = cb_index_foreach(ctl->ix, scrub_one, arg);
	}
	/* Counted even when stopped early: what was found has been dropped. */
	__atomic_add_fetch(&ctl->verify_corrupt, sc.corrupt, __ATOMIC_RELAXED);
	if (ret == -ECANCELED) {
		cb_warn("verify: stopped after %llu objects: cachebox-control is stopping",
			(unsigned long long)sc.objects);
		snprintf(err, errlen, "stopped after %llu objects: cachebox-control is stopping",
			 (unsigned long long)sc.objects);
		goto out;
	}
	cb_info("verify: %llu objects, %llu pieces (%llu bytes) read in %.2f s: %llu corrupt",
		(unsigned long long)sc.objects, (unsigned long long)sc.pieces,
		(unsigned long long)sc.bytes, (double)(cb_now_ns() - t0) / 1e9,
		(unsigned long long)sc.corrupt);
	if (sc.bad) {
		ret = ctl_json_print(out,
				     json_pack("{s:O, s:I, s:I, s:I, s:I}", "corrupt_objects",
					       sc.bad, "objects", (json_int_t)sc.objects, "pieces",
					       (json_int_t)sc.pieces, "bytes", (json_int_t)sc.bytes,
					       "corrupt", (json_int_t)sc.corrupt));
		goto out;
	}
	fprintf(out, "verified %llu objects, %llu pieces: %llu corrupt\n",
		(unsigned long long)sc.objects, (unsigned long long)sc.pieces,
		(unsigned long long)sc.corrupt);
	ret = 0;
out:
	json_decref(sc.bad);
	return ret;
}
