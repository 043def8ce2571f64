/*
 * Shared index (common/cb_index.c): put/lookup/delete, probing through
 * tombstones, capacity, attaching and refusing other layouts, torn reads,
 * and the piece count that discovery answers from. The rebuild from the
 * shards is storage's (tests/unit/storage/test_rebuild.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_index.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cbx-index-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.shm", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

/* A content ID for object i: splitmix64 output, as spread as SHA-256 for the table. */
static void id_of(unsigned i, uint8_t id[CB_ID_LEN])
{
	uint64_t x = i;

	for (unsigned k = 0; k < CB_ID_LEN; k += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(id + k, &z, 8);
	}
}

static void rec_of(unsigned i, struct cb_index_rec *r)
{
	memset(r, 0, sizeof(*r));
	id_of(i, r->id);
	r->size = i;
	r->gen = 1;
	r->piece_size = 1 << 20;
}

TestSuite(index, .init = setup, .fini = teardown);

Test(index, put_lookup_delete)
{
	struct cb_index *ix = cb_index_create(path, 1024);
	struct cb_index_rec r, out;

	cr_assert_not_null(ix);
	for (unsigned i = 0; i < 500; i++) {
		rec_of(i, &r);
		cb_index_lock(ix);
		cr_assert_eq(cb_index_put(ix, &r), 0);
		cb_index_unlock(ix);
	}
	cr_assert_eq(cb_index_count(ix), 500);
	for (unsigned i = 0; i < 500; i += 2) {
		rec_of(i, &r);
		cb_index_lock(ix);
		cr_assert_eq(cb_index_del(ix, r.id), 0);
		cr_assert_eq(cb_index_del(ix, r.id), -ENOENT);
		cb_index_unlock(ix);
	}
	for (unsigned i = 0; i < 500; i++) {
		rec_of(i, &r);
		if (i % 2) {
			cr_assert_eq(cb_index_lookup(ix, r.id, &out), 0, "odd %u still there", i);
			cr_assert_eq(out.size, i);
		} else {
			cr_assert_eq(cb_index_lookup(ix, r.id, &out), -ENOENT);
		}
	}
	/* Replacing keeps one entry. */
	rec_of(1, &r);
	r.gen = 2;
	cb_index_lock(ix);
	cr_assert_eq(cb_index_put(ix, &r), 0);
	cb_index_unlock(ix);
	cr_assert_eq(cb_index_count(ix), 250);
	cr_assert_eq(cb_index_lookup(ix, r.id, &out), 0);
	cr_assert_eq(out.gen, 2);
	cb_index_close(ix);
}

Test(index, full_table_refuses)
{
	struct cb_index *ix = cb_index_create(path, 1024);
	struct cb_index_rec r;
	int ret = 0;
	unsigned i;

	cb_index_lock(ix);
	for (i = 0; i < 2000 && ret == 0; i++) {
		rec_of(i, &r);
		ret = cb_index_put(ix, &r);
	}
	cb_index_unlock(ix);
	cr_assert_eq(ret, -ENOSPC);
	cr_assert(i > 900, "filled to 90%% before refusing (%u)", i);
	cb_index_close(ix);
}

Test(index, attach_sees_the_same_entries_and_rejects_garbage)
{
	struct cb_index *a = cb_index_create(path, 1024), *b;
	struct cb_index_rec r, out;
	FILE *f;

	rec_of(7, &r);
	cb_index_lock(a);
	cb_index_put(a, &r);
	cb_index_unlock(a);
	b = cb_index_attach(path);
	cr_assert_not_null(b);
	cr_assert_eq(cb_index_lookup(b, r.id, &out), 0);
	cb_index_close(b);
	cb_index_close(a);
	f = fopen(path, "r+");
	fputs("garbage", f);
	fclose(f);
	cr_assert_null(cb_index_attach(path));
	cr_assert_eq(errno, EPROTO);
}

struct race {
	struct cb_index *ix;
	volatile int stop;
	unsigned torn;
};

static void *reader(void *arg)
{
	struct race *rc = arg;
	struct cb_index_rec r, out;

	rec_of(3, &r);
	while (!rc->stop) {
		if (cb_index_lookup(rc->ix, r.id, &out) == 0 && out.size != out.gen * 1000)
			rc->torn++;
	}
	return NULL;
}

Test(index, readers_never_see_a_torn_entry)
{
	struct race rc = {.ix = cb_index_create(path, 1024)};
	struct cb_index_rec r;
	pthread_t t;

	pthread_create(&t, NULL, reader, &rc);
	for (unsigned g = 1; g < 200000; g++) {
		rec_of(3, &r);
		r.gen = g;
		r.size = g * 1000ull;
		cb_index_lock(rc.ix);
		cb_index_put(rc.ix, &r);
		cb_index_unlock(rc.ix);
	}
	rc.stop = 1;
	pthread_join(t, NULL);
	cr_assert_eq(rc.torn, 0);
	cb_index_close(rc.ix);
}

Test(index, attach_refuses_another_layout_version)
{
	struct cb_index *ix = cb_index_create(path, 1024);
	uint32_t old = CB_INDEX_LAYOUT - 1;
	FILE *f;

	cr_assert_not_null(ix);
	cb_index_close(ix);
	f = fopen(path, "r+");
	cr_assert_not_null(f);
	fseek(f, offsetof(struct cb_index_hdr, layout), SEEK_SET);
	fwrite(&old, sizeof(old), 1, f);
	fclose(f);
	cr_assert_null(cb_index_attach(path));
	cr_assert_eq(errno, EPROTO);
}

