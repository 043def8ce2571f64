/* SIEVE (control/ctl_sieve.c): insertion, hits, the hand's order, pinned entries. */
#include <criterion/criterion.h>

#include "ctl_sieve.h"

#define N 8

static struct ctl_sieve_node node[N];
static struct ctl_sieve s;

static void fill(int n)
{
	ctl_sieve_init(&s, node, N);
	for (int i = 0; i < n; i++)
		ctl_sieve_insert(&s, i);
}

/* The victim, removed as the caller does after a successful eviction. */
static int32_t evict(void)
{
	int32_t v = ctl_sieve_victim(&s);

	if (v >= 0)
		ctl_sieve_remove(&s, v);
	return v;
}

Test(sieve, empty_has_no_victim)
{
	fill(0);
	cr_assert_eq(ctl_sieve_victim(&s), -1);
	cr_assert_eq(s.count, 0);
}

Test(sieve, insertion_order_without_hits_is_fifo)
{
	fill(4);
	cr_assert_eq(s.count, 4);
	cr_assert_eq(s.head, 3);
	cr_assert_eq(s.tail, 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(evict(), i);
	cr_assert_eq(evict(), -1);
}

/*
 * Hand-computed: 0 1 2 3 inserted (0 oldest), 0 and 2 requested. The hand
 * starts at 0: visited, cleared; 1 is the victim, the hand stops at 2.
 * 2: cleared; 3 is the victim, the hand falls off the newest end. It wraps
 * to 0 (cleared before): victim. Then 2 (cleared): victim.
 */
Test(sieve, hand_computed_example)
{
	fill(4);
	ctl_sieve_hit(&s, 0);
	ctl_sieve_hit(&s, 2);
	cr_assert_eq(evict(), 1);
	cr_assert_eq(s.hand, 2);
	cr_assert_eq(evict(), 3);
	cr_assert_eq(s.hand, -1);
	cr_assert_eq(evict(), 0);
	cr_assert_eq(evict(), 2);
	cr_assert_eq(evict(), -1);
}

Test(sieve, a_hit_spares_once)
{
	fill(3);
	ctl_sieve_hit(&s, 0);
	cr_assert_eq(evict(), 1);
	ctl_sieve_insert(&s, 5); /* the newest, unvisited */
	cr_assert_eq(s.head, 5);
	cr_assert_eq(evict(), 2);
	cr_assert_eq(evict(), 5);
	cr_assert_eq(evict(), 0); /* its bit was cleared by the first walk */
}

Test(sieve, pinned_entries_are_passed_over)
{
	fill(3);
	node[0].pinned = 1;
	node[1].pinned = 1;
	ctl_sieve_hit(&s, 0);
	cr_assert_eq(evict(), 2);
	cr_assert_eq(ctl_sieve_victim(&s), -1, "only pinned entries left");
	cr_assert(node[0].visited, "a pinned entry keeps its bit");
	node[1].pinned = 0;
	cr_assert_eq(evict(), 1);
}

Test(sieve, removing_the_entry_at_the_hand_moves_it_newer)
{
	fill(4);
	ctl_sieve_hit(&s, 0);
	cr_assert_eq(ctl_sieve_victim(&s), 1);
	ctl_sieve_remove(&s, 1);
	cr_assert_eq(s.hand, 2);
	ctl_sieve_remove(&s, 2); /* e.g. its eviction by another caller */
	cr_assert_eq(s.hand, 3);
	cr_assert_eq(evict(), 3);
	cr_assert_eq(s.count, 1);
	cr_assert_eq(s.head, 0);
	cr_assert_eq(s.tail, 0);
}

Test(sieve, a_resumed_hand_starts_there)
{
	fill(4);
	s.hand = 2;
	cr_assert_eq(evict(), 2);
	cr_assert_eq(evict(), 3);
	cr_assert_eq(evict(), 0);
}
