/*
 * Unit tests of the configuration loader (config/cfg.c): the defaults of
 * DESIGN.md, every section and key, every kind of error with its exact
 * "file:line: [section] key: ..." text, the value parsers at their limits
 * (sizes near 2^64 included), and the shipped config/cachebox.conf.
 */
#include "cfg.h"
#include "cb_log.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CB_SOURCE_ROOT
#error "tests/meson.build passes CB_SOURCE_ROOT to this test"
#endif

#define K 1024ull
#define M (1024ull * 1024)
#define G (1024ull * 1024 * 1024)

static char err[512];

static struct cfg *load(const char *text)
{
	err[0] = 'x';
	err[1] = '\0';
	return cfg_load_string("t.conf", text, err, sizeof(err));
}

static struct cfg *load_ok(const char *text)
{
	struct cfg *c = load(text);

	cr_assert_not_null(c, "load failed: %s", err);
	cr_assert_str_empty(err);
	return c;
}

static void load_fails(const char *text, const char *want)
{
	struct cfg *c = load(text);

	cr_assert_null(c, "loaded, expected: %s", want);
	cr_assert_eq(errno, EINVAL);
	cr_assert_str_eq(err, want);
}

TestSuite(cfg);

/* Defaults. */

Test(cfg, defaults)
{
	struct cfg *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	memset(c, 0x5a, sizeof(*c));
	cfg_defaults(c);
	cr_assert_str_eq(c->path, "");
	cr_assert_str_eq(c->appliance.state_dir, "./var");
	cr_assert_eq(c->appliance.log_level, CB_LOG_INFO);
	cr_assert_str_eq(c->server.listen.host, "127.0.0.1");
	cr_assert_eq(c->server.listen.port, 8003);
	cr_assert_eq(c->server.workers, 0);
	cr_assert_str_empty(c->server.tls_cert);
	cr_assert_str_empty(c->server.tls_key);
	cr_assert_eq(c->server.header_timeout_ms, 10000);
	cr_assert_eq(c->server.idle_timeout_ms, 60000);
	cr_assert_eq(c->server.zerocopy_threshold, 0);
	cr_assert_eq(c->server.max_connections, 4096);
	cr_assert_eq(c->server.max_connections_per_client, 1024);
	cr_assert_eq(c->storage.nshards, 1);
	cr_assert_str_eq(c->storage.shards[0], "./var/cache");
	cr_assert_eq(c->storage.piece_size, M);
	cr_assert_eq(c->storage.absolute_max_cache_size, 0);
	cr_assert_eq(c->storage.max_cache_size_percent, 90);
	cr_assert_eq(c->storage.min_free_space, G);
	cr_assert_eq(c->storage.max_cache_age_ms, 0);
	cr_assert_eq(c->storage.min_file_size_to_cache, 0);
	cr_assert_eq(c->storage.index_capacity, 65536);
	cr_assert_eq(c->norigins, 0);
	cr_assert_eq(c->limits.max_clients, 3);
	cr_assert_eq(c->limits.queue_timeout_ms, 30000);
	cr_assert_eq(c->limits.max_bandwidth_served, 0);
	cr_assert_eq(c->limits.max_bandwidth_per_client, 0);
	cr_assert_eq(c->limits.business_start_min, 8 * 60);
	cr_assert_eq(c->limits.business_end_min, 18 * 60);
	cr_assert_eq(c->limits.business_hours_max_bandwidth, 0);
	cr_assert_eq(c->limits.monthly_upload_cap, 0);
	cr_assert(c->discovery.enabled);
	cr_assert_not(c->discovery.backend_dpdk);
	cr_assert_eq(c->discovery.port, 8004);
	cr_assert_str_empty(c->discovery.group_id);
	cr_assert_str_empty(c->discovery.group_key_file);
	cr_assert_str_empty(c->discovery.dpdk_args);
	cr_assert_not(c->discovery.has_address);
	cr_assert_str_empty(c->discovery.advertise.host);
	cr_assert_not(c->discovery.allowed_any);
	cr_assert_eq(c->discovery.nallowed, 0);
	cr_assert_eq(c->discovery.rate_per_source, 100);
	cr_assert_eq(c->discovery.rate_global, 1000000);
	cr_assert_eq(c->discovery.announce_interval_ms, 0);
	cr_assert_eq(c->discovery.auth_window_ms, 30000);
	cr_assert_str_eq(c->control.socket, "./var/control.sock");
	cr_assert_str_empty(c->control.allowed_group);
	cr_assert_str_eq(c->control.metrics_listen.host, "127.0.0.1");
	cr_assert_eq(c->control.metrics_listen.port, 9003);
	free(c);
}

/* The sections of a loaded config other than origins equal those of d. */
static void assert_same_as_defaults(const struct cfg *c)
{
	struct cfg d;

	cfg_defaults(&d);
	cr_assert_eq(memcmp(&c->appliance, &d.appliance, sizeof(d.appliance)), 0);
	cr_assert_eq(memcmp(&c->server, &d.server, sizeof(d.server)), 0);
	cr_assert_eq(memcmp(&c->storage, &d.storage, sizeof(d.storage)), 0);
	cr_assert_eq(memcmp(&c->limits, &d.limits, sizeof(d.limits)), 0);
	cr_assert_eq(memcmp(&c->discovery, &d.discovery, sizeof(d.discovery)), 0);
	cr_assert_eq(memcmp(&c->control, &d.control, sizeof(d.control)), 0);
}

Test(cfg, empty_file_gives_defaults)
{
	struct cfg *c = load_ok("");

	assert_same_as_defaults(c);
	cr_assert_str_eq(c->path, "t.conf");
	cr_assert_eq(c->norigins, 0);
	cfg_free(c);

	c = load_ok("\n; only a comment\n# and another\n\n[server]\n");
	assert_same_as_defaults(c);
	cfg_free(c);
}

Test(cfg, access_log_follows_state_dir)
{
	struct cfg *c = load_ok("[appliance]\nstate_dir = /srv/cb\n");

	cr_assert_str_eq(c->appliance.access_log, "/srv/cb/access.log");
	cfg_free(c);
	c = load_ok("[appliance]\naccess_log = /var/log/cb/access.log\nstate_dir = /srv/cb\n");
	cr_assert_str_eq(c->appliance.access_log, "/var/log/cb/access.log");
	cfg_free(c);
	c = load_ok("[appliance]\naccess_log =\nstate_dir = /srv/cb\nuser = cachebox\n");
	cr_assert_str_eq(c->appliance.access_log, "/srv/cb/access.log");
	cr_assert_str_eq(c->appliance.user, "cachebox");
	cfg_free(c);
}

Test(cfg, shipped_config_loads)
{
	const char *path = CB_SOURCE_ROOT "/config/cachebox.conf";
	struct cfg *c = cfg_load(path, err, sizeof(err));
	const struct cfg_origin *o;

	cr_assert_not_null(c, "%s", err);
	cr_assert_str_eq(c->path, path);
	/* Every key is shown with its default. */
	assert_same_as_defaults(c);
	cr_assert_eq(c->norigins, 1);
	o = cfg_origin_find(c, "localhost", 9);
	cr_assert_not_null(o);
	cr_assert_str_eq(o->upstream, "http://127.0.0.1:8080");
	cr_assert_not(o->upstream_tls);
	cr_assert_str_eq(o->upstream_host, "127.0.0.1");
	cr_assert_eq(o->upstream_port, 8080);
	cr_assert_eq(o->proxy.port, 0);
	cr_assert_not(o->key_query_keep);
	cfg_free(c);
}

