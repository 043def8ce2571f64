/*
 * Options 234 and 235 out of the lease state that DHCP clients keep, read
 * without privileges: dhclient's lease file (blocks `lease { ... }`, the
 * newest last, values quoted text with octal escapes or colon-separated
 * hex), systemd-networkd's lease file (`OPTION_<code>=<hex>` for the
 * private options 224-254, or the JSON of later systemd versions) and the
 * NAME=VALUE lines of `dhcpcd -U`. Each value is then cleaned the one way
 * (cf_dhcp_take, cf_dhcp_value.c). No I/O here.
 */
#include "cf_dhcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cb_common.h"

void cf_dhcp_names_default(struct cf_dhcp_names *names)
{
	snprintf(names->group, sizeof(names->group), "cachebox-group");
	snprintf(names->hosts, sizeof(names->hosts), "cachebox-hosts");
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The next line of [*p, end) without its newline, blanks trimmed at both ends. */
static bool next_line(const char **p, const char *end, const char **ls, const char **le)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	*ls = *p;
	*le = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	while (*ls < *le && is_blank(**ls))
		(*ls)++;
	while (*le > *ls && is_blank((*le)[-1]))
		(*le)--;
	return true;
}

/* The next blank-separated word of [*p, end). */
static bool next_word(const char **p, const char *end, const char **ws, size_t *wl)
{
	while (*p < end && is_blank(**p))
		(*p)++;
	*ws = *p;
	while (*p < end && !is_blank(**p))
		(*p)++;
	*wl = (size_t)(*p - *ws);
	return *wl > 0;
}

static bool word_is(const char *w, size_t wl, const char *s)
{
	return wl == strlen(s) && !memcmp(w, s, wl);
}

/*
 * dhclient.conf: `option NAME code 235 = TYPE;`. dhcpcd.conf: `define 235
 * TYPE NAME`, whose variable name has `_` for `-`.
 */
void cf_dhcp_names_from_conf(const char *buf, size_t len, bool dhcpcd, struct cf_dhcp_names *names)
{
	const char *p = buf, *end = buf + len, *ls, *le;

	while (next_line(&p, end, &ls, &le)) {
		const char *w[5], *q = ls;
		size_t wl[5], nw = 0, code_at = dhcpcd ? 1 : 3, name_at = dhcpcd ? 3 : 1;
		char *dst, code[8];

		while (nw < 5 && next_word(&q, le, &w[nw], &wl[nw]))
			nw++;
		if (nw < 4 || !word_is(w[0], wl[0], dhcpcd ? "define" : "option") ||
		    (!dhcpcd && !word_is(w[2], wl[2], "code")) || wl[code_at] >= sizeof(code))
			continue;
		memcpy(code, w[code_at], wl[code_at]);
		code[wl[code_at]] = 0;
		if (!strcmp(code, "234"))
			dst = names->group;
		else if (!strcmp(code, "235"))
			dst = names->hosts;
		else
			continue;
		if (wl[name_at] >= CF_DHCP_NAME_MAX)
			continue;
		memcpy(dst, w[name_at], wl[name_at]);
		dst[wl[name_at]] = 0;
	}
}

/* Three octal digits at s (s has at least 3 bytes): their value, or -1. */
static int octal3(const char *s)
{
	int v = 0;

	for (int i = 0; i < 3; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		v = v * 8 + (s[i] - '0');
	}
	return v <= 255 ? v : -1;
}

/*
 * Text from [s, e): quoted with q ('"' or '\''; 0: not quoted) or not,
 * backslash escapes (\ooo octal, \c the character) outside single quotes.
 * Into out (cap bytes); the byte count, or -EINVAL.
 */
static int unescape(const char *s, const char *e, char q, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (q) {
		if (e - s < 2 || *s != q || e[-1] != q)
			return -EINVAL;
		s++, e--;
	}
	while (s < e) {
		int c = (unsigned char)*s++;

		if (c == '\\' && q != '\'') {
			if (s == e)
				return -EINVAL;
			c = e - s >= 3 ? octal3(s) : -1;
			if (c >= 0)
				s += 3;
			else
				c = (unsigned char)*s++;
		}
		if (n == cap)
			return -EINVAL;
		out[n++] = (uint8_t)c;
	}
	return (int)n;
}

