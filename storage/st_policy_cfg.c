/*
 * Config to published policy (see st_policy_cfg.h): one assignment per
 * [limits] key that the file server enforces.
 */
#include "st_policy_cfg.h"

#include <string.h>

_Static_assert(CB_MAX_SHARDS >= CFG_MAX_SHARDS, "policy.shm has a space record per shard");

void st_policy_vals_from_cfg(struct cb_policy_vals *v, const struct cfg *cfg)
{
	memset(v, 0, sizeof(*v));
	v->max_clients = cfg->limits.max_clients;
	v->queue_timeout_ms = cfg->limits.queue_timeout_ms;
	v->rate_bps = cfg->limits.max_bandwidth_served;
	v->rate_client_bps = cfg->limits.max_bandwidth_per_client;
	v->business_start_min = cfg->limits.business_start_min;
	v->business_end_min = cfg->limits.business_end_min;
	v->business_rate_bps = cfg->limits.business_hours_max_bandwidth;
	v->monthly_cap = cfg->limits.monthly_upload_cap;
}
