/*
 * The downloader's file side: FILE.part, sized and reserved before the
 * first byte; FILE.cbfetch, rewritten only after FILE.part is synced, so a
 * piece is called good only when its bytes are on disk; -c taking the good
 * pieces of an earlier run of the same object; and at the end --checksum,
 * fsync and the rename into place. A file that fails --checksum is removed:
 * a wrong byte never reaches the output.
 */
#include "cf_fetch_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cb_io.h"

int fetch_write_error(struct fetch *f, int e)
{
	snprintf(f->err, f->errlen, "%s: %s", f->part, strerror(-e));
	return e == -ENOSPC || e == -EDQUOT ? CF_EXIT_DISK_FULL : CF_EXIT_IO;
}

void fetch_save_state(struct fetch *f, bool force)
{
	uint64_t now = cb_now_ns();

	if (!force && now - f->last_save < STATE_EVERY_NS)
		return;
	f->last_save = now;
	if (fdatasync(f->fd) == 0) /* only what is on disk may be called good */
		cf_state_save(f->state_path, &f->st);
}

/*
 * -c: the state file beside the output, if it is of this URL; its good
 * pieces are kept when the object is still the same (size and validators),
 * else the download starts over.
 */
static void resume_state(struct fetch *f)
{
	struct cf_state old;

	if (!f->o->resume || cf_state_load(f->state_path, &old) < 0)
		return;
	if (strcmp(old.url, f->o->url) || strcmp(old.id_hex, f->st.id_hex) ||
	    old.size != f->st.size || old.piece_size != f->st.piece_size ||
	    strcmp(old.etag, f->st.etag) || strcmp(old.last_modified, f->st.last_modified) ||
	    access(f->part, R_OK | W_OK)) {
		fetch_say(f, "%s is of another download or object: starting over", f->state_path);
		cf_state_fini(&old);
		return;
	}
	for (uint32_t i = 0; i < f->st.npieces; i++)
		if (cf_state_good(&old, i)) {
			uint64_t len = fetch_piece_last(f, i) - fetch_piece_first(f, i) + 1;

			f->pst[i] = P_GOOD;
			cf_state_set_good(&f->st, i, true);
			f->done += len;
			f->sum->resumed += len;
		}
	fetch_say(f, "resuming: %llu of %llu bytes already verified",
		  (unsigned long long)f->sum->resumed, (unsigned long long)f->st.size);
	cf_state_fini(&old);
}

/* Sizes the per-piece arrays and opens FILE.part for the object just learnt. */
int fetch_prepare(struct fetch *f)
{
	int flags = O_RDWR | O_CREAT | O_CLOEXEC, e;

	f->st.npieces = (uint32_t)((f->st.size + f->st.piece_size - 1) / f->st.piece_size);
	free(f->pst);
	free(f->psrc);
	f->pst = calloc(f->st.npieces + 1, 1);
	f->psrc = calloc(f->st.npieces + 1, 1);
	if (!f->pst || !f->psrc || cf_state_alloc(&f->st) < 0) {
		snprintf(f->err, f->errlen, "out of memory");
		return CF_EXIT_GENERIC;
	}
	for (int k = 0; k < f->o->max_conn; k++)
		if (!f->xf[k].h || f->xf[k].alloc < f->st.piece_size) {
			cf_xfer_fini(&f->xf[k]);
			if (cf_xfer_init(&f->xf[k], f->st.piece_size) < 0) {
				snprintf(f->err, f->errlen, "out of memory");
				return CF_EXIT_GENERIC;
			}
		}
	f->done = 0;
	resume_state(f);
	if (f->fd < 0) {
		f->fd = open(f->part, flags | (f->sum->resumed ? 0 : O_TRUNC), 0644);
		if (f->fd < 0)
			return fetch_write_error(f, -errno);
	}
	if (ftruncate(f->fd, (off_t)f->st.size) < 0)
		return fetch_write_error(f, -errno);
	e = posix_fallocate(f->fd, 0, (off_t)f->st.size);
	if (e && e != EOPNOTSUPP && e != EINVAL)
		return fetch_write_error(f, -e);
	return CF_EXIT_OK;
}

/* The whole file against --checksum. */
static int check_whole(struct fetch *f)
{
	uint8_t buf[1 << 16], md[32];
	EVP_MD_CTX *c;
	uint64_t off = 0;
	int ret = CF_EXIT_OK;

	if (!f->o->checksum)
		return CF_EXIT_OK;
	c = EVP_MD_CTX_new();
	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(c);
		return CF_EXIT_GENERIC;
	}
	while (off < f->st.size) {
		size_t want = (size_t)CB_MIN(sizeof(buf), f->st.size - off), got;

		if (cb_pread_full(f->fd, buf, want, off, &got) || got != want) {
			ret = fetch_write_error(f, -EIO);
			goto out;
		}
		EVP_DigestUpdate(c, buf, got);
		off += got;
	}
	EVP_DigestFinal_ex(c, md, NULL);
	if (memcmp(md, f->o->checksum_sha, 32)) {
		snprintf(f->err, f->errlen, "the file does not match --checksum %s",
			 f->o->checksum);
		ret = CF_EXIT_INTEGRITY;
	}
out:
	EVP_MD_CTX_free(c);
	return ret;
}

/* Every piece good (or, with no hash from any box, written): sync and rename into place. */
int fetch_finish(struct fetch *f, const char *out)
{
	int ret;

	for (uint32_t i = 0; i < f->st.npieces; i++)
		if (f->pst[i] == P_WRITTEN) { /* no box gave its hash: counted, but unverified */
			uint64_t len = fetch_piece_last(f, i) - fetch_piece_first(f, i) + 1;

			f->sum->unverified++;
			fetch_mark_good(f, i, f->psrc[i], len);
		}
	ret = check_whole(f);
	if (ret) {
		unlink(f->part); /* a wrong byte never reaches the output */
		unlink(f->state_path);
		return ret;
	}
	if (fsync(f->fd) < 0 || rename(f->part, out) < 0)
		return fetch_write_error(f, -errno);
	unlink(f->state_path);
	return CF_EXIT_OK;
}