/* dhclient's colon-separated hex (each byte 1 or 2 digits) into out. */
static int colon_hex(const char *s, const char *e, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (s < e) {
		int hi = cb_hex_digit(*s++), lo;

		if (hi < 0 || n == cap)
			return -EINVAL;
		if (s < e && *s != ':') {
			lo = cb_hex_digit(*s++);
			if (lo < 0)
				return -EINVAL;
			hi = hi * 16 + lo;
		}
		out[n++] = (uint8_t)hi;
		if (s < e && *s++ != ':')
			return -EINVAL;
		if (s == e && e[-1] == ':')
			return -EINVAL;
	}
	return n ? (int)n : -EINVAL;
}

/* Which option NAME (wl bytes) is: 234, 235 or 0. sep is '-' (dhclient) or '_' (dhcpcd). */
static unsigned which(const char *w, size_t wl, const struct cf_dhcp_names *names, char sep)
{
	char unk[16];

	for (unsigned code = CF_DHCP_OPT_GROUP; code <= CF_DHCP_OPT_HOSTS; code++) {
		const char *name = code == CF_DHCP_OPT_GROUP ? names->group : names->hosts;
		size_t nl = strlen(name), i;

		snprintf(unk, sizeof(unk), "unknown%c%u", sep, code);
		if (word_is(w, wl, unk))
			return code;
		if (nl != wl)
			continue;
		for (i = 0; i < nl; i++) /* dhcpcd's variable: the name with '_' for '-' */
			if (w[i] != name[i] && !(sep == '_' && name[i] == '-' && w[i] == '_'))
				break;
		if (i == nl)
			return code;
	}
	return 0;
}

/* One `option NAME VALUE;` line (after "option ") of a dhclient lease block into blk. */
static int dhclient_option(const char *p, const char *le, const struct cf_dhcp_names *names,
			   struct cf_dhcp *blk)
{
	uint8_t val[CF_DHCP_HOSTS_MAX];
	const char *w;
	size_t wl;
	unsigned code;
	int n;

	if (!next_word(&p, le, &w, &wl) || !(code = which(w, wl, names, '-')))
		return 0;
	while (p < le && is_blank(*p))
		p++;
	if (le == p || le[-1] != ';')
		return -EINVAL;
	le--;
	n = *p == '"' ? unescape(p, le, '"', val, sizeof(val)) : colon_hex(p, le, val, sizeof(val));
	if (n < 0)
		return n;
	return cf_dhcp_take(blk, code, val, (size_t)n);
}

/*
 * A lease's `expire` (after "expire "): dhclient writes "W YYYY/MM/DD
 * HH:MM:SS;" in UTC, "epoch N; # ..." with db-time-format local, or
 * "never;". The time in seconds since the epoch, INT64_MAX for never, or 0
 * when it does not parse (the lease is then not judged by its expiry).
 */
