/*
 * The index rebuilt from a shard (storage/st_rebuild.c): entries carry the
 * piece count of their metadata, so discovery reads "how many pieces" from
 * the index alone; objects whose data file does not match are dropped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_common.h"
#include "st_import.h"
#include "st_rebuild.h"

static struct st_shards ss;
static char ixpath[600];

static void setup(void)
{
	char objects[600];

	memset(&ss, 0, sizeof(ss));
	snprintf(ss.s[0].path, sizeof(ss.s[0].path), "/tmp/cbx-rebuild-XXXXXX");
	cr_assert_not_null(mkdtemp(ss.s[0].path));
	ss.n = 1;
	snprintf(objects, sizeof(objects), "%s/objects", ss.s[0].path);
	cr_assert_eq(mkdir(objects, 0755), 0);
	snprintf(ixpath, sizeof(ixpath), "%s/index.shm", ss.s[0].path);
}

static void teardown(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ss.s[0].path);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(rebuild, .init = setup, .fini = teardown);

/* Stores an object of npieces pieces of 4 KiB with the pieces of `have` present. */
static void store(const char *key, uint32_t npieces, const uint32_t *have, unsigned nhave,
		  off_t data_size, struct st_meta *m)
{
	char path[CB_PATH_TMP];
	int fd;

	memset(m, 0, sizeof(*m));
	snprintf(m->key, sizeof(m->key), "%s", key);
	m->key_len = (uint16_t)strlen(m->key);
	st_content_id(m->key, m->key_len, m->id);
	m->piece_size = 4096;
	m->size = (uint64_t)npieces * 4096 - 100;
	m->npieces = st_npieces(m->size, m->piece_size);
	m->gen = 3;
	m->created = 1700000000;
	m->last_modified = 1700000000;
	snprintf(m->etag, sizeof(m->etag), "\"e\"");
	cr_assert_eq(st_meta_alloc(m), 0);
	for (unsigned i = 0; i < nhave; i++)
		m->present[have[i] / 8] |= (uint8_t)(1u << (have[i] % 8));
	if (nhave == npieces)
		m->flags = ST_META_COMPLETE;
	cr_assert_eq(st_path_dir(ss.s[0].path, m->id, path, sizeof(path)), 0);
	mkdir(path, 0755);
	cr_assert_eq(st_path_meta(ss.s[0].path, m->id, path, sizeof(path)), 0);
	cr_assert_eq(st_meta_write(path, m), 0);
	cr_assert_eq(st_path_data(ss.s[0].path, m->id, m->gen, path, sizeof(path)), 0);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, data_size < 0 ? (off_t)m->size : data_size), 0);
	close(fd);
}

Test(rebuild, entries_count_the_pieces_their_metadata_holds)
{
	const uint32_t some[] = {0, 2, 9, 12}, all[] = {0, 1, 2};
	struct cb_index *ix = cb_index_create(ixpath, 1024);
	struct st_meta partial, complete, torn;
	struct cb_index_rec r;

	cr_assert_not_null(ix);
	store("h/partial", 13, some, 4, -1, &partial);
	store("h/complete", 3, all, 3, -1, &complete);
	store("h/torn", 3, all, 3, 10, &torn); /* data file of the wrong size */
	cr_assert_eq(st_index_rebuild(ix, &ss), 2);
	cr_assert_eq(cb_index_lookup(ix, partial.id, &r), 0);
	cr_assert_eq(r.npieces, 13);
	cr_assert_eq(r.pieces_present, 4);
	cr_assert_eq(r.flags & CB_INDEX_COMPLETE, 0);
	cr_assert_eq(cb_index_lookup(ix, complete.id, &r), 0);
	cr_assert_eq(r.npieces, 3);
	cr_assert_eq(r.pieces_present, 3);
	cr_assert_neq(r.flags & CB_INDEX_COMPLETE, 0);
	cr_assert_eq(cb_index_lookup(ix, torn.id, &r), -ENOENT);
	st_meta_fini(&partial);
	st_meta_fini(&complete);
	st_meta_fini(&torn);
	cb_index_close(ix);
}

Test(rebuild, present_count_ignores_bits_past_the_last_piece)
{
	struct st_meta m = {.npieces = 11};

	cr_assert_eq(st_meta_alloc(&m), 0);
	cr_assert_eq(st_meta_present_count(&m), 0);
	m.present[0] = 0xff;
	m.present[1] = 0xff; /* pieces 8..10 exist, bits 11..15 do not */
	cr_assert_eq(st_meta_present_count(&m), 11);
	m.present[0] = 0x81;
	cr_assert_eq(st_meta_present_count(&m), 5);
	st_meta_fini(&m);
}

static int clear_piece1(struct st_meta *m, struct cb_index_rec *rec, void *arg)
{
	m->present[0] &= (uint8_t)~2u;
	m->flags &= ~(uint32_t)ST_META_COMPLETE;
	rec->flags &= (uint16_t)~CB_INDEX_COMPLETE;
	rec->pieces_present = st_meta_present_count(m);
	return arg ? *(const int *)arg : 0;
}

