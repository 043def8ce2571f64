/*
 * SIEVE (Zhang et al., NSDI '24), the eviction policy that ships, as one
 * plain-C module with no shared-memory dependency: cachebox-control's
 * eviction (ctl_evict.c) and the simulator that chose it (bench/evictsim.c)
 * run this same code, so the policy measured is the policy shipped.
 *
 * The queue is intrusive over a caller's array of nodes (an entry is its
 * index): a FIFO by insertion, head = newest, tail = oldest. A hit only
 * sets the entry's visited bit. To find a victim the hand walks from where
 * it stopped (the tail at first) towards the newest, wrapping to the tail,
 * clearing visited bits as it passes; the first unvisited, unpinned entry
 * is the victim, and the hand stays just after it (the next newer entry).
 * Pinned entries are passed over and keep their bit. LRU is not here: the
 * simulator keeps an access-ordered list while control sorts a snapshot by
 * last use, two shapes with no common code worth a module.
 */
#ifndef CTL_SIEVE_H
#define CTL_SIEVE_H

#include <stdbool.h>
#include <stdint.h>

struct ctl_sieve_node {
	int32_t prev, next; /* prev: the next newer entry; -1 = none */
	uint8_t in;	    /* in the queue */
	uint8_t visited;
	uint8_t pinned;
};

struct ctl_sieve {
	struct ctl_sieve_node *node; /* the caller's, one per entry */
	int32_t head, tail;	     /* newest, oldest; -1 = empty */
	int32_t hand;		     /* where the next walk starts; -1 = the tail (a
				      * caller may set it to resume an earlier walk) */
	uint32_t count;
};

/* An empty queue over node[0..n) (all marked out of the queue). */
void ctl_sieve_init(struct ctl_sieve *s, struct ctl_sieve_node *node, uint32_t n);
/* Inserts entry i (not in the queue) as the newest, unvisited. */
void ctl_sieve_insert(struct ctl_sieve *s, int32_t i);
/* A request for entry i (in the queue): sets its visited bit. */
void ctl_sieve_hit(struct ctl_sieve *s, int32_t i);
/* Takes entry i out of the queue; a hand on it moves to the next newer one. */
void ctl_sieve_remove(struct ctl_sieve *s, int32_t i);
/*
 * Chooses the victim and moves the hand past it, without removing it (the
 * caller removes it when the eviction succeeded). -1 when the queue is
 * empty or every entry is pinned.
 */
int32_t ctl_sieve_victim(struct ctl_sieve *s);

#endif
