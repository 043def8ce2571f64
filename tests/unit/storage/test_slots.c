/* Client slots: the limit, one slot per address, FIFO hand-over, linger, no leaks. */
#include <criterion/criterion.h>
#include <string.h>

#include "st_slots.h"

#define MS 1000000ull

static void addr_of(unsigned i, uint8_t a[16])
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 127;
	a[15] = (uint8_t)i;
}

static void counts(struct st_slots *s, unsigned *a, unsigned *q)
{
	st_slots_counts(s, a, q);
}

Test(slots, limit_and_per_address)
{
	struct st_slots *s = st_slots_new(16);
	uint8_t a[16];
	unsigned act, q;
	int h[8];

	for (unsigned i = 1; i <= 3; i++) {
		addr_of(i, a);
		cr_assert_eq(st_slots_enter(s, a, 3, 0, &h[i]), ST_SLOT_GRANTED);
	}
	/* A second connection of client 2: the same slot, granted at once. */
	addr_of(2, a);
	cr_assert_eq(st_slots_enter(s, a, 3, 0, &h[5]), ST_SLOT_GRANTED);
	cr_assert_eq(h[5], h[2]);
	addr_of(4, a);
	cr_assert_eq(st_slots_enter(s, a, 3, 0, &h[4]), ST_SLOT_QUEUED);
	counts(s, &act, &q);
	cr_assert_eq(act, 3);
	cr_assert_eq(q, 1);
	st_slots_free(s);
}

Test(slots, linger_then_fifo_handover)
{
	struct st_slots *s = st_slots_new(16);
	uint8_t a[16];
	unsigned act, q;
	int h[8];

	for (unsigned i = 1; i <= 3; i++) {
		addr_of(i, a);
		cr_assert_eq(st_slots_enter(s, a, 3, 0, &h[i]), ST_SLOT_GRANTED);
	}
	for (unsigned i = 4; i <= 6; i++) { /* arrive in order 4, 5, 6 */
		addr_of(i, a);
		cr_assert_eq(st_slots_enter(s, a, 3, i, &h[i]), ST_SLOT_QUEUED);
	}
	st_slots_leave(s, h[2], 10 * MS);
	/* Lingering: a new request of client 2 keeps its slot. */
	cr_assert_eq(st_slots_expire(s, 3, 10 * MS + ST_SLOT_LINGER_NS - 1), 0);
	addr_of(2, a);
	cr_assert_eq(st_slots_enter(s, a, 3, 20 * MS, &h[7]), ST_SLOT_GRANTED);
	st_slots_leave(s, h[7], 20 * MS);
	cr_assert_eq(st_slots_poll(s, h[4]), ST_SLOT_QUEUED);
	/* Past the linger: the slot goes to the longest waiter, client 4. */
	cr_assert_eq(st_slots_expire(s, 3, 20 * MS + ST_SLOT_LINGER_NS), 1);
	cr_assert_eq(st_slots_poll(s, h[5]), ST_SLOT_QUEUED);
	cr_assert_eq(st_slots_poll(s, h[6]), ST_SLOT_QUEUED);
	cr_assert_eq(st_slots_poll(s, h[4]), ST_SLOT_GRANTED);
	/* A newcomer never overtakes waiters, even when a slot is free. */
	st_slots_leave(s, h[1], 30 * MS);
	st_slots_expire(s, 3, 30 * MS + ST_SLOT_LINGER_NS); /* goes to 5 */
	addr_of(9, a);
	cr_assert_eq(st_slots_enter(s, a, 3, 31 * MS, &h[0]), ST_SLOT_QUEUED);
	cr_assert_eq(st_slots_poll(s, h[5]), ST_SLOT_GRANTED);
	counts(s, &act, &q);
	cr_assert_eq(act, 3);
	cr_assert_eq(q, 2);
	st_slots_free(s);
}

Test(slots, cancel_and_no_leak)
{
	struct st_slots *s = st_slots_new(8);
	uint8_t a[16];
	unsigned act, q;
	int h[8], x;

	addr_of(1, a);
	cr_assert_eq(st_slots_enter(s, a, 1, 0, &h[1]), ST_SLOT_GRANTED);
	addr_of(2, a);
	cr_assert_eq(st_slots_enter(s, a, 1, 0, &h[2]), ST_SLOT_QUEUED);
	cr_assert_eq(st_slots_enter(s, a, 1, 0, &x), ST_SLOT_QUEUED); /* 2nd connection */
	st_slots_cancel(s, h[2], 0);
	counts(s, &act, &q);
	cr_assert_eq(q, 1, "one wait of client 2 is left");
	st_slots_cancel(s, x, 0);
	counts(s, &act, &q);
	cr_assert_eq(q, 0);
	/* Granted to a waiter that then gave up: freed after the linger. */
	addr_of(3, a);
	cr_assert_eq(st_slots_enter(s, a, 1, 0, &h[3]), ST_SLOT_QUEUED);
	st_slots_leave(s, h[1], 0);
	cr_assert_eq(st_slots_expire(s, 1, ST_SLOT_LINGER_NS), 1);
	st_slots_cancel(s, h[3], ST_SLOT_LINGER_NS);
	st_slots_expire(s, 1, 2 * ST_SLOT_LINGER_NS);
	counts(s, &act, &q);
	cr_assert_eq(act, 0);
	cr_assert_eq(q, 0);
	/* Every entry is reusable: fill the table, empty it, fill it again. */
	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < 8; i++) {
			addr_of(10 + i, a);
			cr_assert_geq(st_slots_enter(s, a, 8, 0, &h[i]), 0);
		}
		addr_of(99, a);
		cr_assert_eq(st_slots_enter(s, a, 8, 0, &x), ST_SLOT_FULL);
		for (unsigned i = 0; i < 8; i++)
			st_slots_leave(s, h[i], 0);
		st_slots_expire(s, 8, ST_SLOT_LINGER_NS);
		counts(s, &act, &q);
		cr_assert_eq(act + q, 0);
	}
	st_slots_free(s);
}

Test(slots, lowered_limit_drains)
{
	struct st_slots *s = st_slots_new(8);
	uint8_t a[16];
	unsigned act, q;
	int h[4];

	for (unsigned i = 0; i < 3; i++) {
		addr_of(i, a);
		cr_assert_eq(st_slots_enter(s, a, 3, 0, &h[i]), ST_SLOT_GRANTED);
	}
	addr_of(7, a);
	cr_assert_eq(st_slots_enter(s, a, 1, 0, &h[3]), ST_SLOT_QUEUED, "limit now 1");
	st_slots_leave(s, h[0], 0);
	cr_assert_eq(st_slots_expire(s, 1, ST_SLOT_LINGER_NS), 0, "still 2 served > 1");
	counts(s, &act, &q);
	cr_assert_eq(act, 2);
	cr_assert_eq(q, 1);
	st_slots_free(s);
}
