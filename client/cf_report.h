/*
 * The summary at the end of a download: a JSON object with Delivery
 * Optimization's counter names (--json, on stdout) or one line on stderr.
 */
#ifndef CF_REPORT_H
#define CF_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "cf_fetch.h"
#include "cf_hosts.h"

/* The host that served the most bytes, or NULL. */
const struct cf_host *cf_report_main_host(const struct cf_host *hosts, size_t n);

/* Writes the --json summary of a download that ended with code exit (err when it failed). */
int cf_report_json(FILE *f, const struct cf_summary *s, const struct cf_host *hosts, size_t n,
		   int exit_code, const char *err);

/* Writes the one-line summary. */
void cf_report_line(FILE *f, const struct cf_summary *s, const struct cf_host *hosts, size_t n);

#endif
