/*
 * libFuzzer target of the configuration loader: arbitrary bytes go to
 * cfg_load_buf (no NUL terminator, so reading past the end is caught), and
 * the value parsers get the same bytes as a string. A config that loads must
 * satisfy the invariants the rest of cachebox relies on; one that does not
 * must come with a message naming the file.
 */
#include "cfg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static void check_cfg(const struct cfg *c)
{
	CHECK(c->storage.nshards >= 1 && c->storage.nshards <= CFG_MAX_SHARDS);
	CHECK(c->norigins <= CFG_MAX_ORIGINS);
	CHECK(c->storage.piece_size >= 64 * 1024 && c->storage.piece_size <= 64 * 1024 * 1024);
	CHECK((c->storage.piece_size & (c->storage.piece_size - 1)) == 0);
	CHECK(c->storage.max_cache_size_percent >= 1 && c->storage.max_cache_size_percent <= 100);
	CHECK(c->server.workers <= 256);
	CHECK(c->server.listen.port && c->control.metrics_listen.port && c->discovery.port);
	CHECK(c->limits.max_clients >= 1);
	CHECK(c->limits.business_start_min < 24 * 60 && c->limits.business_end_min < 24 * 60);
	CHECK(c->limits.business_start_min != c->limits.business_end_min);
	CHECK(c->appliance.log_level >= 0 && c->appliance.log_level <= 3);
	CHECK(!c->server.tls_cert[0] == !c->server.tls_key[0]);
	CHECK(strnlen(c->appliance.state_dir, CFG_PATH_MAX) < CFG_PATH_MAX);
	CHECK(strnlen(c->control.socket, CFG_PATH_MAX) < 108);
	CHECK(strnlen(c->discovery.group_id, 64) == 0 || strlen(c->discovery.group_id) == 36);
	for (unsigned i = 0; i < c->storage.nshards; i++)
		CHECK(c->storage.shards[i][0] &&
		      strnlen(c->storage.shards[i], CFG_PATH_MAX) < CFG_PATH_MAX);
	for (unsigned i = 0; i < c->norigins; i++) {
		const struct cfg_origin *o = &c->origins[i];
		size_t n = strnlen(o->host, CFG_HOST_MAX);

		CHECK(n > 0 && n < CFG_HOST_MAX);
		CHECK(cfg_origin_find(c, o->host, n) == o);
		CHECK(o->upstream_port != 0);
		CHECK(strnlen(o->upstream, CFG_PATH_MAX) < CFG_PATH_MAX);
		CHECK(strnlen(o->upstream_host, CFG_HOST_MAX) > 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct cfg *c;
	struct cfg_addr a;
	uint64_t v;
	bool b;
	char *s;

	err[0] = '\0';
	c = cfg_load_buf("fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (c) {
		check_cfg(c);
		cfg_free(c);
	} else {
		CHECK(strncmp(err, "fuzz.conf", 9) == 0);
	}

	if (size > 256)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	cfg_parse_size(s, &v);
	cfg_parse_rate(s, &v);
	cfg_parse_duration_ms(s, &v);
	cfg_parse_bool(s, &b);
	if (cfg_parse_addr(s, &a) == 0)
		CHECK(a.port != 0 && a.host[0]);
	free(s);
	return 0;
}