/* Every section, every key, no default value. */
Test(cfg, every_key_parsed)
{
	struct cfg *c = load_ok("[appliance]\n"
				"state_dir = /srv/cachebox\n"
				"log_level = debug\n"
				"[server]\n"
				"listen = [::]:443\n"
				"workers = 256\n"
				"tls_cert = /etc/cachebox/cert.pem\n"
				"tls_key = /etc/cachebox/key.pem\n"
				"header_timeout = 1500ms\n"
				"idle_timeout = 2m\n"
				"zerocopy_threshold = 1M\n"
				"max_connections = 1000000\n"
				"max_connections_per_client = 0\n"
				"[storage]\n"
				"shard = /mnt/nvme0/cache\n"
				"piece_size = 64M\n"
				"absolute_max_cache_size = 2T\n"
				"max_cache_size_percent = 100%\n"
				"min_free_space = 10G\n"
				"max_cache_age = 30d\n"
				"min_file_size_to_cache = 4K\n"
				"index_capacity = 1048576\n"
				"[limits]\n"
				"max_clients = 50\n"
				"queue_timeout = 0\n"
				"max_bandwidth_served = 10G\n"
				"max_bandwidth_per_client = 500M\n"
				"business_hours = 7:30-17:45\n"
				"business_hours_max_bandwidth = 100k\n"
				"monthly_upload_cap = 500G\n"
				"[discovery]\n"
				"enabled = no\n"
				"backend = dpdk\n"
				"port = 65535\n"
				"group_id = {0A1B2C3D-4E5F-6a7b-8c9d-0E1F2A3B4C5D}\n"
				"group_key_file = /etc/cachebox/group.key\n"
				"dpdk_args = --vdev=net_af_packet0,iface=eth1 --no-pci\n"
				"[control]\n"
				"socket = /run/cachebox/control.sock\n"
				"allowed_group = cachebox-admin\n"
				"metrics_listen = 10.0.0.1:9100\n");

	cr_assert_str_eq(c->appliance.state_dir, "/srv/cachebox");
	cr_assert_eq(c->appliance.log_level, CB_LOG_DEBUG);
	cr_assert_str_eq(c->server.listen.host, "::");
	cr_assert_eq(c->server.listen.port, 443);
	cr_assert_eq(c->server.workers, 256);
	cr_assert_str_eq(c->server.tls_cert, "/etc/cachebox/cert.pem");
	cr_assert_str_eq(c->server.tls_key, "/etc/cachebox/key.pem");
	cr_assert_eq(c->server.header_timeout_ms, 1500);
	cr_assert_eq(c->server.idle_timeout_ms, 120000);
	cr_assert_eq(c->server.zerocopy_threshold, M);
	cr_assert_eq(c->server.max_connections, 1000000);
	cr_assert_eq(c->server.max_connections_per_client, 0);
	cr_assert_eq(c->storage.nshards, 1);
	cr_assert_str_eq(c->storage.shards[0], "/mnt/nvme0/cache");
	cr_assert_eq(c->storage.piece_size, 64 * M);
	cr_assert_eq(c->storage.absolute_max_cache_size, 2048 * G);
	cr_assert_eq(c->storage.max_cache_size_percent, 100);
	cr_assert_eq(c->storage.min_free_space, 10 * G);
	cr_assert_eq(c->storage.max_cache_age_ms, 30ull * 86400000);
	cr_assert_eq(c->storage.min_file_size_to_cache, 4 * K);
	cr_assert_eq(c->storage.index_capacity, 1048576);
	cr_assert_eq(c->limits.max_clients, 50);
	cr_assert_eq(c->limits.queue_timeout_ms, 0);
	cr_assert_eq(c->limits.max_bandwidth_served, 10000000000ull);
	cr_assert_eq(c->limits.max_bandwidth_per_client, 500000000ull);
	cr_assert_eq(c->limits.business_start_min, 7 * 60 + 30);
	cr_assert_eq(c->limits.business_end_min, 17 * 60 + 45);
	cr_assert_eq(c->limits.business_hours_max_bandwidth, 100000);
	cr_assert_eq(c->limits.monthly_upload_cap, 500 * G);
	cr_assert_not(c->discovery.enabled);
	cr_assert(c->discovery.backend_dpdk);
	cr_assert_eq(c->discovery.port, 65535);
	cr_assert_str_eq(c->discovery.group_id, "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d");
	cr_assert_str_eq(c->discovery.group_key_file, "/etc/cachebox/group.key");
	cr_assert_str_eq(c->discovery.dpdk_args, "--vdev=net_af_packet0,iface=eth1 --no-pci");
	cr_assert_str_eq(c->control.socket, "/run/cachebox/control.sock");
	cr_assert_str_eq(c->control.allowed_group, "cachebox-admin");
	cr_assert_str_eq(c->control.metrics_listen.host, "10.0.0.1");
	cr_assert_eq(c->control.metrics_listen.port, 9100);
	cfg_free(c);
}

Test(cfg, origins)
{
	struct cfg *c = load_ok("[origin Dl.Example.COM]\n"
				"[origin plain.example.net]\n"
				"upstream = http://mirror.example.net\n"
				"[origin v6.example.org]\n"
				"upstream = HTTPS://[2001:DB8::1]:8443/\n"
				"ca_file = /etc/ssl/internal.pem\n"
				"proxy = proxy.corp:3128\n"
				"key_query = keep\n"
				"quota = 100G\n"
				"[origin 10.1.2.3]\n"
				"upstream = https://10.1.2.3:443\n"
				"proxy =\n"
				"ca_file =\n"
				"key_query = drop\n");
	const struct cfg_origin *o;

	cr_assert_eq(c->norigins, 4);

	o = &c->origins[0];
	cr_assert_str_eq(o->host, "dl.example.com");
	cr_assert_str_eq(o->upstream, "https://dl.example.com");
	cr_assert(o->upstream_tls);
	cr_assert_str_eq(o->upstream_host, "dl.example.com");
	cr_assert_eq(o->upstream_port, 443);
	cr_assert_str_empty(o->ca_file);
	cr_assert_eq(o->proxy.port, 0);
	cr_assert_not(o->key_query_keep);
	cr_assert_eq(o->quota, 0);

	o = &c->origins[1];
	cr_assert_str_eq(o->upstream, "http://mirror.example.net");
	cr_assert_not(o->upstream_tls);
	cr_assert_str_eq(o->upstream_host, "mirror.example.net");
	cr_assert_eq(o->upstream_port, 80);

	o = &c->origins[2];
	cr_assert_str_eq(o->upstream, "HTTPS://[2001:DB8::1]:8443", "trailing '/' dropped");
	cr_assert(o->upstream_tls);
	cr_assert_str_eq(o->upstream_host, "2001:db8::1");
	cr_assert_eq(o->upstream_port, 8443);
	cr_assert_str_eq(o->ca_file, "/etc/ssl/internal.pem");
	cr_assert_str_eq(o->proxy.host, "proxy.corp");
	cr_assert_eq(o->proxy.port, 3128);
	cr_assert(o->key_query_keep);
	cr_assert_eq(o->quota, 100 * G);

	o = &c->origins[3];
	cr_assert_str_eq(o->host, "10.1.2.3");
	cr_assert_eq(o->upstream_port, 443);
	cr_assert_eq(o->proxy.port, 0);

	cr_assert_eq(cfg_origin_find(c, "DL.example.com", 14), &c->origins[0]);
	cr_assert_eq(cfg_origin_find(c, "dl.example.com:443", 14), &c->origins[0]);
	cr_assert_null(cfg_origin_find(c, "dl.example.co", 13));
	cr_assert_null(cfg_origin_find(c, "dl.example.comm", 15));
	cr_assert_null(cfg_origin_find(c, "example.com", 11));
	cr_assert_null(cfg_origin_find(c, "", 0));
	cr_assert_null(cfg_origin_find(NULL, "dl.example.com", 14));
	cfg_free(c);
}

/* A cache key names its origin by its part before the first '/'. */
Test(cfg, origin_of_key)
{
	struct cfg *c = load_ok("[origin dl.example.com]\n[origin example.com]\n");
	const char *k = "dl.example.com/a/b.iso";

	cr_assert_eq(cfg_origin_of_key(c, k, strlen(k)), &c->origins[0]);
	cr_assert_eq(cfg_origin_of_key(c, "example.com/", 12), &c->origins[1]);
	/* len bounds the key: the '/' past it is not seen */
	cr_assert_null(cfg_origin_of_key(c, k, 14));
	cr_assert_null(cfg_origin_of_key(c, "dl.example.com", 14));
	cr_assert_null(cfg_origin_of_key(c, "dl.example.co/x", 15));
	cr_assert_null(cfg_origin_of_key(c, "x.dl.example.com/x", 18));
	cr_assert_null(cfg_origin_of_key(c, "/dl.example.com/x", 17));
	cr_assert_null(cfg_origin_of_key(c, "", 0));
	cr_assert_null(cfg_origin_of_key(c, NULL, 0));
	cr_assert_null(cfg_origin_of_key(NULL, k, strlen(k)));
	cfg_free(c);
}

