/* SIEVE, the eviction policy of control and of the simulator (see ctl_sieve.h). */
#include "ctl_sieve.h"

#include <assert.h>

void ctl_sieve_init(struct ctl_sieve *s, struct ctl_sieve_node *node, uint32_t n)
{
	s->node = node;
	s->head = s->tail = s->hand = -1;
	s->count = 0;
	for (uint32_t i = 0; i < n; i++) {
		node[i].prev = node[i].next = -1;
		node[i].in = node[i].visited = node[i].pinned = 0;
	}
}

void ctl_sieve_insert(struct ctl_sieve *s, int32_t i)
{
	struct ctl_sieve_node *n = &s->node[i];

	assert(!n->in);
	n->prev = -1;
	n->next = s->head;
	if (s->head >= 0)
		s->node[s->head].prev = i;
	s->head = i;
	if (s->tail < 0)
		s->tail = i;
	n->in = 1;
	n->visited = 0;
	s->count++;
}

void ctl_sieve_hit(struct ctl_sieve *s, int32_t i)
{
	assert(s->node[i].in);
	s->node[i].visited = 1;
}

void ctl_sieve_remove(struct ctl_sieve *s, int32_t i)
{
	struct ctl_sieve_node *n = &s->node[i];

	assert(n->in);
	if (n->prev >= 0)
		s->node[n->prev].next = n->next;
	else
		s->head = n->next;
	if (n->next >= 0)
		s->node[n->next].prev = n->prev;
	else
		s->tail = n->prev;
	if (s->hand == i)
		s->hand = n->prev;
	s->count--;
	n->in = 0;
	n->prev = n->next = -1;
}

int32_t ctl_sieve_victim(struct ctl_sieve *s)
{
	/* Two rounds clear every visited bit; a third finds only pinned entries. */
	uint64_t steps = 2 * (uint64_t)s->count + 1;
	int32_t v;

	if (!s->count)
		return -1;
	v = s->hand >= 0 ? s->hand : s->tail;
	for (; steps; steps--) {
		struct ctl_sieve_node *n = &s->node[v];

		if (!n->pinned && !n->visited) {
			s->hand = n->prev;
			return v;
		}
		if (!n->pinned)
			n->visited = 0;
		v = n->prev >= 0 ? n->prev : s->tail;
	}
	return -1;
}
