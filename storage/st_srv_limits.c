/*
 * The file server's limits, as control publishes them in policy.shm:
 * admission of a request to one of max_clients client slots (or a wait in
 * the queue, or a 503), the monthly upload cap, the slot tick that frees
 * lingering slots and publishes the live counts, and the bandwidth caps
 * (global and per client), which a connection waits for in its worker's
 * FIFO so every capped connection gets its turn. Body bytes are counted
 * here into the served and monthly totals as they go.
 */
#include "st_srv.h"

#include "cb_log.h"
#include "st_slots.h"

/*
 * Object body bytes sent since last counted go into the served total, by
 * source (the cache for a HIT, an origin for a MISS or PARTIAL, as the
 * access log says), and into the month's upload: at the end of a response,
 * and every sweep while a long one runs, so stats and the monthly cap see
 * a big download as it goes. Only answers that carry an object (its
 * bytes, a multipart body of them, its pieces list) count: the bodies of
 * errors, health checks and 503s are ours, not the cache's, and no upload
 * the caps are about.
 */
void st_srv_count_served(struct worker *w, struct conn *c)
{
	uint64_t d = c->body_sent > c->counted ? c->body_sent - c->counted : 0;

	if (!d || !c->obj)
		return;
	c->counted += d;
	w->stats->bytes_served += d;
	if (c->result == RESULT_HIT)
		w->stats->bytes_cache += d;
	else
		w->stats->bytes_fill += d;
	cb_policy_add_month(w->srv->conf.pol, w->month, d);
}

/* Reads the policy control published, and what it means at this minute. */
void st_srv_policy_refresh(struct worker *w)
{
	unsigned minute;

	cb_policy_read(w->srv->conf.pol, &w->pv);
	cb_policy_now(&minute, &w->month);
	w->rate = cb_policy_rate_at(&w->pv, minute);
	w->rate_client = w->pv.rate_client_bps;
}

/* Frees lingering slots, hands them to waiters, publishes the counts. */
void st_srv_slots_tick(struct worker *w)
{
	struct cb_policy_live *live = cb_policy_live(w->srv->conf.pol);
	unsigned active, queued;

	if (st_slots_expire(w->srv->slots, w->pv.max_clients, cb_now_ns()))
		st_srv_notify(w->srv); /* waiting requests on any worker look again */
	st_slots_counts(w->srv->slots, &active, &queued);
	__atomic_store_n(&live->active_clients, active, __ATOMIC_RELAXED);
	__atomic_store_n(&live->queued_clients, queued, __ATOMIC_RELAXED);
	if (w->idx == 0) {
		struct st_fill_stats fs;

		st_fill_stats_get(w->srv->fm, &fs);
		__atomic_store_n(&live->origin_bytes, fs.bytes_filled, __ATOMIC_RELAXED);
		__atomic_store_n(&live->origin_requests, fs.origin_requests, __ATOMIC_RELAXED);
		__atomic_store_n(&live->origin_retries, fs.origin_retries, __ATOMIC_RELAXED);
		__atomic_store_n(&live->fills_started, fs.fills_started, __ATOMIC_RELAXED);
		__atomic_store_n(&live->fills_done, fs.fills_done, __ATOMIC_RELAXED);
		__atomic_store_n(&live->fills_failed, fs.fills_failed, __ATOMIC_RELAXED);
		__atomic_store_n(&live->corrupt_pieces, st_objcache_corrupt_pieces(w->srv->conf.oc),
				 __ATOMIC_RELAXED);
	}
}

/*
 * A 503 for want of a client slot (the queue wait ran out, or the queue is
 * full). Counted in rejected_busy; logged at most once per
 * BUSY_LOG_INTERVAL_NS per worker, with how many there were since the last
 * line, so a crowd of clients cannot flood the log.
 */
static void answer_busy(struct worker *w, struct conn *c, bool head, uint64_t retry,
			const char *why)
{
	struct cb_policy_live *live = cb_policy_live(w->srv->conf.pol);
	uint64_t now = cb_now_ns();

	__atomic_add_fetch(&live->rejected_busy, 1, __ATOMIC_RELAXED);
	w->busy_unlogged++;
	if (!w->last_busy_log || now - w->last_busy_log >= BUSY_LOG_INTERVAL_NS) {
		cb_info("%s: answered 503 %llu times since the last such line (%u client "
			"slots, queue timeout %llu ms)",
			why, (unsigned long long)w->busy_unlogged, w->pv.max_clients,
			(unsigned long long)w->pv.queue_timeout_ms);
		w->last_busy_log = now;
		w->busy_unlogged = 0;
	}
	c->result = RESULT_BUSY;
	st_srv_resp_busy(w, c, head, retry, why);
}

/*
 * The slot limit and the monthly cap, before anything is looked up: true
 * when the request may go on; false when it waits (parked) or got a 503.
 */
