/* Shared index: put/lookup/delete, probing through tombstones, capacity, rebuild. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "st_index.h"

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

static void rec_of(unsigned i, struct st_index_rec *r)
{
	char key[64];

	memset(r, 0, sizeof(*r));
	snprintf(key, sizeof(key), "h/%u", i);
	st_content_id(key, strlen(key), r->id);
	r->size = i;
	r->gen = 1;
	r->piece_size = 1 << 20;
}

TestSuite(index, .init = setup, .fini = teardown);

Test(index, put_lookup_delete)
{
	struct st_index *ix = st_index_create(path, 1024);
	struct st_index_rec r, out;

	cr_assert_not_null(ix);
	for (unsigned i = 0; i < 500; i++) {
		rec_of(i, &r);
		st_index_lock(ix);
		cr_assert_eq(st_index_put(ix, &r), 0);
		st_index_unlock(ix);
	}
	cr_assert_eq(st_index_count(ix), 500);
	for (unsigned i = 0; i < 500; i += 2) {
		rec_of(i, &r);
		st_index_lock(ix);
		cr_assert_eq(st_index_del(ix, r.id), 0);
		cr_assert_eq(st_index_del(ix, r.id), -ENOENT);
		st_index_unlock(ix);
	}
	for (unsigned i = 0; i < 500; i++) {
		rec_of(i, &r);
		if (i % 2) {
			cr_assert_eq(st_index_lookup(ix, r.id, &out), 0, "odd %u still there", i);
			cr_assert_eq(out.size, i);
		} else {
			cr_assert_eq(st_index_lookup(ix, r.id, &out), -ENOENT);
		}
	}
	/* Replacing keeps one entry. */
	rec_of(1, &r);
	r.gen = 2;
	st_index_lock(ix);
	cr_assert_eq(st_index_put(ix, &r), 0);
	st_index_unlock(ix);
	cr_assert_eq(st_index_count(ix), 250);
	cr_assert_eq(st_index_lookup(ix, r.id, &out), 0);
	cr_assert_eq(out.gen, 2);
	st_index_close(ix);
}

Test(index, full_table_refuses)
{
	struct st_index *ix = st_index_create(path, 1024);
	struct st_index_rec r;
	int ret = 0;
	unsigned i;

	st_index_lock(ix);
	for (i = 0; i < 2000 && ret == 0; i++) {
		rec_of(i, &r);
		ret = st_index_put(ix, &r);
	}
	st_index_unlock(ix);
	cr_assert_eq(ret, -ENOSPC);
	cr_assert(i > 900, "filled to 90%% before refusing (%u)", i);
	st_index_close(ix);
}

Test(index, attach_sees_the_same_entries_and_rejects_garbage)
{
	struct st_index *a = st_index_create(path, 1024), *b;
	struct st_index_rec r, out;
	FILE *f;

	rec_of(7, &r);
	st_index_lock(a);
	st_index_put(a, &r);
	st_index_unlock(a);
	b = st_index_attach(path);
	cr_assert_not_null(b);
	cr_assert_eq(st_index_lookup(b, r.id, &out), 0);
	st_index_close(b);
	st_index_close(a);
	f = fopen(path, "r+");
	fputs("garbage", f);
	fclose(f);
	cr_assert_null(st_index_attach(path));
	cr_assert_eq(errno, EPROTO);
}

struct race {
	struct st_index *ix;
	volatile int stop;
	unsigned torn;
};

static void *reader(void *arg)
{
	struct race *rc = arg;
	struct st_index_rec r, out;

	rec_of(3, &r);
	while (!rc->stop) {
		if (st_index_lookup(rc->ix, r.id, &out) == 0 && out.size != out.gen * 1000)
			rc->torn++;
	}
	return NULL;
}

Test(index, readers_never_see_a_torn_entry)
{
	struct race rc = {.ix = st_index_create(path, 1024)};
	struct st_index_rec r;
	pthread_t t;

	pthread_create(&t, NULL, reader, &rc);
	for (unsigned g = 1; g < 200000; g++) {
		rec_of(3, &r);
		r.gen = g;
		r.size = g * 1000ull;
		st_index_lock(rc.ix);
		st_index_put(rc.ix, &r);
		st_index_unlock(rc.ix);
	}
	rc.stop = 1;
	pthread_join(t, NULL);
	cr_assert_eq(rc.torn, 0);
	st_index_close(rc.ix);
}
