/*
 * cachebox-fetch: downloads an origin URL through the branch's cache hosts,
 * the way a Delivery Optimization client uses a Connected Cache. main()
 * parses the options, gathers the cache hosts (cf_sources.c: the list, DHCP,
 * discovery) and orders them, runs the download (cf_fetch.c) and prints the
 * summary; its exit code says how it ended (cf_args.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cb_common.h"
#include "cf_args.h"
#include "cf_dhcp.h"
#include "cf_fetch.h"
#include "cf_hosts.h"
#include "cf_report.h"
#include "cf_sources.h"
#include "dp_codec.h"
#include "st_url.h"

/* The content ID of url: SHA-256 of its cache key, as the box computes it. */
static int content_id(const char *url, uint8_t id[32], char *name, size_t namecap)
{
	CURLU *u = curl_url();
	char *host = NULL, *path = NULL, key[ST_KEY_MAX];
	const char *slash;
	int n, ret = -EINVAL;

	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || curl_url_get(u, CURLUPART_PATH, &path, 0))
		goto out;
	n = st_cache_key(host, strlen(host), path, strlen(path), NULL, 0, false, key, sizeof(key));
	if (n < 0)
		goto out;
	st_content_id(key, (size_t)n, id);
	slash = strrchr(path, '/');
	snprintf(name, namecap, "%s", slash && slash[1] ? slash + 1 : "index.html");
	ret = 0;
out:
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
	return ret;
}

static void print_hosts(const struct cf_host *v, size_t n, const struct cf_dhcp *dhcp)
{
	char g[DP_GUID_TEXT];

	if (!n)
		printf("no cache host: the origin only\n");
	for (size_t i = 0; i < n; i++)
		printf("%zu %s %s\n", i + 1, v[i].base, v[i].from);
	if (dhcp->has_hosts)
		printf("dhcp option 235 %s (%s)\n", dhcp->hosts, dhcp->via);
	if (dhcp->has_group) {
		dp_guid_format(dhcp->group, g);
		printf("dhcp option 234 group %s (%s)\n", g, dhcp->via);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	cf_fetch_interrupted = 1;
}

/* SIGINT and SIGTERM end the download cleanly (cf_fetch.h); no SA_RESTART, so a wait ends. */
static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
	static struct cf_host hosts[CF_HOSTS_MAX];
	static struct cf_dhcp dhcp;
	char err[512] = "", name[256];
	struct cf_summary sum;
	struct cf_opts o;
	uint8_t id[32];
	size_t n = 0;
	int ret;

	switch (cf_args_parse(argc, argv, &o, err, sizeof(err))) {
	case CF_ARGS_OK:
		break;
	case CF_ARGS_HELP:
		cf_args_usage(stdout);
		return CF_EXIT_OK;
	case CF_ARGS_VERSION:
		printf("cachebox-fetch %s\n", CF_VERSION);
		return CF_EXIT_OK;
	default:
		fprintf(stderr, "cachebox-fetch: %s\nTry 'cachebox-fetch --help'.\n", err);
		return CF_EXIT_USAGE;
	}
	if (content_id(o.url, id, name, sizeof(name)) < 0) {
		fprintf(stderr, "cachebox-fetch: %s: the URL's host or path is not valid\n", o.url);
		return CF_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "cachebox-fetch: libcurl did not start\n");
		return CF_EXIT_GENERIC;
	}
	ret = cf_sources_gather(&o, id, hosts, CF_HOSTS_MAX, &n, &dhcp, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "cachebox-fetch: %s\n", err);
		goto out;
	}
	if (o.print_hosts) {
		print_hosts(hosts, n, &dhcp);
		goto out;
	}
	catch_signals();
	ret = cf_fetch_run(&o, o.out ? o.out : name, hosts, n, id, &sum, err, sizeof(err));
	if (o.json)
		cf_report_json(stdout, &sum, hosts, n, ret, err);
	if (ret)
		fprintf(stderr, "cachebox-fetch: %s\n", err);
	else if (!o.quiet && !o.json)
		cf_report_line(stderr, &sum, hosts, n);
out:
	curl_global_cleanup();
	return ret;
}
