/*
 * cachebox-fetch's command line: the options, their defaults and the exit
 * codes. The option table CF_OPT_TABLE is the one list that getopt_long,
 * --help and the man page check (tests/integration/test_fetch.py compares
 * the man page and --help with it) are built from. Parsing does no I/O, so
 * it is unit-tested and fuzzed apart from the downloader.
 */
#ifndef CF_ARGS_H
#define CF_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes: wget's (1-8), then ours. Documented in cachebox-fetch(1). */
enum cf_exit {
	CF_EXIT_OK = 0,
	CF_EXIT_GENERIC = 1,
	CF_EXIT_USAGE = 2,
	CF_EXIT_IO = 3,	     /* local file I/O */
	CF_EXIT_NETWORK = 4, /* no source reachable, timeouts, stalls */
	CF_EXIT_TLS = 5,     /* TLS handshake or certificate verification */
	CF_EXIT_PROTOCOL = 7,
	CF_EXIT_SERVER = 8,	/* the origin answered an error (4xx/5xx) */
	CF_EXIT_INTEGRITY = 10, /* --checksum mismatch, or a piece no source served right */
	CF_EXIT_DISK_FULL = 11, /* ENOSPC or EDQUOT writing the output */
	CF_EXIT_INTERRUPTED =
		130, /* SIGINT or SIGTERM: 128 + SIGINT, as a shell says; -c resumes */
};

enum cf_host_source { CF_SRC_NONE, CF_SRC_DHCP, CF_SRC_DHCP_FORCE };
enum cf_order { CF_ORDER_LISTED, CF_ORDER_HRW };

#define CF_FALLBACK_FOREGROUND_S 0  /* DelayCacheServerFallbackForeground */
#define CF_FALLBACK_BACKGROUND_S 60 /* DelayCacheServerFallbackBackground */
#define CF_MAX_CONN_LIMIT	 16

struct cf_opts {
	const char *url;
	const char *out;	/* -o; NULL: the URL's last path segment */
	const char *cache_host; /* --cache-host LIST */
	enum cf_host_source host_source;
	enum cf_order order;
	bool discover;
	const char *discover_target; /* NULL: broadcast */
	int discover_wait_ms;	     /* 300 */
	const char *iface;	     /* DHCP and discovery on this interface only */
	const char *group_id;	     /* text GUID; NULL: DHCP option 234 or none */
	const char *group_key_file;
	int max_conn;	      /* -x, per server */
	const char *checksum; /* "sha-256=HEX" */
	uint8_t checksum_sha[32];
	long lowest_speed;	 /* bytes/s below which a transfer stalls; 0 = off */
	int timeout_s;		 /* connect timeout and the longest stall */
	double fallback_delay_s; /* <0: the default of the mode */
	bool background;
	bool no_origin;
	bool resume; /* -c */
	const char *cacert;
	bool quiet;
	bool json;
	bool print_hosts;
};

/*
 * X(long name, short letter or 0, argument: 0 none / 1 required, help
 * argument name, help text). The short letters are aria2's, curl's and
 * wget's where they have one.
 */
#define CF_OPT_TABLE(X)                                                                            \
	X("output", 'o', 1, "FILE", "write to FILE (default: the URL's last path segment)")        \
	X("cache-host", 0, 1, "LIST",                                                              \
	  "cache hosts, comma-separated NAME[:PORT], [IPv6][:PORT] or https://NAME[:PORT], "       \
	  "tried in the order listed (DOCacheHost)")                                               \
	X("cache-host-source", 0, 1, "SRC",                                                        \
	  "none (default), dhcp (option 235 when no --cache-host), dhcp-force (option 235 "        \
	  "overrides --cache-host) (DOCacheHostSource)")                                           \
	X("order", 0, 1, "listed|hrw",                                                             \
	  "try hosts as listed (default), or by rendezvous hash of the content ID, so several "    \
	  "boxes each hold a share")                                                               \
	X("discover", 0, 0, NULL,                                                                  \
	  "also ask for boxes with a discovery broadcast (UDP 8004); they follow the listed "      \
	  "hosts")                                                                                 \
	X("discover-target", 0, 1, "ADDR[:PORT]",                                                  \
	  "send the discovery QUERY to ADDR (a box, or a subnet's broadcast address; PORT "        \
	  "default 8004) instead of 255.255.255.255; implies --discover")                          \
	X("discover-wait", 0, 1, "MS", "wait MS milliseconds for OFFERs (default 300)")            \
	X("interface", 0, 1, "IF", "use only interface IF for DHCP and discovery")                 \
	X("group-id", 0, 1, "GUID", "discovery group (default: DHCP option 234, or none)")         \
	X("group-key-file", 0, 1, "FILE",                                                          \
	  "sign discovery with the first key of FILE (KEY_ID HEX lines, mode 600) and accept "     \
	  "only OFFERs signed with it")                                                            \
	X("max-connection-per-server", 'x', 1, "N", "parallel connections per host (default 4)")   \
	X("checksum", 0, 1, "sha-256=HEX", "check the whole file's SHA-256")                       \
	X("lowest-speed-limit", 0, 1, "SPEED",                                                     \
	  "a transfer slower than SPEED bytes/s (K, M suffixes) for --timeout stalls (default 0 "  \
	  "= "                                                                                     \
	  "off)")                                                                                  \
	X("timeout", 0, 1, "SECS", "connect timeout, and the longest stall (default 30)")          \
	X("fallback-delay", 0, 1, "SECS",                                                          \
	  "wait SECS from the start before falling back to the origin (default 0, --background "   \
	  "60) "                                                                                   \
	  "(DelayCacheServerFallback)")                                                            \
	X("background", 0, 0, NULL, "a background download: the background fallback delay")        \
	X("no-origin", 0, 0, NULL, "never download from the origin: fail instead")                 \
	X("continue", 'c', 0, NULL, "resume a partial download from its .cbfetch state file")      \
	X("cacert", 0, 1, "FILE", "CA certificates for HTTPS to cache hosts")                      \
	X("quiet", 'q', 0, NULL, "no progress output")                                             \
	X("json", 0, 0, NULL, "print a JSON summary (Delivery Optimization's counter names)")      \
	X("print-hosts", 0, 0, NULL, "print the hosts in the order they would be tried, and exit") \
	X("help", 'h', 0, NULL, "this help")                                                       \
	X("version", 'V', 0, NULL, "print the version")

enum { CF_ARGS_OK = 0, CF_ARGS_HELP = 1, CF_ARGS_VERSION = 2, CF_ARGS_USAGE = 3 };

/*
 * Parses argv into o (pointers into argv). CF_ARGS_OK, CF_ARGS_HELP,
 * CF_ARGS_VERSION, or CF_ARGS_USAGE with the reason in err.
 */
int cf_args_parse(int argc, char **argv, struct cf_opts *o, char *err, size_t errlen);

/* Writes the --help text, every option of CF_OPT_TABLE. */
void cf_args_usage(FILE *f);

#endif