/* st_meta_update (st_import.h): metadata and index entry change together, or not at all. */
Test(rebuild, meta_update_changes_metadata_and_entry_of_one_version)
{
	const uint32_t all[] = {0, 1, 2};
	struct cb_index *ix = cb_index_create(ixpath, 1024);
	char path[CB_PATH_TMP];
	struct cb_index_rec r;
	struct st_meta m, d;
	uint8_t other[ST_ID_LEN] = {1};
	int refuse = -EPERM;

	cr_assert_not_null(ix);
	store("h/obj", 3, all, 3, -1, &m);
	cr_assert_eq(st_index_rebuild(ix, &ss), 1);
	cr_assert_eq(st_meta_update(&ss, ix, m.id, 4, clear_piece1, NULL), -ENOENT);
	cr_assert_eq(st_meta_update(&ss, ix, other, 0, clear_piece1, NULL), -ENOENT);
	cr_assert_eq(st_meta_update(&ss, ix, m.id, 3, clear_piece1, &refuse), -EPERM);
	cr_assert_eq(cb_index_lookup(ix, m.id, &r), 0);
	cr_assert_eq(r.pieces_present, 3);
	st_path_meta(ss.s[0].path, m.id, path, sizeof(path));
	cr_assert_eq(st_meta_read(path, &d), 0);
	cr_assert(st_meta_has(&d, 1));
	st_meta_fini(&d);

	cr_assert_eq(st_meta_update(&ss, ix, m.id, 3, clear_piece1, NULL), 0);
	cr_assert_eq(cb_index_lookup(ix, m.id, &r), 0);
	cr_assert_eq(r.pieces_present, 2);
	cr_assert_eq(r.flags & CB_INDEX_COMPLETE, 0);
	cr_assert_eq(st_meta_read(path, &d), 0);
	cr_assert_not(st_meta_has(&d, 1));
	cr_assert(st_meta_has(&d, 2));
	cr_assert_eq(d.flags & ST_META_COMPLETE, 0);
	st_meta_fini(&d);

	/* The metadata on disk of another version than the entry: left alone. */
	m.gen = 9;
	cr_assert_eq(st_meta_write(path, &m), 0);
	cr_assert_eq(st_meta_update(&ss, ix, m.id, 0, clear_piece1, NULL), -ESTALE);
	st_meta_fini(&m);
	cb_index_close(ix);
}

/*
 * A writer that died between renaming its metadata and updating the index
 * (test_failpoints' meta-renamed): the entry names generation 3, the
 * metadata and its data file generation 4. Reconciling re-indexes from the
 * metadata; a second call finds them agreeing.
 */
Test(rebuild, reconcile_reindexes_an_entry_its_metadata_outran)
{
	const uint32_t all[] = {0, 1, 2};
	struct cb_index *ix = cb_index_create(ixpath, 1024);
	char path[CB_PATH_TMP];
	struct cb_index_rec r;
	struct st_meta m;
	int fd;

	cr_assert_not_null(ix);
	store("h/replaced", 3, all, 3, -1, &m);
	cr_assert_eq(st_index_rebuild(ix, &ss), 1);
	m.gen = 4;
	cr_assert_eq(st_path_data(ss.s[0].path, m.id, m.gen, path, sizeof(path)), 0);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)m.size), 0);
	close(fd);
	cr_assert_eq(st_path_meta(ss.s[0].path, m.id, path, sizeof(path)), 0);
	cr_assert_eq(st_meta_write(path, &m), 0);
	cr_assert_eq(cb_index_lookup(ix, m.id, &r), 0);
	cr_assert_eq(r.gen, 3);
	cr_assert_eq(st_index_reconcile(ix, &ss, m.id), 1);
	cr_assert_eq(cb_index_lookup(ix, m.id, &r), 0);
	cr_assert_eq(r.gen, 4);
	cr_assert_neq(r.flags & CB_INDEX_COMPLETE, 0);
	cr_assert_eq(st_index_reconcile(ix, &ss, m.id), 0);
	st_meta_fini(&m);
	cb_index_close(ix);
}

/* A torn metadata file (test_failpoints' meta-torn): the entry goes; no entry, no change. */
Test(rebuild, reconcile_drops_an_entry_whose_metadata_is_torn)
{
	const uint32_t all[] = {0, 1, 2};
	struct cb_index *ix = cb_index_create(ixpath, 1024);
	char path[CB_PATH_TMP];
	struct cb_index_rec r;
	struct st_meta m;

	cr_assert_not_null(ix);
	store("h/torn-meta", 3, all, 3, -1, &m);
	cr_assert_eq(st_index_rebuild(ix, &ss), 1);
	cr_assert_eq(st_path_meta(ss.s[0].path, m.id, path, sizeof(path)), 0);
	cr_assert_eq(truncate(path, 50), 0);
	cr_assert_eq(st_index_reconcile(ix, &ss, m.id), 1);
	cr_assert_eq(cb_index_lookup(ix, m.id, &r), -ENOENT);
	cr_assert_eq(st_index_reconcile(ix, &ss, m.id), 0);
	st_meta_fini(&m);
	cb_index_close(ix);
}