static struct cb_index_rec partial(struct cb_index *ix, unsigned i, uint64_t gen)
{
	struct cb_index_rec r;

	rec_of(i, &r);
	r.gen = gen;
	r.size = 8ull << 20;
	r.npieces = 8;
	r.pieces_present = 1; /* a fill's start: piece 0 came with the length */
	cb_index_lock(ix);
	cr_assert_eq(cb_index_put(ix, &r), 0);
	cb_index_unlock(ix);
	return r;
}

Test(index, piece_count_follows_commits)
{
	struct cb_index *ix = cb_index_create(path, 1024), *other;
	struct cb_index_rec r, out, missing;

	cr_assert_not_null(ix);
	r = partial(ix, 5, 7);
	cr_assert_eq(cb_index_lookup(ix, r.id, &out), 0);
	cr_assert_eq(out.npieces, 8);
	cr_assert_eq(out.pieces_present, 1);
	cr_assert_eq(cb_index_pieces_raise(ix, r.id, 7, 3), 0);
	cb_index_lookup(ix, r.id, &out);
	cr_assert_eq(out.pieces_present, 3);
	/* A commit reported late (2 after 3) does not move the count back. */
	cr_assert_eq(cb_index_pieces_raise(ix, r.id, 7, 2), 0);
	cb_index_lookup(ix, r.id, &out);
	cr_assert_eq(out.pieces_present, 3);
	/* Another version's fill changes nothing. */
	cr_assert_eq(cb_index_pieces_raise(ix, r.id, 6, 6), -ESTALE);
	cb_index_lookup(ix, r.id, &out);
	cr_assert_eq(out.pieces_present, 3);
	/* Never more than the object has. */
	cr_assert_eq(cb_index_pieces_raise(ix, r.id, 7, 100), 0);
	cb_index_lookup(ix, r.id, &out);
	cr_assert_eq(out.pieces_present, 8);
	/* Another process mapping the file sees the same count. */
	other = cb_index_attach(path);
	cr_assert_not_null(other);
	cr_assert_eq(cb_index_lookup(other, r.id, &out), 0);
	cr_assert_eq(out.pieces_present, 8);
	cb_index_close(other);
	/* Not indexed, or evicted meanwhile. */
	rec_of(6, &missing);
	cr_assert_eq(cb_index_pieces_raise(ix, missing.id, 1, 1), -ENOENT);
	cb_index_lock(ix);
	cb_index_del(ix, r.id);
	cb_index_unlock(ix);
	cr_assert_eq(cb_index_pieces_raise(ix, r.id, 7, 8), -ENOENT);
	/* A new entry for the id (a dropped piece, a new version) sets its own count. */
	r = partial(ix, 5, 9);
	cb_index_lookup(ix, r.id, &out);
	cr_assert_eq(out.pieces_present, 1);
	cb_index_close(ix);
}

struct raise_arg {
	struct cb_index *ix;
	const uint8_t *id;
	unsigned from;
	volatile int stop;
	unsigned went_down;
};

/* Commits of several fetch threads, each reporting its own running total. */
static void *raiser(void *arg)
{
	struct raise_arg *a = arg;

	for (uint32_t n = a->from; n <= 4000; n += 4)
		cb_index_pieces_raise(a->ix, a->id, 1, n);
	return NULL;
}

static void *watcher(void *arg)
{
	struct raise_arg *a = arg;
	struct cb_index_rec out;
	uint32_t last = 0;

	while (!a->stop) {
		if (cb_index_lookup(a->ix, a->id, &out) != 0)
			continue;
		if (out.pieces_present < last)
			a->went_down++;
		last = out.pieces_present;
	}
	return NULL;
}

Test(index, piece_count_never_goes_down_under_concurrent_commits)
{
	struct cb_index *ix = cb_index_create(path, 1024);
	struct raise_arg a[4], w;
	struct cb_index_rec r, out;
	pthread_t t[4], wt;

	rec_of(9, &r);
	r.npieces = 4000;
	cb_index_lock(ix);
	cb_index_put(ix, &r);
	cb_index_unlock(ix);
	w = (struct raise_arg){.ix = ix, .id = r.id};
	pthread_create(&wt, NULL, watcher, &w);
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct raise_arg){.ix = ix, .id = r.id, .from = i + 1};
		pthread_create(&t[i], NULL, raiser, &a[i]);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	w.stop = 1;
	pthread_join(wt, NULL);
	cr_assert_eq(cb_index_lookup(ix, r.id, &out), 0);
	cr_assert_eq(out.pieces_present, 4000);
	cr_assert_eq(w.went_down, 0);
	cb_index_close(ix);
}

/* Start-up failures are errors with errno, and leave no file behind. */
Test(index, create_and_attach_failures_report_errno)
{
	char missing[200], longp[2000];
	struct cb_index *ix;

	snprintf(missing, sizeof(missing), "%s/no/such/dir/index.shm", dir);
	errno = 0;
	cr_assert_null(cb_index_create(missing, 1024));
	cr_assert_eq(errno, ENOENT);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	cr_assert_null(cb_index_create(longp, 1024));
	cr_assert_eq(errno, ENAMETOOLONG);
	cr_assert_null(cb_index_attach(missing));
	cr_assert_eq(errno, ENOENT);
	/* A directory where the file should be: rename fails, the temporary goes. */
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_null(cb_index_create(path, 1024));
	cr_assert_eq(errno, EISDIR);
	cr_assert_eq(rmdir(path), 0);
	cr_assert_eq(rmdir(dir), 0, "no temporary file was left in %s", dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	ix = cb_index_create(path, 1024);
	cr_assert_not_null(ix);
	cb_index_close(ix);
}