static int64_t dhclient_expire(const char *p, const char *le)
{
	char t[64];
	long long e;
	struct tm tm = {0};
	int w;

	snprintf(t, sizeof(t), "%.*s", (int)CB_MIN((size_t)(le - p), sizeof(t) - 1), p);
	if (!strncmp(t, "never", 5))
		return INT64_MAX;
	if (sscanf(t, "epoch %lld", &e) == 1)
		return e > 0 ? (int64_t)e : 0;
	if (sscanf(t, "%d %d/%d/%d %d:%d:%d", &w, &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

int cf_dhcp_parse_dhclient(const char *buf, size_t len, const char *iface,
			   const struct cf_dhcp_names *names, int64_t now, struct cf_dhcp *out)
{
	const char *p = buf, *end = buf + len, *ls, *le;
	struct cf_dhcp blk;
	bool in = false, mine = false, found = false, expired = false;
	int bad = 0, ret = -ENOENT;

	while (next_line(&p, end, &ls, &le)) {
		size_t n = (size_t)(le - ls);

		if (!in) {
			if (n >= 5 && !memcmp(ls, "lease", 5) && le[-1] == '{') {
				memset(&blk, 0, sizeof(blk));
				in = true, mine = !iface, bad = 0, expired = false;
			}
			continue;
		}
		if (n == 1 && *ls == '}') {
			in = false;
			if (mine && !expired) { /* the newest lease of the interface so far */
				found = true;
				ret = blk.has_hosts || blk.has_group ? 0 : bad ? bad : -ENOENT;
				out->has_hosts = blk.has_hosts, out->has_group = blk.has_group;
				memcpy(out->hosts, blk.hosts, sizeof(out->hosts));
				memcpy(out->group, blk.group, sizeof(out->group));
			}
		} else if (n > 7 && !memcmp(ls, "option ", 7)) {
			int r = dhclient_option(ls + 7, le, names, &blk);

			if (r < 0)
				bad = r;
		} else if (now && n > 7 && !memcmp(ls, "expire ", 7)) {
			int64_t e = dhclient_expire(ls + 7, le);

			expired = e && e <= now;
		} else if (iface && n > 10 && !memcmp(ls, "interface ", 10)) {
			char want[80];

			snprintf(want, sizeof(want), "interface \"%s\";", iface);
			mine = strlen(want) == n && !memcmp(ls, want, n);
		}
	}
	return found ? ret : -ENOENT;
}

/* The JSON lease of systemd 257 and later: Private_Options [{Option, Data (hex)}]. */
static int networkd_json(const char *buf, size_t len, struct cf_dhcp *out)
{
	json_t *root = json_loadb(buf, len, 0, NULL), *opts, *o;
	uint8_t val[CF_DHCP_HOSTS_MAX];
	int ret = -ENOENT;
	size_t i;

	if (!root)
		return -EINVAL;
	opts = json_object_get(root, "Private_Options");
	json_array_foreach(opts, i, o)
	{
		json_int_t code = json_integer_value(json_object_get(o, "Option"));
		const char *hex = json_string_value(json_object_get(o, "Data"));
		size_t hl = hex ? strlen(hex) : 0;

		if (code != CF_DHCP_OPT_GROUP && code != CF_DHCP_OPT_HOSTS)
			continue;
		if (!hex || hl % 2 || hl / 2 > sizeof(val) || cb_hex_decode(hex, hl, val) < 0 ||
		    cf_dhcp_take(out, (unsigned)code, val, hl / 2) < 0) {
			ret = -EINVAL;
			goto out;
		}
		ret = 0;
	}
out:
	json_decref(root);
	return ret;
}

int cf_dhcp_parse_networkd(const char *buf, size_t len, struct cf_dhcp *out)
{
	const char *p = buf, *end = buf + len, *ls, *le;
	uint8_t val[CF_DHCP_HOSTS_MAX];
	int ret = -ENOENT;

	while (p < end && is_blank(*p))
		p++;
	if (p < end && *p == '{')
		return networkd_json(buf, len, out);
	/* systemd's env file: KEY=VALUE, OPTION_%u=<hex> (dhcp_lease_save()) */
	while (next_line(&p, end, &ls, &le)) {
		size_t hl;
		unsigned code;

		if (le - ls < 11 || memcmp(ls, "OPTION_23", 9) || ls[10] != '=')
			continue;
		code = ls[9] == '4' ? CF_DHCP_OPT_GROUP : ls[9] == '5' ? CF_DHCP_OPT_HOSTS : 0;
		if (!code)
			continue;
		ls += 11;
		hl = (size_t)(le - ls);
		if (hl % 2 || hl / 2 > sizeof(val) || cb_hex_decode(ls, hl, val) < 0 ||
		    cf_dhcp_take(out, code, val, hl / 2) < 0)
			return -EINVAL;
		ret = 0;
	}
	return ret;
}

int cf_dhcp_parse_dhcpcd(const char *buf, size_t len, const struct cf_dhcp_names *names,
			 struct cf_dhcp *out)
{
	const char *p = buf, *end = buf + len, *ls, *le, *eq;
	uint8_t val[CF_DHCP_HOSTS_MAX];
	int ret = -ENOENT;

	while (next_line(&p, end, &ls, &le)) {
		unsigned code;
		int n;

		eq = memchr(ls, '=', (size_t)(le - ls));
		if (!eq || !(code = which(ls, (size_t)(eq - ls), names, '_')))
			continue;
		eq++;
		n = unescape(eq, le, eq < le && (*eq == '\'' || *eq == '"') ? *eq : 0, val,
			     sizeof(val));
		if (n < 0 || cf_dhcp_take(out, code, val, (size_t)n) < 0)
			return -EINVAL;
		ret = 0;
	}
	return ret;
}
