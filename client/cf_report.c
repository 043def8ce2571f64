/*
 * Download summaries. The JSON keeps DO's names for what DO reports
 * (BytesFromCacheServer, BytesFromHttp, BytesFromPeers, TotalBytesDownloaded,
 * PercentPeerCaching, CacheHost, DownloadDuration) and adds per-host figures
 * and the piece counts. PercentPeerCaching counts the cache server's share,
 * as DO's Connected Cache reports do.
 */
#include "cf_report.h"

#include <jansson.h>
#include <string.h>

const struct cf_host *cf_report_main_host(const struct cf_host *hosts, size_t n)
{
	const struct cf_host *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (hosts[i].bytes && (!best || hosts[i].bytes > best->bytes))
			best = &hosts[i];
	return best;
}

static double percent_cache(const struct cf_summary *s)
{
	uint64_t total = s->from_cache + s->from_http;

	return total ? 100.0 * (double)s->from_cache / (double)total : 0;
}

int cf_report_json(FILE *f, const struct cf_summary *s, const struct cf_host *hosts, size_t n,
		   int exit_code, const char *err)
{
	const struct cf_host *main_host = cf_report_main_host(hosts, n);
	json_t *o = json_object(), *hs = json_array();
	int ret;

	if (!o || !hs) {
		json_decref(o);
		json_decref(hs);
		return -1;
	}
	json_object_set_new(o, "BytesFromCacheServer", json_integer((json_int_t)s->from_cache));
	json_object_set_new(o, "BytesFromHttp", json_integer((json_int_t)s->from_http));
	json_object_set_new(o, "BytesFromPeers", json_integer(0));
	json_object_set_new(o, "TotalBytesDownloaded",
			    json_integer((json_int_t)(s->from_cache + s->from_http)));
	json_object_set_new(o, "PercentPeerCaching", json_real(percent_cache(s)));
	json_object_set_new(o, "CacheHost", main_host ? json_string(main_host->base) : json_null());
	json_object_set_new(o, "DownloadDuration", json_real(s->duration_s));
	json_object_set_new(o, "FileSize", json_integer((json_int_t)s->size));
	json_object_set_new(o, "BytesResumed", json_integer((json_int_t)s->resumed));
	json_object_set_new(o, "Pieces", json_integer(s->pieces));
	json_object_set_new(o, "PiecesVerified", json_integer(s->verified));
	json_object_set_new(o, "PiecesUnverified", json_integer(s->unverified));
	json_object_set_new(o, "PiecesFailed", json_integer(s->failed));
	json_object_set_new(o, "PiecesFromHttp", json_integer(s->origin_pieces));
	json_object_set_new(o, "Retries", json_integer(s->retries));
	json_object_set_new(o, "Output", s->output ? json_string(s->output) : json_null());
	json_object_set_new(o, "ExitCode", json_integer(exit_code));
	json_object_set_new(o, "Error", err && *err ? json_string(err) : json_null());
	for (size_t i = 0; i < n; i++) {
		const struct cf_host *h = &hosts[i];

		json_array_append_new(
			hs, json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:o}", "CacheHost", h->base,
				      "Source", h->from, "Bytes", (json_int_t)h->bytes, "PiecesOk",
				      (int)h->pieces_ok, "PiecesFailed", (int)h->pieces_failed,
				      "Retries", (int)h->retries, "SetAside",
				      h->set_aside ? json_string(h->why) : json_null()));
	}
	json_object_set_new(o, "Hosts", hs);
	ret = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(o);
	return ret;
}

void cf_report_line(FILE *f, const struct cf_summary *s, const struct cf_host *hosts, size_t n)
{
	const struct cf_host *main_host = cf_report_main_host(hosts, n);

	fprintf(f,
		"cachebox-fetch: %s: %llu bytes in %.1f s, %.0f%% from the cache%s%s, %u pieces "
		"verified%s\n",
		s->output, (unsigned long long)s->size, s->duration_s, percent_cache(s),
		main_host ? " " : "", main_host ? main_host->base : "", s->verified,
		s->unverified ? " (some without a hash from any box)" : "");
}
