/*
 * DHCP options 235 (the cache hosts, DOCacheHost-style) and 234 (the
 * discovery group) without privileges: first from the lease state a DHCP
 * client already keeps (dhclient's lease file, systemd-networkd's lease
 * file, dhcpcd's lease file or `dhcpcd -4 -U IF`), then from our own
 * DHCPINFORM (RFC 2131 §3.4),
 * which a server answers with the options asked for in option 55. The
 * parsers do no I/O, so the unit tests drive them with real samples;
 * cf_dhcp_find() is the one function that reads files, runs dhcpcd and
 * sends packets.
 */
#ifndef CF_DHCP_H
#define CF_DHCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_DHCP_OPT_GROUP 234
#define CF_DHCP_OPT_HOSTS 235
#define CF_DHCP_HOSTS_MAX 1024 /* option 235's text, NUL included */
#define CF_DHCP_NAME_MAX  64

struct cf_dhcp {
	char hosts[CF_DHCP_HOSTS_MAX]; /* option 235, cleaned; parse with cf_hosts_parse */
	bool has_hosts;
	uint8_t group[16]; /* option 234: the GUID's bytes in text order */
	bool has_group;
	char via[320]; /* "dhclient lease /path", "networkd lease /path", "dhcpcd", "DHCPINFORM" */
};

/*
 * The names a client's configuration gave options 234 and 235 (dhclient's
 * `option NAME code 235 = text;`, dhcpcd's `define 235 string NAME`). The
 * defaults are cachebox-group and cachebox-hosts (dhcpcd: `_` for `-`).
 */
struct cf_dhcp_names {
	char group[CF_DHCP_NAME_MAX], hosts[CF_DHCP_NAME_MAX];
};

/* names = the defaults. */
void cf_dhcp_names_default(struct cf_dhcp_names *names);
/*
 * Takes the names declared for 234 and 235 in a dhclient.conf (buf, len
 * bytes) or a dhcpcd.conf (dhcpcd = true) into names; others unchanged.
 */
void cf_dhcp_names_from_conf(const char *buf, size_t len, bool dhcpcd, struct cf_dhcp_names *names);

/*
 * Option 235's value (len bytes as sent or as a lease file kept them) to
 * text in out: blanks and quotes around it and trailing NULs removed. 0;
 * -EINVAL when nothing is left, or a NUL or control byte is inside;
 * -E2BIG when it does not fit in cap.
 */
int cf_dhcp_opt235_clean(const uint8_t *v, size_t len, char *out, size_t cap);
/*
 * Option 234's value: 16 raw bytes, or a text GUID with or without braces
 * (quotes, blanks and trailing NULs removed as for 235). 0 or -EINVAL.
 */
int cf_dhcp_opt234(const uint8_t *v, size_t len, uint8_t group[16]);

/*
 * Sets out's hosts or group from option code's value (other codes ignored).
 * 0, or the error of cf_dhcp_opt235_clean/cf_dhcp_opt234 (out unchanged).
 */
int cf_dhcp_take(struct cf_dhcp *out, unsigned code, const uint8_t *v, size_t len);

/*
 * dhclient's lease file: the last `lease { ... }` block (of interface iface
 * when not NULL) that has not expired at now (seconds since the epoch; 0:
 * expiry not checked). Options are `option NAME "text";` or `option NAME
 * xx:xx:...;`, NAME being names' or unknown-234 / unknown-235. 0 when that
 * block holds 234 or 235, -ENOENT when not, -EINVAL when a value is bad.
 */
int cf_dhcp_parse_dhclient(const char *buf, size_t len, const char *iface,
			   const struct cf_dhcp_names *names, int64_t now, struct cf_dhcp *out);
/*
 * A systemd-networkd lease file (/run/systemd/netif/leases/<ifindex>): the
 * env-style file of systemd up to 256 (`OPTION_235=<hex>`), or the JSON of
 * later versions (`"Private_Options": [{"Option": 235, "Data": "<hex>"}]`).
 * Returns as cf_dhcp_parse_dhclient.
 */
int cf_dhcp_parse_networkd(const char *buf, size_t len, struct cf_dhcp *out);
/*
 * The output of `dhcpcd -4 -U IF`: shell-style NAME=VALUE lines (the value
 * maybe quoted, with backslash escapes), NAME being names' (with `_`) or
 * unknown_234 / unknown_235. Returns as cf_dhcp_parse_dhclient.
 */
