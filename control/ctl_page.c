/*
 * The status page: GET / on [control] metrics_listen answers a
 * self-contained HTML page (control/status.html, compiled in: no external
 * asset, a branch network may have none) which reads GET /status.json
 * every few seconds. That JSON carries the very object `cacheboxctl stats
 * --json` prints (ctl_stats_collect, the one stats table), and beside it
 * what only a page needs: the served and origin byte counters sampled every
 * CTL_PAGE_STEP_S seconds for the last minutes (the bandwidth graph against
 * the cap in force), the incomplete objects with their pieces, and each
 * process's pid, uptime, restarts and last exit.
 */
#include "ctl.h"
#include "ctl_figures.h"
#include "ctl_page.h"
#include "ctl_status_html.h"

#include "cb_common.h"
#include "cb_policy.h"
#include "cb_shm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const ctl_page_html = CTL_STATUS_HTML;
const size_t ctl_page_html_len = sizeof(CTL_STATUS_HTML) - 1;

void ctl_page_init(struct ctl_history *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	h->started_ns = cb_now_ns();
}

/* Main thread, each turn of the loop: one sample every CTL_PAGE_STEP_S. */
void ctl_page_tick(struct ctl *ctl)
{
	struct ctl_history *h = &ctl->hist;
	uint64_t now = cb_now_ns(), served = 0;
	struct cb_policy_vals pv;
	struct ctl_sample *s;
	unsigned minute;
	uint32_t month;

	if (!ctl->ix || !ctl->pol || (h->n && now - h->last_ns < CTL_PAGE_STEP_S * 1000000000ull))
		return;
	for (unsigned i = 0; i < CB_MAX_WORKERS; i++)
		served += cb_index_stats(ctl->ix, i)->bytes_served;
	cb_policy_read(ctl->pol, &pv);
	cb_policy_now(&minute, &month);
	pthread_mutex_lock(&h->mu);
	s = &h->s[h->head];
	s->t = (int64_t)time(NULL);
	s->served = served;
	s->origin = cb_policy_live(ctl->pol)->origin_bytes;
	s->cap_bps = cb_policy_rate_at(&pv, minute);
	s->business = cb_policy_in_business_hours(&pv, minute);
	h->head = (h->head + 1) % CTL_PAGE_SAMPLES;
	if (h->n < CTL_PAGE_SAMPLES)
		h->n++;
	h->last_ns = now;
	pthread_mutex_unlock(&h->mu);
}

static json_t *history_json(struct ctl_history *h)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	pthread_mutex_lock(&h->mu);
	for (unsigned k = 0; k < h->n; k++) {
		const struct ctl_sample *s =
			&h->s[(h->head + CTL_PAGE_SAMPLES - h->n + k) % CTL_PAGE_SAMPLES];

		json_array_append_new(arr, json_pack("[I,I,I,I,b]", (json_int_t)s->t,
						     (json_int_t)s->served, (json_int_t)s->origin,
						     (json_int_t)s->cap_bps, s->business));
	}
	pthread_mutex_unlock(&h->mu);
	return json_pack("{s:i, s:[s,s,s,s,s], s:o}", "step_s", CTL_PAGE_STEP_S, "columns", "time",
			 "bytes_served", "bytes_from_origin", "cap_bps", "business_hours",
			 "samples", arr);
}

static json_t *fills_json(const struct ctl_figures *f, const struct ctl_fills *fl)
{
	json_t *arr = json_array();
	uint64_t ended = f->fills_done + f->fills_failed;

	for (unsigned i = 0; arr && i < fl->n; i++) {
		const struct ctl_fill_obj *o = &fl->o[i];

		json_array_append_new(
			arr, json_pack("{s:s, s:o, s:I, s:I, s:I, s:I}", "id", o->id_hex, "key",
				       ctl_json_text(o->key ? o->key : "?"), "size",
				       (json_int_t)o->size, "pieces", (json_int_t)o->npieces,
				       "present", (json_int_t)o->present, "last_access",
				       (json_int_t)o->last_access));
	}
	return json_pack("{s:I, s:I, s:o*}", "in_progress",
			 (json_int_t)(f->fills_started > ended ? f->fills_started - ended : 0),
			 "incomplete_objects", (json_int_t)fl->incomplete, "objects", arr);
}

/* One supervised process: its pid (0: not running), uptime, restarts, last exit. */
static json_t *child_json(const struct child *ch, bool enabled)
{
	pid_t pid = ctl_child_pid(ch);
	uint64_t started = __atomic_load_n(&ch->started_ns, __ATOMIC_RELAXED);
	char last[64];

	ctl_status_text(__atomic_load_n(&ch->last_status, __ATOMIC_RELAXED), last, sizeof(last));
	return json_pack(
		"{s:s, s:b, s:i, s:b, s:I, s:i, s:s}", "name", ch->name, "enabled", enabled, "pid",
		(int)pid, "running", pid > 0, "uptime_s",
		(json_int_t)(pid > 0 && started ? (cb_now_ns() - started) / 1000000000ull : 0),
		"restarts", (int)ctl_child_restarts(ch), "last_exit", last);
}

static json_t *processes_json(struct ctl *ctl)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	json_array_append_new(
		arr, json_pack("{s:s, s:b, s:i, s:b, s:I, s:i, s:s}", "name", "cachebox-control",
			       "enabled", 1, "pid", (int)getpid(), "running", 1, "uptime_s",
			       (json_int_t)((cb_now_ns() - ctl->hist.started_ns) / 1000000000ull),
			       "restarts", 0, "last_exit", ""));
	json_array_append_new(arr, child_json(&ctl->storage, true));
	json_array_append_new(arr, child_json(&ctl->dataplane, ctl->dp_supervised));
	return arr;
}

/* /status.json; ctl->lock held for reading. NULL when out of memory. */
json_t *ctl_page_json(struct ctl *ctl)
{
	struct ctl_figures *f = malloc(sizeof(*f));
	struct ctl_fills *fl = malloc(sizeof(*fl));
	const struct cfg *c = ctl->cfg;
	json_t *j = NULL;

	if (f && fl && ctl_stats_collect(ctl, f, fl) == 0) {
		j = json_pack("{s:i, s:I, s:i, s:{s:s, s:i}, s:o*, s:o*, s:o*, s:o*}", "version", 1,
			      "time", (json_int_t)time(NULL), "refresh_ms", CTL_PAGE_REFRESH_MS,
			      "box", "listen", c->server.listen.host, "port",
			      (int)c->server.listen.port, "stats", ctl_figures_json(f), "history",
			      history_json(&ctl->hist), "fills", fills_json(f, fl), "processes",
			      processes_json(ctl));
		ctl_figures_fini(f);
		ctl_fills_fini(fl);
	}
	free(f);
	free(fl);
	return j;
}
