/* Client slots (see st_slots.h). */
#include "st_slots.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { E_FREE, E_ACTIVE, E_WAITING };

struct entry {
	uint8_t addr[16];
	int state;
	unsigned refs;	/* requests being served */
	unsigned waits; /* requests waiting */
	uint64_t ticket;
	uint64_t idle_since; /* refs last went to 0, or the slot was granted */
	uint64_t tat_ns;     /* per-client bandwidth bucket */
};

struct st_slots {
	pthread_mutex_t lock;
	unsigned cap, hw; /* entries in use are below the high-water mark hw */
	unsigned active, queued;
	uint64_t next_ticket;
	struct entry *e;
};

struct st_slots *st_slots_new(unsigned capacity)
{
	struct st_slots *s = calloc(1, sizeof(*s));
	int ret = -ENOMEM;

	if (!s)
		return NULL;
	s->e = calloc(capacity, sizeof(*s->e));
	if (!s->e)
		goto fail;
	ret = -pthread_mutex_init(&s->lock, NULL);
	if (ret)
		goto fail;
	s->cap = capacity;
	return s;
fail:
	free(s->e);
	free(s);
	errno = -ret;
	return NULL;
}

void st_slots_free(struct st_slots *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->e);
	free(s);
}

static void release(struct st_slots *s, struct entry *e)
{
	if (e->state == E_ACTIVE)
		s->active--;
	else if (e->state == E_WAITING)
		s->queued--;
	e->state = E_FREE;
	while (s->hw && s->e[s->hw - 1].state == E_FREE)
		s->hw--;
}

/* Grants free slots to the longest-waiting clients. */
static unsigned promote(struct st_slots *s, unsigned max_clients, uint64_t now)
{
	unsigned n = 0;

	while (s->active < max_clients && s->queued) {
		struct entry *best = NULL;

		for (unsigned i = 0; i < s->hw; i++)
			if (s->e[i].state == E_WAITING && (!best || s->e[i].ticket < best->ticket))
				best = &s->e[i];
		if (!best)
			break; /* not reached: queued counts the waiting entries */
		best->state = E_ACTIVE;
		best->idle_since = now;
		s->queued--;
		s->active++;
		n++;
	}
	return n;
}

int st_slots_enter(struct st_slots *s, const uint8_t addr[16], unsigned max_clients, uint64_t now,
		   int *h)
{
	struct entry *e = NULL, *hole = NULL;
	int ret;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->hw; i++) {
		if (s->e[i].state == E_FREE) {
			if (!hole)
				hole = &s->e[i];
		} else if (memcmp(s->e[i].addr, addr, 16) == 0) {
			e = &s->e[i];
			break;
		}
	}
	if (!e) {
		if (!hole && s->hw == s->cap) {
			pthread_mutex_unlock(&s->lock);
			return ST_SLOT_FULL;
		}
		e = hole ? hole : &s->e[s->hw++];
		memset(e, 0, sizeof(*e));
		memcpy(e->addr, addr, 16);
		/* A newcomer never overtakes a waiting client. */
		if (s->active < max_clients && s->queued == 0) {
			e->state = E_ACTIVE;
			s->active++;
		} else {
			e->state = E_WAITING;
			e->ticket = s->next_ticket++;
			s->queued++;
		}
	}
	if (e->state == E_ACTIVE) {
		e->refs++;
		ret = ST_SLOT_GRANTED;
	} else {
		e->waits++;
		ret = ST_SLOT_QUEUED;
	}
	(void)now;
	*h = (int)(e - s->e);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int st_slots_poll(struct st_slots *s, int h)
{
	struct entry *e = &s->e[h];
	int ret = ST_SLOT_QUEUED;

	pthread_mutex_lock(&s->lock);
	if (e->state == E_ACTIVE) {
		e->waits--;
		e->refs++;
		ret = ST_SLOT_GRANTED;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void st_slots_leave(struct st_slots *s, int h, uint64_t now)
{
	struct entry *e = &s->e[h];

	pthread_mutex_lock(&s->lock);
	if (e->refs && --e->refs == 0)
		e->idle_since = now;
	pthread_mutex_unlock(&s->lock);
}

void st_slots_cancel(struct st_slots *s, int h, uint64_t now)
{
	struct entry *e = &s->e[h];

	pthread_mutex_lock(&s->lock);
	if (e->waits && --e->waits == 0 && e->refs == 0) {
		if (e->state == E_WAITING)
			release(s, e); /* leaves the queue */
		else
			e->idle_since = now; /* granted too late: lingers, then frees */
	}
	pthread_mutex_unlock(&s->lock);
}

unsigned st_slots_expire(struct st_slots *s, unsigned max_clients, uint64_t now)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->hw; i++) {
		struct entry *e = &s->e[i];

		if (e->state == E_ACTIVE && e->refs == 0 && e->waits == 0 &&
		    now - e->idle_since >= ST_SLOT_LINGER_NS)
			release(s, e);
	}
	n = promote(s, max_clients, now);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void st_slots_counts(struct st_slots *s, unsigned *active, unsigned *queued)
{
	pthread_mutex_lock(&s->lock);
	*active = s->active;
	*queued = s->queued;
	pthread_mutex_unlock(&s->lock);
}

uint64_t *st_slots_bucket(struct st_slots *s, int h)
{
	return &s->e[h].tat_ns;
}
