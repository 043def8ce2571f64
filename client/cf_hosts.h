/*
 * The cache hosts a download may use, in the order they are tried: parsed
 * from a DOCacheHost-style list (--cache-host, DHCP option 235), added from
 * discovery OFFERs, and ordered as listed or by rendezvous hashing (HRW) of
 * the content ID, so that several boxes in a branch each hold a share of the
 * content and removing one moves only its share. Each host also carries the
 * download's figures for it (bytes, pieces, failures) for the summary.
 */
#ifndef CF_HOSTS_H
#define CF_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_HOSTS_MAX	 16
#define CF_HOST_NAME_MAX 256
#define CF_HOST_PORT	 8003

struct cf_host {
	char name[CF_HOST_NAME_MAX]; /* a DNS name, IPv4, or IPv6 without brackets */
	uint16_t port;
	bool https;
	bool id_form;			  /* from discovery: ask /_cachebox/content/<id> */
	const char *from;		  /* "listed", "dhcp", "discovery": a static string */
	char base[CF_HOST_NAME_MAX + 24]; /* "http://name:port", IPv6 bracketed */
	/* the download's figures */
	bool set_aside;
	char why[128]; /* why it was set aside */
	uint64_t bytes;
	uint32_t pieces_ok, pieces_failed, retries;
};

/*
 * Appends the hosts of a comma-separated list ("name[:port]", "[v6][:port]",
 * "http://..." or "https://..."; blanks around items ignored) to v[*n..cap).
 * A host already in v is skipped. 0, or -EINVAL with the reason in err.
 */
int cf_hosts_parse(const char *list, const char *from, struct cf_host *v, size_t cap, size_t *n,
		   char *err, size_t errlen);

/* Fills h->base from its name, port and scheme. */
void cf_host_set_base(struct cf_host *h);

/* The HRW score of host h for content id: the higher, the earlier it is tried. */
uint64_t cf_host_hrw_score(const struct cf_host *h, const uint8_t id[32]);

/* Sorts v[0..n) by HRW score for id, highest first (ties: as listed). */
void cf_hosts_order_hrw(struct cf_host *v, size_t n, const uint8_t id[32]);

#endif
