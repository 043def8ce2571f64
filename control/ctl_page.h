/*
 * The status page of metrics_listen (ctl_page.c): the bandwidth history the
 * main thread samples, and the JSON and HTML the metrics jobs answer.
 */
#ifndef CTL_PAGE_H
#define CTL_PAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CTL_PAGE_STEP_S	    5	 /* one sample every 5 s */
#define CTL_PAGE_SAMPLES    120	 /* the last 10 minutes */
#define CTL_PAGE_REFRESH_MS 2000 /* how often the page reads /status.json */

struct ctl_sample {
	int64_t t;	  /* unix time */
	uint64_t served;  /* object body bytes served, all workers */
	uint64_t origin;  /* body bytes from origins */
	uint64_t cap_bps; /* the served-bandwidth cap in force then, 0 = none */
	bool business;	  /* inside business hours */
};

/* A ring of samples: written by the main thread, read by metrics jobs, under mu. */
struct ctl_history {
	pthread_mutex_t mu;
	unsigned head, n;
	uint64_t last_ns, started_ns;
	struct ctl_sample s[CTL_PAGE_SAMPLES];
};

struct ctl;
void ctl_page_init(struct ctl_history *h);
void ctl_page_tick(struct ctl *ctl);
json_t *ctl_page_json(struct ctl *ctl);

extern const char *const ctl_page_html;
extern const size_t ctl_page_html_len;

#endif