bool st_srv_admit(struct worker *w, struct conn *c, bool head)
{
	struct cb_policy_live *live = cb_policy_live(w->srv->conf.pol);
	uint64_t now = cb_now_ns(), retry = CB_MAX(1, w->pv.queue_timeout_ms / 1000);
	int r;

	if (c->slot_held)
		return true;
	if (c->slot_waiting) {
		if (st_slots_poll(w->srv->slots, c->slot) == ST_SLOT_GRANTED) {
			c->slot_waiting = false;
			c->slot_held = true;
			return true;
		}
		if (now < c->wait_until) {
			c->park = PARK_SLOT; /* still waiting; the deadline stands */
			return false;
		}
		st_slots_cancel(w->srv->slots, c->slot, now);
		c->slot_waiting = false;
		answer_busy(w, c, head, retry, "busy: every client slot is taken");
		return false;
	}
	if (w->pv.monthly_cap &&
	    cb_policy_month_bytes(w->srv->conf.pol, w->month) >= w->pv.monthly_cap) {
		__atomic_add_fetch(&live->rejected_cap, 1, __ATOMIC_RELAXED);
		if (now - w->last_cap_log > CAP_LOG_INTERVAL_NS || !w->last_cap_log) {
			w->last_cap_log = now;
			cb_warn("monthly upload cap reached (%llu bytes this month): answering 503 "
				"until the month ends or the cap is raised",
				(unsigned long long)w->pv.monthly_cap);
		}
		c->result = RESULT_CAPPED;
		st_srv_resp_busy(w, c, head, 3600, "monthly upload cap reached");
		return false;
	}
	r = st_slots_enter(w->srv->slots, c->addr, w->pv.max_clients, now, &c->slot);
	if (r == ST_SLOT_GRANTED) {
		c->slot_held = true;
		return true;
	}
	if (r == ST_SLOT_FULL) {
		answer_busy(w, c, head, retry, "busy: the client queue is full");
		return false;
	}
	c->slot_waiting = true;
	c->wait_until = now + w->pv.queue_timeout_ms * 1000000ull;
	st_srv_park(w, c, PARK_SLOT);
	st_srv_deadline_set(w, c,
			    w->pv.queue_timeout_ms + w->srv->conf.cfg->server.idle_timeout_ms);
	return false;
}

/* The response is over (or the connection): its slot reference or wait goes. */
void st_srv_slot_release(struct worker *w, struct conn *c)
{
	if (c->slot_held)
		st_slots_leave(w->srv->slots, c->slot, cb_now_ns());
	if (c->slot_waiting)
		st_slots_cancel(w->srv->slots, c->slot, cb_now_ns());
	c->slot_held = c->slot_waiting = false;
	c->bw_credit = 0;
	c->bw_turn = false;
}

static void bwq_push(struct worker *w, struct conn *c, bool front)
{
	c->bw_queued = true;
	if (front) {
		c->bwq_next = w->bwq_head;
		w->bwq_head = c;
		if (!w->bwq_tail)
			w->bwq_tail = c;
		return;
	}
	c->bwq_next = NULL;
	if (w->bwq_tail)
		w->bwq_tail->bwq_next = c;
	else
		w->bwq_head = c;
	w->bwq_tail = c;
}

void st_srv_bwq_remove(struct worker *w, struct conn *c)
{
	struct conn **pp = &w->bwq_head, *prev = NULL;

	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->bwq_next;
	}
	if (*pp) {
		*pp = c->bwq_next;
		if (w->bwq_tail == c)
			w->bwq_tail = prev;
	}
	c->bw_queued = false;
}

/*
 * Bandwidth caps: how many of `ready` bytes may be issued now. Takes a
 * quantum from the global bucket and the client's. When they are empty, or
 * other connections of this worker already wait, the connection joins the
 * worker's FIFO and parks: st_srv_bw_resume lets the head try again when the
 * buckets allow, so every capped connection gets its turn.
 */
uint64_t st_srv_bw_limit(struct worker *w, struct conn *c, uint64_t ready)
{
	uint64_t now, g, wait_g = 0, wait_c = 0;
	struct cb_policy_live *live;

	if (!w->rate && !w->rate_client)
		return ready;
	if (c->bw_credit)
		return CB_MIN(ready, c->bw_credit);
	if (w->bwq_head && !c->bw_turn) {
		bwq_push(w, c, false); /* others are first */
		st_srv_park(w, c, PARK_BW);
		return 0;
	}
	live = cb_policy_live(w->srv->conf.pol);
	now = cb_now_ns();
	g = cb_bucket_take(&live->tat_ns, w->rate, ready, now, &wait_g);
	if (g && w->rate_client && c->slot_held) {
		uint64_t gc = cb_bucket_take(st_slots_bucket(w->srv->slots, c->slot),
					     w->rate_client, g, now, &wait_c);

		cb_bucket_refund(&live->tat_ns, w->rate, g - gc);
		g = gc;
	}
	if (!g) {
		__atomic_add_fetch(&live->throttled, 1, __ATOMIC_RELAXED);
		bwq_push(w, c, c->bw_turn); /* keeps its turn at the head */
		c->bw_turn = false;
		/*
		 * Wake a little after the buckets allow this take, when they hold
		 * more: the waiting connections then go in one burst, not one
		 * grant at a time (each wake-up of a worker and of the clients it
		 * feeds costs more than the bytes it moves).
		 */
		wait_g = CB_MAX(wait_g, wait_c) + BW_BATCH_NS;
		if (!w->bw_next || now + wait_g < w->bw_next)
			w->bw_next = now + wait_g;
		st_srv_park(w, c, PARK_BW);
		return 0;
	}
	c->bw_turn = false;
	c->bw_credit = g;
	return CB_MIN(ready, g);
}

void st_srv_bw_used(struct conn *c, uint64_t n)
{
	c->bw_credit -= CB_MIN(c->bw_credit, n);
}

/* The buckets may allow more: the waiting connections go on, in order. */
void st_srv_bw_resume(struct worker *w)
{
	uint64_t now = cb_now_ns();

	if (!w->bwq_head || (w->bw_next && now < w->bw_next))
		return;
	w->bw_next = 0;
	while (w->bwq_head && !w->bw_next) {
		struct conn *c = w->bwq_head;

		st_srv_bwq_remove(w, c);
		if (c->closing || c->park != PARK_BW)
			continue;
		c->bw_turn = true;
		c->park = PARK_NONE;
		st_srv_send_next(w, c); /* takes, or is queued again at the head with bw_next set */
		if (c->closing && c->pending == 0)
			st_srv_conn_free(w, c);
	}
}