int cf_dhcp_parse_dhcpcd(const char *buf, size_t len, const struct cf_dhcp_names *names,
			 struct cf_dhcp *out);

#define CF_DHCP_PKT_MAX 1500
/*
 * A DHCPINFORM (RFC 2131 §3.4, §4.4.3) from ciaddr (network order) with
 * hardware address mac, transaction xid, asking for 234 and 235 (option
 * 55), into buf (cap >= 300). Returns its length or -ENOSPC.
 */
int cf_dhcp_inform_build(uint8_t *buf, size_t cap, uint32_t xid, uint32_t ciaddr,
			 const uint8_t mac[6]);
/*
 * A datagram received for a DHCPINFORM of xid: 0 when it is the DHCPACK to
 * it (BOOTREPLY, xid, the magic cookie, option 53 = 5), with what it
 * carried of 234 and 235 in out (options in `file` and `sname` too when
 * option 52 says so; an option split into several is joined, RFC 3396);
 * -ESRCH when it is not an answer to xid; -EINVAL when it is malformed or
 * not an ACK (a DHCPNAK).
 */
int cf_dhcp_inform_parse(const uint8_t *pkt, size_t len, uint32_t xid, struct cf_dhcp *out);

/*
 * dhcpcd's lease file (/var/lib/dhcpcd/IF.lease: the DHCPACK as received):
 * a BOOTREPLY, the magic cookie, option 53 = 5 or none (BOOTP). Returns as
 * cf_dhcp_parse_dhclient; *lease_s is option 51, the lease time in
 * seconds (UINT32_MAX: infinite; 0 when absent).
 */
int cf_dhcp_parse_bootp(const uint8_t *pkt, size_t len, uint32_t *lease_s, struct cf_dhcp *out);

/*
 * Asks the running dhcpcd with `dhcpcd -4 -U IF` (iface, or each interface
 * but lo), any user may, over its unprivileged socket. Not with dhcpcd 9.x
 * before 9.5.1 and 10.0.0, which with privilege separation serve only the
 * first control client after they start (dhcpcd issue #168): asking would
 * leave the daemon deaf to its owner's later commands (NetworkManager's,
 * the admin's). CACHEBOX_FETCH_DHCPCD names the program (empty: none);
 * CACHEBOX_FETCH_DHCPCD_CONTROL=1 asks whatever the version, =0 never.
 * leases is where the lease files were looked for. 0 with out filled, else
 * -ENOENT with what was done in note.
 */
int cf_dhcp_dhcpcd_ask(const char *iface, const struct cf_dhcp_names *names, const char *leases,
		       char *note, size_t notelen, struct cf_dhcp *out);

/*
 * Sends a DHCPINFORM on iface (NULL: each interface that is up, with an
 * IPv4 address, not loopback) and waits up to wait_ms for the DHCPACK, in
 * two tries. 0 with out filled (via "DHCPINFORM on IF"), -ENOENT when no
 * server answered, or -errno with the reason in err.
 */
int cf_dhcp_inform(const char *iface, int wait_ms, struct cf_dhcp *out, char *err, size_t errlen);

/*
 * Options 234 and 235 for interface iface (NULL: any), from the first
 * source that has either: dhclient's lease files, networkd's lease files,
 * dhcpcd, then a DHCPINFORM waiting up to wait_ms. The places read can be
 * changed for tests with CACHEBOX_FETCH_DHCLIENT_LEASES (a colon list of
 * files), CACHEBOX_FETCH_DHCLIENT_CONF, CACHEBOX_FETCH_NETWORKD_LEASES and
 * CACHEBOX_FETCH_DHCPCD_LEASES (directories), CACHEBOX_FETCH_DHCPCD (the
 * program; empty: not run) and CACHEBOX_FETCH_DHCPCD_CONTROL. 0
 * with out filled; -ENOENT when nothing had them, with the places looked
 * at in err; another -errno with the reason in err.
 */
int cf_dhcp_find(const char *iface, int wait_ms, struct cf_dhcp *out, char *err, size_t errlen);

#endif
