/*
 * Cache host lists and their order. A list item is NAME[:PORT] as
 * DOCacheHost takes it, an IPv6 address in brackets, or a URL prefix
 * http:// or https:// (HTTPS to the box, checked against --cacert). HRW:
 * each host's score is the first 8 bytes of SHA-256(content id || "name:port")
 * and hosts are tried highest first, so every client ranks the boxes the same
 * way for one object, each object lands on one box, and taking a box away
 * changes the order only for the objects it ranked first.
 */
#include "cf_hosts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "cb_common.h"

void cf_host_set_base(struct cf_host *h)
{
	bool v6 = strchr(h->name, ':') != NULL;

	snprintf(h->base, sizeof(h->base), "%s://%s%s%s:%u", h->https ? "https" : "http",
		 v6 ? "[" : "", h->name, v6 ? "]" : "", h->port);
}

static bool name_ok(const char *s, size_t len, bool v6)
{
	if (!len || len >= CF_HOST_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || cb_is_digit(c) ||
		      c == '-' || c == '.' || c == '_' || (v6 && (c == ':' || c == '%'))))
			return false;
	}
	return true;
}

/* One item s[0..len) into h; -EINVAL with the reason. */
static int parse_item(const char *s, size_t len, struct cf_host *h, char *err, size_t errlen)
{
	const char *item = s, *end = s + len, *name, *name_end, *p;
	bool v6 = false;

	memset(h, 0, sizeof(*h));
	h->port = CF_HOST_PORT;
	if (len > 8 && !strncasecmp(s, "https://", 8))
		h->https = true, s += 8;
	else if (len > 7 && !strncasecmp(s, "http://", 7))
		s += 7;
	if (end > s && end[-1] == '/')
		end--;
	if (s < end && *s == '[') {
		name = s + 1;
		name_end = memchr(name, ']', (size_t)(end - name));
		if (!name_end)
			goto bad;
		p = name_end + 1;
		v6 = true;
	} else {
		name = s;
		name_end = memchr(s, ':', (size_t)(end - s));
		if (!name_end)
			name_end = end;
		p = name_end;
	}
	if (!name_ok(name, (size_t)(name_end - name), v6))
		goto bad;
	memcpy(h->name, name, (size_t)(name_end - name));
	if (p < end) {
		unsigned long port = 0;

		if (*p++ != ':' || p == end || end - p > 5)
			goto bad;
		for (; p < end; p++) {
			if (!cb_is_digit(*p))
				goto bad;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (!port || port > 65535)
			goto bad;
		h->port = (uint16_t)port;
	}
	cf_host_set_base(h);
	return 0;
bad:
	snprintf(err, errlen, "cache host '%.*s': expected NAME[:PORT] or [IPv6][:PORT]", (int)len,
		 item);
	return -EINVAL;
}

int cf_hosts_parse(const char *list, const char *from, struct cf_host *v, size_t cap, size_t *n,
		   char *err, size_t errlen)
{
	const char *s = list;

	while (*s) {
		const char *e = strchr(s, ','), *a = s, *b;
		struct cf_host h;

		if (!e)
			e = s + strlen(s);
		b = e;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (a < b) {
			bool dup = false;

			if (parse_item(a, (size_t)(b - a), &h, err, errlen) < 0)
				return -EINVAL;
			for (size_t i = 0; i < *n; i++)
				dup |= !strcasecmp(v[i].name, h.name) && v[i].port == h.port;
			if (!dup) {
				if (*n >= cap) {
					snprintf(err, errlen, "more than %zu cache hosts", cap);
					return -EINVAL;
				}
				h.from = from;
				v[(*n)++] = h;
			}
		}
		s = *e ? e + 1 : e;
	}
	return 0;
}

uint64_t cf_host_hrw_score(const struct cf_host *h, const uint8_t id[32])
{
	uint8_t buf[32 + CF_HOST_NAME_MAX + 8], md[SHA256_DIGEST_LENGTH];
	uint64_t score = 0;
	int len;

	memcpy(buf, id, 32);
	len = snprintf((char *)buf + 32, sizeof(buf) - 32, "%s:%u", h->name, h->port);
	SHA256(buf, 32 + (size_t)len, md);
	for (int i = 0; i < 8; i++)
		score = score << 8 | md[i];
	return score;
}

void cf_hosts_order_hrw(struct cf_host *v, size_t n, const uint8_t id[32])
{
	uint64_t score[CF_HOSTS_MAX];

	CB_ASSERT(n <= CF_HOSTS_MAX);
	for (size_t i = 0; i < n; i++)
		score[i] = cf_host_hrw_score(&v[i], id);
	/* Insertion sort, stable: at most CF_HOSTS_MAX hosts. */
	for (size_t i = 1; i < n; i++) {
		struct cf_host h = v[i];
		uint64_t s = score[i];
		size_t j = i;

		for (; j > 0 && score[j - 1] < s; j--) {
			v[j] = v[j - 1];
			score[j] = score[j - 1];
		}
		v[j] = h;
		score[j] = s;
	}
}
