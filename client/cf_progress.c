/*
 * Progress output. The rate is an exponential average over the redraws so
 * that the ETA does not jump with every piece; the bar fits 80 columns.
 */
#include "cf_progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cb_common.h"

void cf_progress_init(struct cf_progress *p, bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->quiet = quiet;
	p->tty = isatty(STDERR_FILENO) == 1;
	p->t0_ns = p->last_ns = cb_now_ns();
}

static void human(double v, char *out, size_t cap)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (v >= 1024 && u + 1 < CB_ARRAY_SIZE(unit))
		v /= 1024, u++;
	snprintf(out, cap, u ? "%.1f%s" : "%.0f%s", v, unit[u]);
}

void cf_progress_show(struct cf_progress *p, uint64_t done, uint64_t size, uint64_t from_cache,
		      const char *source, bool final)
{
	uint64_t now = cb_now_ns(), every = p->tty ? 200000000ull : 5000000000ull;
	char d[16], s[16], r[16], eta[48] = "--:--";
	double dt = (double)(now - p->last_ns) / 1e9;
	int pct = size ? (int)(done * 100 / size) : 100;
	int cache = done ? (int)(from_cache * 100 / done) : 0;

	if (p->quiet || (!final && now - p->last_ns < every))
		return;
	if (dt > 0 && done >= p->last_bytes) {
		double inst = (double)(done - p->last_bytes) / dt;

		p->rate = p->rate ? 0.7 * p->rate + 0.3 * inst : inst;
	}
	if (final)
		p->rate = (double)done / CB_MAX((double)(now - p->t0_ns) / 1e9, 1e-3);
	p->last_ns = now;
	p->last_bytes = done;
	human((double)done, d, sizeof(d));
	human((double)size, s, sizeof(s));
	human(p->rate, r, sizeof(r));
	if (p->rate > 1 && size > done) {
		uint64_t left = (uint64_t)((double)(size - done) / p->rate);

		snprintf(eta, sizeof(eta), "%llu:%02llu", (unsigned long long)(left / 60),
			 (unsigned long long)(left % 60));
	}
	if (p->tty) {
		char bar[21];
		int fill = pct / 5;

		memset(bar, '=', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(20 - fill));
		bar[20] = 0;
		fprintf(stderr, "\r[%s] %3d%% %9s/%-9s %9s/s ETA %-6s cache %3d%% %-12.12s", bar,
			pct, d, s, r, eta, cache, source);
		p->drawn = true;
		if (final)
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "%3d%% %s of %s, %s/s, ETA %s, %d%% from the cache, from %s\n", pct,
			d, s, r, eta, cache, source);
	}
	fflush(stderr);
}
