/*
 * The policy that a config file asks for, in the form the shared policy
 * file publishes (common/cb_policy.h). It lives here, not in common/, so
 * that the shared-memory library stays free of the config loader: control
 * (start, reload) and a file server started alone both call it.
 */
#ifndef ST_POLICY_CFG_H
#define ST_POLICY_CFG_H

#include "cb_policy.h"
#include "cfg.h"

/* Fills v from cfg's [limits] (all of v is written). */
void st_policy_vals_from_cfg(struct cb_policy_vals *v, const struct cfg *cfg);

#endif