/* libinih keeps only 50 bytes of a section name; origin hosts can be longer. */
Test(cfg, long_origin_host)
{
	char text[512], host[256];
	struct cfg *c;

	snprintf(host, sizeof(host), "%s.%s.%s.example.com", "a123456789b123456789c123456789",
		 "d123456789e123456789f123456789", "g123456789h123456789i123456789");
	snprintf(text, sizeof(text), "[origin %s]\nquota = 1K\n", host);
	c = load_ok(text);
	cr_assert_str_eq(c->origins[0].host, host);
	cr_assert_eq(c->origins[0].quota, 1024);
	cr_assert_not_null(cfg_origin_find(c, host, strlen(host)));
	cfg_free(c);
}

Test(cfg, too_many_origins)
{
	static char text[CFG_MAX_ORIGINS * 32 + 64];
	size_t n = 0;
	struct cfg *c;

	for (int i = 0; i < CFG_MAX_ORIGINS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[origin o%d.example]\n", i);
	c = load_ok(text);
	cr_assert_eq(c->norigins, CFG_MAX_ORIGINS);
	cr_assert_str_eq(c->origins[CFG_MAX_ORIGINS - 1].host, "o63.example");
	cfg_free(c);

	snprintf(text + n, sizeof(text) - n, "[origin one-too-many.example]\n");
	load_fails(text, "t.conf:65: too many origin sections (max 64)");
}

Test(cfg, shards_replace_then_append)
{
	struct cfg *c = load_ok("[storage]\nshard = /mnt/a\npiece_size = 2M\nshard = /mnt/b\n"
				"[server]\n[storage]\nshard = /mnt/c\n");

	cr_assert_eq(c->storage.nshards, 3);
	cr_assert_str_eq(c->storage.shards[0], "/mnt/a");
	cr_assert_str_eq(c->storage.shards[1], "/mnt/b");
	cr_assert_str_eq(c->storage.shards[2], "/mnt/c");
	cr_assert_eq(c->storage.piece_size, 2 * M);
	cfg_free(c);

	c = load_ok("[storage]\nshard = ./var/cache\n");
	cr_assert_eq(c->storage.nshards, 1, "the default is replaced, not duplicated");
	cfg_free(c);
}

Test(cfg, too_many_shards)
{
	char text[1024];
	size_t n = (size_t)snprintf(text, sizeof(text), "[storage]\n");
	struct cfg *c;

	for (int i = 0; i < CFG_MAX_SHARDS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "shard = /mnt/d%d\n", i);
	c = load_ok(text);
	cr_assert_eq(c->storage.nshards, CFG_MAX_SHARDS);
	cr_assert_str_eq(c->storage.shards[15], "/mnt/d15");
	cfg_free(c);

	snprintf(text + n, sizeof(text) - n, "shard = /mnt/d16\n");
	load_fails(text, "t.conf:18: [storage] shard: too many shards (max 16)");
}

Test(cfg, comments_and_layout)
{
	/* BOM, CRLF, indented keys, ':' separator, both comment characters. */
	struct cfg *c = load_ok("\xef\xbb\xbf; top\r\n"
				"[ server ]   # section comment\r\n"
				"   workers = 4 ; inline\r\n"
				"\tmax_connections:100\t# hash comment\n"
				"[discovery]\n"
				"dpdk_args = a;b#c ; only this is a comment\n"
				"group_key_file = # empty, the rest is a comment\n"
				"[storage]\n"
				"shard = /mnt/with space/cache\n"
				"max_cache_size_percent = 050%\n"
				"[limits]\n"
				"business_hours = 22:00 - 06:00 ; overnight\n");

	cr_assert_eq(c->server.workers, 4);
	cr_assert_eq(c->server.max_connections, 100);
	cr_assert_str_eq(c->discovery.dpdk_args, "a;b#c");
	cr_assert_str_empty(c->discovery.group_key_file);
	cr_assert_str_eq(c->storage.shards[0], "/mnt/with space/cache");
	cr_assert_eq(c->storage.max_cache_size_percent, 50);
	cr_assert_eq(c->limits.business_start_min, 22 * 60);
	cr_assert_eq(c->limits.business_end_min, 6 * 60);
	cfg_free(c);
}

Test(cfg, empty_optional_values)
{
	struct cfg *c = load_ok("[server]\ntls_cert =\ntls_key =\n"
				"[discovery]\ngroup_id =\ngroup_key_file=\ndpdk_args =\n"
				"[control]\nallowed_group =\n");

	assert_same_as_defaults(c);
	cfg_free(c);
}

Test(cfg, repeated_plain_section_merges)
{
	struct cfg *c = load_ok("[server]\nworkers = 2\n[limits]\n[server]\nmax_connections = 9\n");

	cr_assert_eq(c->server.workers, 2);
	cr_assert_eq(c->server.max_connections, 9);
	cfg_free(c);
}

/* Errors, each with its exact message. */

struct err_case {
	char conf[240];
	char err[200];
};

static struct err_case err_cases[] = {
	/* structure */
	{"[nope]\n", "t.conf:1: unknown section [nope]"},
	{"[Server]\n", "t.conf:1: unknown section [Server]"},
	{"[server\n", "t.conf:1: bad section header (expected [name])"},
	{"[server] junk\n", "t.conf:1: bad section header (expected [name])"},
	{"[[server]]\n", "t.conf:1: bad section header (expected [name])"},
	{"[]\n", "t.conf:1: unknown section []"},
	{"workers = 1\n", "t.conf:1: key 'workers' outside of any section"},
	{"[server]\njunk\n", "t.conf:2: expected 'key = value' or '[section]'"},
	{"[server]\nworkers = 1\n  2\n", "t.conf:3: expected 'key = value' or '[section]'"},
	{"[server]\n= 3\n", "t.conf:2: missing key name before '='"},
	{"[server]\nworkers = 1\x01\n", "t.conf:2: control character in line"},
	{"[server]\nworkers = 1\x7f\n", "t.conf:2: control character in line"},
	{"[server]\nfoo = 1\n", "t.conf:2: [server] foo: unknown key"},
	{"[server]\nWorkers = 1\n", "t.conf:2: [server] Workers: unknown key"},
	{"[storage]\nlisten = 127.0.0.1:1\n", "t.conf:2: [storage] listen: unknown key"},
	{"[origin a.example]\nshard = /x\n", "t.conf:2: [origin a.example] shard: unknown key"},
	{"[server]\nworkers = 1\n\n; c\nworkers = 2\n",
	 "t.conf:5: [server] workers: duplicate key (first set on line 2)"},
	{"[server]\nworkers = 1\n[server]\nworkers = 1\n",
	 "t.conf:4: [server] workers: duplicate key (first set on line 2)"},
	{"[origin a.example]\nquota = 1\nquota = 2\n",
	 "t.conf:3: [origin a.example] quota: duplicate key (first set on line 2)"},
	{"[origin a.example]\n[origin b.example]\n[origin A.Example]\n",
	 "t.conf:3: duplicate section [origin a.example] (first on line 1)"},
	{"[origin]\n", "t.conf:1: [origin] needs a host name, e.g. [origin dl.example.com]"},
	{"[origin bad_host]\n", "t.conf:1: bad origin host 'bad_host'"},
	{"[origin a b]\n", "t.conf:1: bad origin host 'a b'"},
	{"[origin -a.example]\n", "t.conf:1: bad origin host '-a.example'"},
	{"[origin a-.example]\n", "t.conf:1: bad origin host 'a-.example'"},
	{"[origin a..example]\n", "t.conf:1: bad origin host 'a..example'"},
	{"[origin example.com.]\n", "t.conf:1: bad origin host 'example.com.'"},
	{"[origin 1.2.3.999]\n", "t.conf:1: bad origin host '1.2.3.999'"},
	{"[origin a.example:80]\n", "t.conf:1: bad origin host 'a.example:80'"},
	{"[originx]\n", "t.conf:1: unknown section [originx]"},
	/* [appliance] */
	{"[appliance]\nstate_dir =\n", "t.conf:2: [appliance] state_dir: value must not be empty"},
	{"[appliance]\nlog_level = verbose\n",
	 "t.conf:2: [appliance] log_level: bad log level 'verbose' (expected error, warn, info or "
	 "debug)"},
	/* [server] */
	{"[server]\nlisten = 127.0.0.1\n",
	 "t.conf:2: [server] listen: bad address '127.0.0.1' (expected host:port or [v6]:port)"},
	{"[server]\nlisten = ::1:8003\n",
	 "t.conf:2: [server] listen: bad address '::1:8003' (expected host:port or [v6]:port)"},
	{"[server]\nlisten = 127.0.0.1:0\n",
	 "t.conf:2: [server] listen: address out of range '127.0.0.1:0' (expected host:port or "
	 "[v6]:port)"},
	{"[server]\nlisten = 127.0.0.1:65536\n",
	 "t.conf:2: [server] listen: address out of range '127.0.0.1:65536' (expected host:port "
	 "or [v6]:port)"},
	{"[server]\nworkers = 257\n",
	 "t.conf:2: [server] workers: number out of range '257' (expected 0 to 256)"},
	{"[server]\nworkers = -1\n", "t.conf:2: [server] workers: bad number '-1'"},
	{"[server]\nworkers = 99999999999999999999\n",
	 "t.conf:2: [server] workers: number out of range '99999999999999999999' (expected 0 to "
	 "256)"},
	{"[server]\nheader_timeout = ten\n",
	 "t.conf:2: [server] header_timeout: bad duration 'ten'"},
	{"[server]\nheader_timeout = 10 s\n",
	 "t.conf:2: [server] header_timeout: bad duration '10 s'"},
	{"[server]\nheader_timeout = 0\n",
	 "t.conf:2: [server] header_timeout: duration out of range '0' (expected 1ms to 1d)"},
	{"[server]\nidle_timeout = 25h\n",
	 "t.conf:2: [server] idle_timeout: duration out of range '25h' (expected 1ms to 1d)"},
	{"[server]\nmax_connections = 0\n",
	 "t.conf:2: [server] max_connections: number out of range '0' (expected 1 to 1000000)"},
	{"[server]\nmax_connections_per_client = 1000001\n",
	 "t.conf:2: [server] max_connections_per_client: number out of range '1000001' (expected 0 "
	 "to 1000000)"},
	{"[server]\nmax_connections_per_client = -1\n",
	 "t.conf:2: [server] max_connections_per_client: bad number '-1'"},
	{"[server]\nzerocopy_threshold = 1.5M\n",
	 "t.conf:2: [server] zerocopy_threshold: bad size '1.5M'"},
	{"[server]\ntls_cert = /c.pem\n",
	 "t.conf:2: [server] tls_cert: tls_key must be set too (both or neither)"},
	{"[server]\ntls_cert =\n\ntls_key = /k.pem\n",
	 "t.conf:4: [server] tls_key: tls_cert must be set too (both or neither)"},
	{"[control]\nmetrics_listen = 127.0.0.1:8003\n",
	 "t.conf:2: [control] metrics_listen: same address as [server] listen"},
	{"[control]\nmetrics_listen = 127.0.0.1:1\n[server]\nlisten = 127.0.0.1:1\n",
	 "t.conf:4: [server] listen: same address as [control] metrics_listen"},
	/* [storage] */
	{"[storage]\nshard =\n", "t.conf:2: [storage] shard: value must not be empty"},
	{"[storage]\nshard = /a\nshard = /a\n", "t.conf:3: [storage] shard: duplicate shard '/a'"},
	{"[storage]\npiece_size = 3M\n",
	 "t.conf:2: [storage] piece_size: size out of range '3M' (expected a power of two from 64K "
	 "to 64M)"},
	{"[storage]\npiece_size = 32K\n",
	 "t.conf:2: [storage] piece_size: size out of range '32K' (expected a power of two from "
	 "64K to 64M)"},
	{"[storage]\npiece_size = 128M\n",
	 "t.conf:2: [storage] piece_size: size out of range '128M' (expected a power of two from "
	 "64K to 64M)"},
	{"[storage]\npiece_size = 0\n",
	 "t.conf:2: [storage] piece_size: size out of range '0' (expected a power of two from 64K "
	 "to 64M)"},
	{"[storage]\nmax_cache_size_percent = 0\n",
	 "t.conf:2: [storage] max_cache_size_percent: percentage out of range '0' (expected 1 to "
	 "100)"},
	{"[storage]\nmax_cache_size_percent = 101%\n",
	 "t.conf:2: [storage] max_cache_size_percent: percentage out of range '101%' (expected 1 "
	 "to 100)"},
	{"[storage]\nmax_cache_size_percent = 99999999999999999999999%\n",
	 "t.conf:2: [storage] max_cache_size_percent: percentage out of range "
	 "'99999999999999999999999%' (expected 1 to 100)"},
	{"[storage]\nmax_cache_size_percent = 50%%\n",
	 "t.conf:2: [storage] max_cache_size_percent: bad percentage '50%%'"},
	{"[storage]\nmax_cache_size_percent = %\n",
	 "t.conf:2: [storage] max_cache_size_percent: bad percentage '%'"},
	{"[storage]\nmin_free_space = 1GB\n", "t.conf:2: [storage] min_free_space: bad size '1GB'"},
	{"[storage]\nmin_free_space = 16777216T\n",
	 "t.conf:2: [storage] min_free_space: size out of range '16777216T'"},
	{"[storage]\nabsolute_max_cache_size = 18446744073709551616\n",
	 "t.conf:2: [storage] absolute_max_cache_size: size out of range '18446744073709551616'"},
	{"[storage]\nmax_cache_age = 1w\n", "t.conf:2: [storage] max_cache_age: bad duration '1w'"},
	{"[storage]\nmax_cache_age = 213503982335d\n",
	 "t.conf:2: [storage] max_cache_age: duration out of range '213503982335d'"},
	{"[storage]\nindex_capacity = 0\n",
	 "t.conf:2: [storage] index_capacity: number out of range '0' (expected 1 to 1073741824)"},
	/* [limits] */
	{"[limits]\nmax_clients = 0\n",
	 "t.conf:2: [limits] max_clients: number out of range '0' (expected 1 to 100000)"},
	{"[limits]\nqueue_timeout = 2d\n",
	 "t.conf:2: [limits] queue_timeout: duration out of range '2d' (expected 0 to 1d)"},
	{"[limits]\nmax_bandwidth_served = 10Mbps\n",
	 "t.conf:2: [limits] max_bandwidth_served: bad rate '10Mbps'"},
	{"[limits]\nmax_bandwidth_per_client = 1m\n",
	 "t.conf:2: [limits] max_bandwidth_per_client: bad rate '1m'"},
	{"[limits]\nbusiness_hours_max_bandwidth = 18446744073709552k\n",
	 "t.conf:2: [limits] business_hours_max_bandwidth: rate out of range '18446744073709552k'"},
	{"[limits]\nbusiness_hours = 08:00-08:00\n",
	 "t.conf:2: [limits] business_hours: bad time window '08:00-08:00' (expected different "
	 "start and end; end before start spans midnight)"},
	{"[limits]\nbusiness_hours = 8-18\n",
	 "t.conf:2: [limits] business_hours: bad time window '8-18' (expected HH:MM-HH:MM)"},
	{"[limits]\nbusiness_hours = 24:00-06:00\n",
	 "t.conf:2: [limits] business_hours: bad time window '24:00-06:00' (expected HH:MM-HH:MM)"},
	{"[limits]\nbusiness_hours = 08:60-18:00\n",
	 "t.conf:2: [limits] business_hours: bad time window '08:60-18:00' (expected HH:MM-HH:MM)"},
	{"[limits]\nbusiness_hours = 08:00-18:00x\n",
	 "t.conf:2: [limits] business_hours: bad time window '08:00-18:00x' (expected "
	 "HH:MM-HH:MM)"},
	{"[limits]\nmonthly_upload_cap = 1P\n",
	 "t.conf:2: [limits] monthly_upload_cap: bad size '1P'"},
	/* [discovery] */
	{"[discovery]\nenabled = maybe\n",
	 "t.conf:2: [discovery] enabled: bad boolean 'maybe' (expected true or false)"},
	{"[discovery]\nenabled =\n",
	 "t.conf:2: [discovery] enabled: bad boolean '' (expected true or false)"},
	{"[discovery]\nbackend = xdp\n",
	 "t.conf:2: [discovery] backend: bad backend 'xdp' (expected socket or dpdk)"},
	{"[discovery]\nport = 0\n",
	 "t.conf:2: [discovery] port: port out of range '0' (expected 1 to 65535)"},
	{"[discovery]\nport = 70000\n",
	 "t.conf:2: [discovery] port: port out of range '70000' (expected 1 to 65535)"},
	{"[discovery]\nport = 80a\n",
	 "t.conf:2: [discovery] port: bad port '80a' (expected 1 to 65535)"},
	{"[discovery]\ngroup_id = 0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5\n",
	 "t.conf:2: [discovery] group_id: bad GUID '0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5' (expected "
	 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits)"},
	{"[discovery]\ngroup_id = {0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5g}\n",
	 "t.conf:2: [discovery] group_id: bad GUID '{0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5g}' "
	 "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits)"},
	/* [control] */
	{"[control]\nsocket =\n", "t.conf:2: [control] socket: value must not be empty"},
	{"[control]\nsocket = /0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/"
	 "0123456789/0123456789/0123456789/0123456789\n",
	 "t.conf:2: [control] socket: path too long for a Unix socket (max 107 bytes)"},
	{"[control]\nallowed_group = wheel users\n",
	 "t.conf:2: [control] allowed_group: bad group name 'wheel users'"},
	{"[control]\nallowed_group = -x\n",
	 "t.conf:2: [control] allowed_group: bad group name '-x'"},
	{"[appliance]\nuser = -root\n", "t.conf:2: [appliance] user: bad user name '-root'"},
	{"[control]\nallowed_group = "
	 "g123456789g123456789g123456789g123456789g123456789g123456789g123\n",
	 "t.conf:2: [control] allowed_group: value too long (max 63 bytes)"},
	/* [origin] */
	{"[origin a.example]\nupstream = ftp://a.example\n",
	 "t.conf:2: [origin a.example] upstream: bad upstream URL 'ftp://a.example' (expected "
	 "http[s]://host[:port])"},
	{"[origin a.example]\nupstream = https://\n",
	 "t.conf:2: [origin a.example] upstream: bad upstream URL 'https://' (expected "
	 "http[s]://host[:port])"},
	{"[origin a.example]\nupstream = https://a.example/pub/\n",
	 "t.conf:2: [origin a.example] upstream: path in upstream URL 'https://a.example/pub/' not "
	 "supported (expected http[s]://host[:port])"},
	{"[origin a.example]\nupstream = https://user@a.example\n",
	 "t.conf:2: [origin a.example] upstream: bad upstream URL 'https://user@a.example' "
	 "(expected http[s]://host[:port])"},
	{"[origin a.example]\nupstream = https://a.example:0\n",
	 "t.conf:2: [origin a.example] upstream: bad upstream URL 'https://a.example:0' (expected "
	 "http[s]://host[:port])"},
	{"[origin a.example]\nupstream = https://a.example?x\n",
	 "t.conf:2: [origin a.example] upstream: bad upstream URL 'https://a.example?x' (expected "
	 "http[s]://host[:port])"},
	{"[origin a.example]\nproxy = proxy.corp\n",
	 "t.conf:2: [origin a.example] proxy: bad proxy address 'proxy.corp' (expected host:port "
	 "or "
	 "[v6]:port)"},
	{"[origin a.example]\nkey_query = sort\n",
	 "t.conf:2: [origin a.example] key_query: bad key_query 'sort' (expected drop or keep)"},
	{"[origin a.example]\nquota = lots\n",
	 "t.conf:2: [origin a.example] quota: bad size 'lots'"},
	/* [discovery] network keys and limits */
	{"[discovery]\naddress = 192.0.2.10\n",
	 "t.conf:2: [discovery] address: bad interface address '192.0.2.10' (expected "
	 "a.b.c.d/len, len 1 to 32, unicast)"},
	{"[discovery]\naddress = 192.0.2.10/33\n",
	 "t.conf:2: [discovery] address: interface address out of range '192.0.2.10/33' "
	 "(expected a.b.c.d/len, len 1 to 32, unicast)"},
	{"[discovery]\naddress = 2001:db8::1/64\n",
	 "t.conf:2: [discovery] address: bad interface address '2001:db8::1/64' (expected "
	 "a.b.c.d/len, len 1 to 32, unicast)"},
	{"[discovery]\nadvertise = box.example\n",
	 "t.conf:2: [discovery] advertise: bad address 'box.example' (expected numeric IP or "
	 "IP:port, [v6]:port with a port)"},
	{"[discovery]\nallowed_sources = 10.0.0.0/8, 10.1.2.3/8\n",
	 "t.conf:2: [discovery] allowed_sources: bad prefix '10.1.2.3/8' (expected "
	 "a.b.c.d[/0-32] or v6[/0-128], host bits zero, or \"any\")"},
	{"[discovery]\nallowed_sources = any 10.0.0.0/8\n",
	 "t.conf:2: [discovery] allowed_sources: bad prefix 'any' (expected "
	 "a.b.c.d[/0-32] or v6[/0-128], host bits zero, or \"any\")"},
	{"[discovery]\nrate_per_source = 0\n",
	 "t.conf:2: [discovery] rate_per_source: number out of range '0' (expected 1 to "
	 "1000000)"},
	{"[discovery]\nrate_global = 100000001\n",
	 "t.conf:2: [discovery] rate_global: number out of range '100000001' (expected 1 to "
	 "100000000)"},
	{"[discovery]\nannounce_interval = 2d\n",
	 "t.conf:2: [discovery] announce_interval: duration out of range '2d' (expected 0 to "
	 "1d)"},
	{"[discovery]\nauth_window = 999ms\n",
	 "t.conf:2: [discovery] auth_window: duration out of range '999ms' (expected 1s to "
	 "1d)"},
	{"[discovery]\nauth_window = soon\n",
	 "t.conf:2: [discovery] auth_window: bad duration 'soon'"},
	/* the first error wins, and comment lines count */
	{"; c\n\n# c\n[server]\nworkers = x\nfoo = 1\n",
	 "t.conf:5: [server] workers: bad number 'x'"},
	/* messages never carry control bytes or long values */
	{"[server]\nfoo\xc3\xa9 = 1\n", "t.conf:2: [server] foo??: unknown key"},
	{"[storage]\nmin_free_space = 0123456789012345678901234567890123456789X\n",
	 "t.conf:2: [storage] min_free_space: bad size "
	 "'0123456789012345678901234567890123456789...'"},
};

ParameterizedTestParameters(cfg, errors)
{
	return cr_make_param_array(struct err_case, err_cases,
				   sizeof(err_cases) / sizeof(err_cases[0]));
}

ParameterizedTest(struct err_case *tc, cfg, errors)
{
	load_fails(tc->conf, tc->err);
}

Test(cfg, nul_byte)
{
	static const char text[] = "[server]\nworkers = 1\0 2\n";
	struct cfg *c = cfg_load_buf("t.conf", text, sizeof(text) - 1, err, sizeof(err));

	cr_assert_null(c);
	cr_assert_str_eq(err, "t.conf:2: control character in line");
}

Test(cfg, line_too_long)
{
	char text[600];
	struct cfg *c;
	int n;

	/* 198 characters fit libinih's 200-byte line buffer with "\n\0". */
	n = snprintf(text, sizeof(text), "[storage]\nshard = /");
	memset(text + n, 'x', 198 - 9);
	snprintf(text + n + 189, sizeof(text) - (size_t)n - 189, "\n");
	c = load_ok(text);
	cr_assert_eq(strlen(c->storage.shards[0]), 198 - 8);
	cfg_free(c);

	/* A long comment does not count. */
	snprintf(text + n + 189, sizeof(text) - (size_t)n - 189, "   ; %0300d\n", 0);
	c = load_ok(text);
	cfg_free(c);

	snprintf(text + n + 189, sizeof(text) - (size_t)n - 189, "y\n");
	load_fails(text, "t.conf:2: line too long (max 198 characters before a comment)");
}

Test(cfg, error_buffer_edge_cases)
{
	struct cfg *c;
	char small[12], name[CFG_PATH_MAX + 1];

	errno = 0;
	c = cfg_load_string("t.conf", "[x]\n", NULL, 0);
	cr_assert_null(c);
	cr_assert_eq(errno, EINVAL);

	c = cfg_load_string("t.conf", "[x]\n", small, sizeof(small));
	cr_assert_null(c);
	cr_assert_str_eq(small, "t.conf:1: u", "truncated, still terminated");

	c = cfg_load_string(NULL, "", err, sizeof(err));
	cr_assert_not_null(c);
	cfg_free(c);

	c = cfg_load_string("t.conf", NULL, err, sizeof(err));
	cr_assert_not_null(c, "NULL text is an empty file");
	cfg_free(c);

	c = cfg_load_buf("t.conf", NULL, 3, err, sizeof(err));
	cr_assert_null(c);

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	c = cfg_load_string(name, "", err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(errno, ENAMETOOLONG);
	cr_assert(strstr(err, "...: file name too long"));

	cfg_free(NULL);
}

/* cfg_load on real files. */

static char *write_tmp(const char *text, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_cfg.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(cfg, load_file)
{
	const char *text = "[server]\nworkers = 3\n\n[limits]\nmax_clients = none\n";
	char *path = write_tmp(text, 20);
	char want[256];
	struct cfg *c;

	c = cfg_load(path, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->server.workers, 3);
	cr_assert_str_eq(c->path, path);
	cfg_free(c);
	unlink(path);

	path = write_tmp(text, strlen(text));
	c = cfg_load(path, err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(errno, EINVAL);
	snprintf(want, sizeof(want), "%s:5: [limits] max_clients: bad number 'none'", path);
	cr_assert_str_eq(err, want);
	unlink(path);
}

Test(cfg, load_file_errors)
{
	struct cfg *c;
	char *big, *path;

	c = cfg_load("/nonexistent/cachebox.conf", err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(errno, ENOENT);
	cr_assert_str_eq(err, "/nonexistent/cachebox.conf: cannot open: No such file or directory");

	c = cfg_load("/tmp", err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(errno, EISDIR);
	cr_assert_str_eq(err, "/tmp: cannot read: Is a directory");

	c = cfg_load(NULL, err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(errno, EINVAL);

	big = malloc((1u << 20) + 1);
	cr_assert_not_null(big);
	memset(big, '\n', (1u << 20) + 1);
	path = write_tmp(big, 1u << 20);
	c = cfg_load(path, err, sizeof(err));
	cr_assert_not_null(c, "exactly 1 MiB is fine: %s", err);
	cfg_free(c);
	unlink(path);

	path = write_tmp(big, (1u << 20) + 1);
	c = cfg_load(path, err, sizeof(err));
	cr_assert_null(c);
	cr_assert_eq(errno, EFBIG);
	cr_assert(strstr(err, ": file too large (max 1048576 bytes)"));
	unlink(path);
	free(big);
}

/* Value parsers. */

struct num_case {
	char in[32];
	int ret;
	uint64_t val;
};

static struct num_case size_cases[] = {
	{"0", 0, 0},
	{"1", 0, 1},
	{"007", 0, 7},
	{"1k", 0, 1024},
	{"1K", 0, 1024},
	{"3m", 0, 3 * M},
	{"2G", 0, 2 * G},
	{"1t", 0, 1024 * G},
	{"18446744073709551615", 0, UINT64_MAX},
	{"18446744073709551616", -ERANGE, 0},
	{"99999999999999999999999", -ERANGE, 0},
	{"18014398509481983K", 0, UINT64_MAX - 1023},
	{"18014398509481984K", -ERANGE, 0},
	{"17592186044415M", 0, 17592186044415ull * M},
	{"17592186044416M", -ERANGE, 0},
	{"17179869183G", 0, 17179869183ull * G},
	{"17179869184G", -ERANGE, 0},
	{"16777215T", 0, 16777215ull * 1024 * G},
	{"16777216T", -ERANGE, 0},
	{"99999999999999999999999T", -ERANGE, 0},
	{"", -EINVAL, 0},
	{"K", -EINVAL, 0},
	{"-1", -EINVAL, 0},
	{"+1", -EINVAL, 0},
	{" 1", -EINVAL, 0},
	{"1 ", -EINVAL, 0},
	{"1 K", -EINVAL, 0},
	{"1KB", -EINVAL, 0},
	{"1KiB", -EINVAL, 0},
	{"1P", -EINVAL, 0},
	{"0x10", -EINVAL, 0},
	{"1.5G", -EINVAL, 0},
	{"99999999999999999999999X", -EINVAL, 0},
};

ParameterizedTestParameters(cfg, parse_size)
{
	return cr_make_param_array(struct num_case, size_cases,
				   sizeof(size_cases) / sizeof(size_cases[0]));
}

ParameterizedTest(struct num_case *tc, cfg, parse_size)
{
	uint64_t v = 12345;

	cr_assert_eq(cfg_parse_size(tc->in, &v), tc->ret, "'%s'", tc->in);
	cr_assert_eq(v, tc->ret ? 12345 : tc->val, "'%s'", tc->in);
}

static struct num_case rate_cases[] = {
	{"0", 0, 0},
	{"1500", 0, 1500},
	{"1k", 0, 1000},
	{"1K", 0, 1000},
	{"5M", 0, 5000000},
	{"2G", 0, 2000000000},
	{"18446744073709551615", 0, UINT64_MAX},
	{"18446744073709551616", -ERANGE, 0},
	{"18446744073709551k", 0, 18446744073709551000ull},
	{"18446744073709552k", -ERANGE, 0},
	{"18446744073709M", 0, 18446744073709000000ull},
	{"18446744073710M", -ERANGE, 0},
	{"18446744074G", -ERANGE, 0},
	{"1m", -EINVAL, 0},
	{"1g", -EINVAL, 0},
	{"1T", -EINVAL, 0},
	{"1Mbit", -EINVAL, 0},
	{"", -EINVAL, 0},
	{"M", -EINVAL, 0},
	{"-5", -EINVAL, 0},
};

ParameterizedTestParameters(cfg, parse_rate)
{
	return cr_make_param_array(struct num_case, rate_cases,
				   sizeof(rate_cases) / sizeof(rate_cases[0]));
}

ParameterizedTest(struct num_case *tc, cfg, parse_rate)
{
	uint64_t v = 12345;

	cr_assert_eq(cfg_parse_rate(tc->in, &v), tc->ret, "'%s'", tc->in);
	cr_assert_eq(v, tc->ret ? 12345 : tc->val, "'%s'", tc->in);
}

static struct num_case duration_cases[] = {
	{"0", 0, 0},
	{"10", 0, 10000},
	{"10s", 0, 10000},
	{"250ms", 0, 250},
	{"2m", 0, 120000},
	{"1h", 0, 3600000},
	{"1d", 0, 86400000},
	{"18446744073709551615ms", 0, UINT64_MAX},
	{"18446744073709551616ms", -ERANGE, 0},
	{"18446744073709551615", -ERANGE, 0},
	{"18446744073709551s", 0, 18446744073709551000ull},
	{"18446744073709552s", -ERANGE, 0},
	{"213503982334d", 0, 213503982334ull * 86400000},
	{"213503982335d", -ERANGE, 0},
	{"", -EINVAL, 0},
	{"s", -EINVAL, 0},
	{"10S", -EINVAL, 0},
	{"10 s", -EINVAL, 0},
	{"1w", -EINVAL, 0},
	{"1h30m", -EINVAL, 0},
	{"1.5s", -EINVAL, 0},
	{"10mss", -EINVAL, 0},
	{"-1s", -EINVAL, 0},
};

ParameterizedTestParameters(cfg, parse_duration)
{
	return cr_make_param_array(struct num_case, duration_cases,
				   sizeof(duration_cases) / sizeof(duration_cases[0]));
}

ParameterizedTest(struct num_case *tc, cfg, parse_duration)
{
	uint64_t v = 12345;

	cr_assert_eq(cfg_parse_duration_ms(tc->in, &v), tc->ret, "'%s'", tc->in);
	cr_assert_eq(v, tc->ret ? 12345 : tc->val, "'%s'", tc->in);
}

Test(cfg, parse_bool)
{
	static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "1"};
	static const char *const no[] = {"false", "False", "no", "NO", "off", "0"};
	static const char *const bad[] = {"", "2", "y", "n", "truee", " true", "enabled"};
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		cr_assert_eq(cfg_parse_bool(yes[i], &b), 0, "%s", yes[i]);
		cr_assert(b, "%s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		cr_assert_eq(cfg_parse_bool(no[i], &b), 0, "%s", no[i]);
		cr_assert_not(b, "%s", no[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cfg_parse_bool(bad[i], &b), -EINVAL, "'%s'", bad[i]);
}

struct addr_case {
	char in[80];
	int ret;
	char host[64];
	uint16_t port;
};

static struct addr_case addr_cases[] = {
	{"127.0.0.1:8003", 0, "127.0.0.1", 8003},
	{"0.0.0.0:1", 0, "0.0.0.0", 1},
	{"localhost:65535", 0, "localhost", 65535},
	{"Cache-1.Branch.example:80", 0, "Cache-1.Branch.example", 80},
	{"[::1]:8003", 0, "::1", 8003},
	{"[::]:443", 0, "::", 443},
	{"[2001:db8::1]:080", 0, "2001:db8::1", 80},
	{"[::ffff:10.0.0.1]:9", 0, "::ffff:10.0.0.1", 9},
	{"127.0.0.1:0", -ERANGE, "", 0},
	{"127.0.0.1:65536", -ERANGE, "", 0},
	{"127.0.0.1:99999999999999999999", -ERANGE, "", 0},
	{"127.0.0.1", -EINVAL, "", 0},
	{"127.0.0.1:", -EINVAL, "", 0},
	{":8003", -EINVAL, "", 0},
	{"::1:8003", -EINVAL, "", 0},
	{"[::1]", -EINVAL, "", 0},
	{"[::1]8003", -EINVAL, "", 0},
	{"[::1:8003", -EINVAL, "", 0},
	{"[]:1", -EINVAL, "", 0},
	{"[zz::1]:1", -EINVAL, "", 0},
	{"[fe80::1%eth0]:1", -EINVAL, "", 0},
	{"[127.0.0.1]:1", -EINVAL, "", 0},
	{"127.0.0.1:80x", -EINVAL, "", 0},
	{"127.0.0.1:+80", -EINVAL, "", 0},
	{"127.0.0.1:-80", -EINVAL, "", 0},
	{"1.2.3.256:80", -EINVAL, "", 0},
	{"1.2.3:80", -EINVAL, "", 0},
	{"host_name:80", -EINVAL, "", 0},
	{"-host:80", -EINVAL, "", 0},
	{"host-:80", -EINVAL, "", 0},
	{"a..b:80", -EINVAL, "", 0},
	{".a:80", -EINVAL, "", 0},
	{"a.:80", -EINVAL, "", 0},
	{"a b:80", -EINVAL, "", 0},
	{"", -EINVAL, "", 0},
	{"http://a:80", -EINVAL, "", 0},
};

ParameterizedTestParameters(cfg, parse_addr)
{
	return cr_make_param_array(struct addr_case, addr_cases,
				   sizeof(addr_cases) / sizeof(addr_cases[0]));
}

ParameterizedTest(struct addr_case *tc, cfg, parse_addr)
{
	struct cfg_addr a = {"unchanged", 7};

	cr_assert_eq(cfg_parse_addr(tc->in, &a), tc->ret, "'%s'", tc->in);
	if (tc->ret) {
		cr_assert_str_eq(a.host, "unchanged");
		cr_assert_eq(a.port, 7);
		return;
	}
	cr_assert_str_eq(a.host, tc->host);
	cr_assert_eq(a.port, tc->port);
}

Test(cfg, host_name_limits)
{
	char s[400];
	struct cfg_addr a;

	/* A 63-byte label is fine, 64 is not. */
	snprintf(s, sizeof(s), "%063d.example:1", 0);
	s[0] = 'a';
	cr_assert_eq(cfg_parse_addr(s, &a), 0);
	snprintf(s, sizeof(s), "%064d.example:1", 0);
	s[0] = 'a';
	cr_assert_eq(cfg_parse_addr(s, &a), -EINVAL);

	/* 253 bytes in all is fine, 254 is not. */
	memset(s, 'a', 253);
	for (int i = 63; i < 253; i += 64)
		s[i] = '.';
	strcpy(s + 253, ":1");
	cr_assert_eq(cfg_parse_addr(s, &a), 0);
	cr_assert_eq(strlen(a.host), 253);
	memset(s, 'a', 254);
	for (int i = 63; i < 254; i += 64)
		s[i] = '.';
	strcpy(s + 254, ":1");
	cr_assert_eq(cfg_parse_addr(s, &a), -EINVAL);
}

Test(cfg, parsers_refuse_null)
{
	uint64_t v;
	bool b;
	struct cfg_addr a;

	cr_assert_eq(cfg_parse_size(NULL, &v), -EINVAL);
	cr_assert_eq(cfg_parse_size("1", NULL), -EINVAL);
	cr_assert_eq(cfg_parse_rate(NULL, &v), -EINVAL);
	cr_assert_eq(cfg_parse_duration_ms(NULL, &v), -EINVAL);
	cr_assert_eq(cfg_parse_bool(NULL, &b), -EINVAL);
	cr_assert_eq(cfg_parse_addr(NULL, &a), -EINVAL);
	cr_assert_eq(cfg_parse_addr("a:1", NULL), -EINVAL);
}

/* [discovery] network keys (config/cfg_net.c). */

static const uint8_t v4map[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

Test(cfg, discovery_keys)
{
	struct cfg *c =
		load_ok("[discovery]\n"
			"address = 192.0.2.10/24\n"
			"advertise = 192.0.2.10:8080\n"
			"allowed_sources = 10.0.0.0/8,192.168.1.0/24  2001:db8::/32, 203.0.113.7\n"
			"rate_per_source = 5\n"
			"rate_global = 100000000\n"
			"announce_interval = 10m\n"
			"auth_window = 5s\n");
	uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10};

	cr_assert(c->discovery.has_address);
	cr_assert(c->discovery.address.v4);
	cr_assert_eq(c->discovery.address.prefix, 96 + 24);
	cr_assert_eq(memcmp(c->discovery.address.addr, want, 16), 0);
	cr_assert_str_eq(c->discovery.advertise.host, "192.0.2.10");
	cr_assert_eq(c->discovery.advertise.port, 8080);
	cr_assert_not(c->discovery.allowed_any);
	cr_assert_eq(c->discovery.nallowed, 4);
	cr_assert_eq(c->discovery.allowed[0].prefix, 96 + 8);
	cr_assert_eq(c->discovery.allowed[0].addr[12], 10);
	cr_assert_eq(c->discovery.allowed[1].prefix, 96 + 24);
	cr_assert_not(c->discovery.allowed[2].v4);
	cr_assert_eq(c->discovery.allowed[2].prefix, 32);
	cr_assert_eq(c->discovery.allowed[2].addr[0], 0x20);
	cr_assert_eq(c->discovery.allowed[2].addr[1], 0x01);
	cr_assert_eq(c->discovery.allowed[3].prefix, 128);
	cr_assert_eq(c->discovery.rate_per_source, 5);
	cr_assert_eq(c->discovery.rate_global, 100000000);
	cr_assert_eq(c->discovery.announce_interval_ms, 600000);
	cr_assert_eq(c->discovery.auth_window_ms, 5000);
	cfg_free(c);

	c = load_ok("[discovery]\naddress =\nadvertise =\nallowed_sources =\n");
	assert_same_as_defaults(c);
	cfg_free(c);

	c = load_ok("[discovery]\nallowed_sources = any\nadvertise = [2001:db8::1]:80\n");
	cr_assert(c->discovery.allowed_any);
	cr_assert_eq(c->discovery.nallowed, 0);
	cr_assert_str_eq(c->discovery.advertise.host, "2001:db8::1");
	cr_assert_eq(c->discovery.advertise.port, 80);
	cfg_free(c);

	c = load_ok("[discovery]\nadvertise = 2001:db8::1\n");
	cr_assert_str_eq(c->discovery.advertise.host, "2001:db8::1");
	cr_assert_eq(c->discovery.advertise.port, 0);
	cfg_free(c);
}

Test(cfg, too_many_prefixes)
{
	char text[CFG_MAX_CIDRS * 4 + 64];
	size_t n = (size_t)snprintf(text, sizeof(text), "[discovery]\nallowed_sources =");

	for (unsigned i = 0; i <= CFG_MAX_CIDRS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " ::"); /* fits one line */
	snprintf(text + n, sizeof(text) - n, "\n");
	load_fails(text, "t.conf:2: [discovery] allowed_sources: too many prefixes (max 32)");
}

struct cidr_case {
	char in[64];
	int ret;
	uint8_t prefix;
	bool v4;
};

static struct cidr_case cidr_cases[] = {
	{"10.0.0.0/8", 0, 104, true},
	{"0.0.0.0/0", 0, 96, true},
	{"192.0.2.1", 0, 128, true},
	{"192.0.2.1/32", 0, 128, true},
	{"::/0", 0, 0, false},
	{"2001:db8::/32", 0, 32, false},
	{"fe80::1/128", 0, 128, false},
	{"::ffff:10.0.0.0/104", 0, 104, false},
	{"10.0.0.0/33", -ERANGE, 0, false},
	{"2001:db8::/129", -ERANGE, 0, false},
	{"10.0.0.0/1000", -ERANGE, 0, false},
	{"10.0.0.1/8", -EINVAL, 0, false}, /* host bits set */
	{"2001:db8::1/32", -EINVAL, 0, false},
	{"10.0.0.0/", -EINVAL, 0, false},
	{"10.0.0.0/x", -EINVAL, 0, false},
	{"10.0.0.0/-1", -EINVAL, 0, false},
	{"10.0.0.0/+8", -EINVAL, 0, false},
	{"10.0.0/8", -EINVAL, 0, false},
	{"010.0.0.0/8", -EINVAL, 0, false},
	{"256.0.0.0/8", -EINVAL, 0, false},
	{"/8", -EINVAL, 0, false},
	{"", -EINVAL, 0, false},
	{"host.example/8", -EINVAL, 0, false},
	{"1:2:3:4:5:6:7:8:9/64", -EINVAL, 0, false},
	{"[::1]/128", -EINVAL, 0, false},
};

ParameterizedTestParameters(cfg, cidr)
{
	return cr_make_param_array(struct cidr_case, cidr_cases,
				   sizeof(cidr_cases) / sizeof(cidr_cases[0]));
}

ParameterizedTest(struct cidr_case *tc, cfg, cidr)
{
	struct cfg_cidr c;
	int ret = cfg_parse_cidr(tc->in, strlen(tc->in), &c);

	cr_assert_eq(ret, tc->ret, "%s: %d", tc->in, ret);
	if (ret == 0) {
		cr_assert_eq(c.prefix, tc->prefix, "%s", tc->in);
		cr_assert_eq(c.v4, tc->v4, "%s", tc->in);
		if (tc->v4)
			cr_assert_eq(memcmp(c.addr, v4map, sizeof(v4map)), 0);
	}
}

Test(cfg, cidr_contains)
{
	struct cfg_cidr c;
	uint8_t a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};

	cr_assert_eq(cfg_parse_cidr("10.0.0.0/8", 10, &c), 0);
	cr_assert(cfg_cidr_contains(&c, a));
	a[12] = 11;
	cr_assert_not(cfg_cidr_contains(&c, a));
	cr_assert_eq(cfg_parse_cidr("10.0.0.0/9", 10, &c), 0);
	a[12] = 10;
	a[13] = 127;
	cr_assert(cfg_cidr_contains(&c, a));
	a[13] = 128;
	cr_assert_not(cfg_cidr_contains(&c, a));
	cr_assert_eq(cfg_parse_cidr("0.0.0.0/0", 9, &c), 0);
	cr_assert(cfg_cidr_contains(&c, a));
	a[10] = 0; /* no longer IPv4-mapped: outside every IPv4 prefix */
	cr_assert_not(cfg_cidr_contains(&c, a));
	cr_assert_eq(cfg_parse_cidr("::/0", 4, &c), 0);
	cr_assert(cfg_cidr_contains(&c, a));
}

Test(cfg, ifaddr)
{
	struct cfg_cidr c;

	cr_assert_eq(cfg_parse_ifaddr("192.0.2.10/24", &c), 0);
	cr_assert_eq(c.prefix, 120);
	cr_assert_eq(c.addr[15], 10);
	cr_assert_eq(cfg_parse_ifaddr("10.0.0.1/32", &c), 0);
	cr_assert_eq(cfg_parse_ifaddr("10.0.0.1/0", &c), -ERANGE);
	cr_assert_eq(cfg_parse_ifaddr("10.0.0.1/33", &c), -ERANGE);
	cr_assert_eq(cfg_parse_ifaddr("10.0.0.1", &c), -EINVAL);
	cr_assert_eq(cfg_parse_ifaddr("0.0.0.0/8", &c), -EINVAL);
	cr_assert_eq(cfg_parse_ifaddr("224.0.0.1/4", &c), -EINVAL);
	cr_assert_eq(cfg_parse_ifaddr("255.255.255.255/32", &c), -EINVAL);
	cr_assert_eq(cfg_parse_ifaddr("::1/64", &c), -EINVAL);
	cr_assert_eq(cfg_parse_ifaddr("", &c), -EINVAL);
}

Test(cfg, cidr_list)
{
	struct cfg_cidr l[2];
	const char *bad;
	size_t badlen;
	unsigned n;
	bool any;

	cr_assert_eq(cfg_parse_cidr_list("", l, 2, &n, &any, &bad, &badlen), 0);
	cr_assert_eq(n, 0);
	cr_assert_not(any);
	cr_assert_eq(cfg_parse_cidr_list(" ,, ", l, 2, &n, &any, &bad, &badlen), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(cfg_parse_cidr_list("any", l, 2, &n, &any, &bad, &badlen), 0);
	cr_assert(any);
	cr_assert_eq(cfg_parse_cidr_list("10.0.0.0/8,\t::1", l, 2, &n, &any, &bad, &badlen), 0);
	cr_assert_eq(n, 2);
	cr_assert_not(any);
	cr_assert_eq(cfg_parse_cidr_list("10.0.0.0/8 ::1 ::2", l, 2, &n, &any, &bad, &badlen),
		     -ENOSPC);
	cr_assert_eq(cfg_parse_cidr_list("10.0.0.0/8 10.0.0.0/99", l, 2, &n, &any, &bad, &badlen),
		     -ERANGE);
	cr_assert_eq(badlen, 11);
	cr_assert_eq(strncmp(bad, "10.0.0.0/99", badlen), 0);
	cr_assert_eq(cfg_parse_cidr_list("ANY", l, 2, &n, &any, &bad, &badlen), -EINVAL);
}

struct ipport_case {
	char in[64];
	int ret;
	char host[48];
	uint16_t port;
};

static struct ipport_case ipport_cases[] = {
	{"192.0.2.1", 0, "192.0.2.1", 0},     {"192.0.2.1:8003", 0, "192.0.2.1", 8003},
	{"2001:db8::1", 0, "2001:db8::1", 0}, {"[2001:db8::1]:443", 0, "2001:db8::1", 443},
	{"[2001:db8::1]", -EINVAL, "", 0},    {"[192.0.2.1]:80", -EINVAL, "", 0},
	{"192.0.2.1:0", -ERANGE, "", 0},      {"192.0.2.1:65536", -ERANGE, "", 0},
	{"192.0.2.1:", -EINVAL, "", 0},	      {"192.0.2.1:x", -EINVAL, "", 0},
	{"box.example:80", -EINVAL, "", 0},   {"2001:db8::1:80x", -EINVAL, "", 0},
	{"[2001:db8::1]80", -EINVAL, "", 0},  {"", -EINVAL, "", 0},
};

ParameterizedTestParameters(cfg, ip_port)
{
	return cr_make_param_array(struct ipport_case, ipport_cases,
				   sizeof(ipport_cases) / sizeof(ipport_cases[0]));
}

ParameterizedTest(struct ipport_case *tc, cfg, ip_port)
{
	struct cfg_addr a;
	int ret = cfg_parse_ip_port(tc->in, &a);

	cr_assert_eq(ret, tc->ret, "%s: %d", tc->in, ret);
	if (ret == 0) {
		cr_assert_str_eq(a.host, tc->host);
		cr_assert_eq(a.port, tc->port);
	}
}
