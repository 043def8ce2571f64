/*
 * cachebox-evictsim: replays a request trace against eviction policies and
 * reports the byte hit ratio (and the object hit ratio) at several cache
 * sizes, to choose the eviction policy by measurement (docs/eviction.md).
 *
 * Policies: LRU; SIEVE (Zhang et al., NSDI '24), the very code control
 * ships (control/ctl_sieve.c); S3-FIFO (Yang et al.,
 * SOSP '23: a small FIFO of 10 %, a main FIFO, a ghost FIFO of keys); FIFO
 * as the floor. Every policy sees the same requests; an object larger than
 * the cache is never admitted; a request for a cached object whose size
 * changed counts as a miss and stores the new size.
 *
 * Traces:
 *   --zipf ALPHA         synthetic: --objects N, --requests M, sizes drawn
 *                        log-uniformly in [--min-size, --max-size] per object
 *   --haproxy FILE       an HAProxy HTTP log: object = path, size = bytes read
 *   --keys FILE          one key per line (first field), every object --min-size
 *
 * Output: a table per cache size (as % of the bytes of all distinct
 * objects) and, with --csv FILE, one row per policy and size.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_sieve.h"

enum { P_FIFO, P_LRU, P_SIEVE, P_S3FIFO, NPOL };
static const char *pol_name[NPOL] = {"FIFO", "LRU", "SIEVE", "S3-FIFO"};

struct req {
	uint32_t obj;
	uint64_t size;
};

struct trace {
	struct req *r;
	size_t n, cap;
	uint32_t nobj;
	uint64_t *obj_size; /* last size seen, for the working set */
};

/* ------------------------------------------------------------ key -> id */

struct keymap {
	uint64_t *hash;
	uint32_t *id;
	size_t cap;
	uint32_t n;
};

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h | 1; /* 0 marks an empty slot */
}

static uint32_t key_id(struct keymap *m, const char *s, size_t len)
{
	uint64_t h = fnv1a(s, len);
	size_t i;

	if ((size_t)m->n * 2 >= m->cap) {
		struct keymap nm = {calloc(m->cap ? m->cap * 2 : 1024, 8),
				    calloc(m->cap ? m->cap * 2 : 1024, 4),
				    m->cap ? m->cap * 2 : 1024, m->n};

		if (!nm.hash || !nm.id) {
			fprintf(stderr, "evictsim: out of memory\n");
			exit(1);
		}
		for (size_t k = 0; k < m->cap; k++) {
			if (!m->hash[k])
				continue;
			for (i = m->hash[k] & (nm.cap - 1); nm.hash[i]; i = (i + 1) & (nm.cap - 1))
				;
			nm.hash[i] = m->hash[k];
			nm.id[i] = m->id[k];
		}
		free(m->hash);
		free(m->id);
		*m = nm;
	}
	for (i = h & (m->cap - 1); m->hash[i]; i = (i + 1) & (m->cap - 1))
		if (m->hash[i] == h)
			return m->id[i];
	m->hash[i] = h;
	m->id[i] = m->n;
	return m->n++;
}

static void add_req(struct trace *t, uint32_t obj, uint64_t size)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 65536;
		t->r = realloc(t->r, t->cap * sizeof(*t->r));
		if (!t->r) {
			fprintf(stderr, "evictsim: out of memory\n");
			exit(1);
		}
	}
	t->r[t->n].obj = obj;
	t->r[t->n].size = size ? size : 1;
	t->n++;
	if (obj + 1 > t->nobj)
		t->nobj = obj + 1;
}

/* HAProxy HTTP log: ... status bytes_read ... "METHOD path HTTP/x" */
static int load_haproxy(struct trace *t, const char *path)
{
	struct keymap km = {0};
	char line[16384];
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *q = strchr(line, '"'), *sp, *tok[16];
		int n = 0;
		unsigned long long size;

		if (!q)
			continue;
		*q = '\0';
		for (char *p = strtok_r(line, " ", &sp); p && n < 16; p = strtok_r(NULL, " ", &sp))
			tok[n++] = p;
		if (n < 12 || strspn(tok[10], "0123456789") != strlen(tok[10]) ||
		    sscanf(tok[11], "%llu", &size) != 1)
			continue;
		if (strcmp(tok[10], "200") != 0)
			continue; /* only whole answers are cacheable */
		q++;
		sp = strchr(q, ' ');
		if (!sp || strncmp(q, "GET ", 4) != 0)
			continue;
		q = sp + 1;
		sp = strchr(q, ' ');
		add_req(t, key_id(&km, q, sp ? (size_t)(sp - q) : strlen(q)), size);
	}
	fclose(f);
	free(km.hash);
	free(km.id);
	return 0;
}

static int load_keys(struct trace *t, const char *path, uint64_t size)
{
	struct keymap km = {0};
	char line[4096];
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, " \t\r\n");

		if (len)
			add_req(t, key_id(&km, line, len), size);
	}
	fclose(f);
	free(km.hash);
	free(km.id);
	return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static void gen_zipf(struct trace *t, double alpha, uint32_t nobj, size_t nreq, uint64_t smin,
		     uint64_t smax)
{
	double *cdf = malloc(nobj * sizeof(*cdf)), sum = 0;
	uint64_t *size = malloc(nobj * sizeof(*size));
	uint32_t *perm = malloc(nobj * sizeof(*perm));

	if (!cdf || !size || !perm) {
		fprintf(stderr, "evictsim: out of memory\n");
		exit(1);
	}
	for (uint32_t i = 0; i < nobj; i++) {
		sum += 1.0 / pow((double)(i + 1), alpha);
		cdf[i] = sum;
		size[i] = (uint64_t)exp(log((double)smin) +
					rnd() * (log((double)smax) - log((double)smin)));
		perm[i] = i;
	}
	/* Popularity rank independent of the object's number (and size). */
	for (uint32_t i = nobj - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rnd() * (i + 1)), tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	for (size_t k = 0; k < nreq; k++) {
		double u = rnd() * sum;
		uint32_t lo = 0, hi = nobj - 1;

		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;

			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		add_req(t, perm[lo], size[perm[lo]]);
	}
	free(cdf);
	free(size);
	free(perm);
}

/* ------------------------------------------------------------- policies */

struct node {
	int32_t prev, next; /* in its queue; -1 = none */
	uint64_t size;
	uint8_t where; /* 0 none, 1 main/LRU/FIFO/SIEVE, 2 S3-FIFO small, 3 ghost */
	uint8_t freq;  /* S3-FIFO 0..3 */
};

struct queue {
	int32_t head, tail; /* head = newest */
	uint64_t bytes;
	uint32_t count;
};

struct sim {
	int pol;
	uint64_t cap;
	struct node *o;
	struct queue main, small, ghost;
	struct ctl_sieve sieve; /* SIEVE's queue, over sieve_node */
	struct ctl_sieve_node *sieve_node;
	uint64_t sieve_bytes;
	uint64_t hit_bytes, req_bytes, hits, reqs;
};

static void q_push(struct sim *s, struct queue *q, int32_t i, uint8_t where)
{
	struct node *n = &s->o[i];

	n->prev = -1;
	n->next = q->head;
	if (q->head >= 0)
		s->o[q->head].prev = i;
	q->head = i;
	if (q->tail < 0)
		q->tail = i;
	n->where = where;
	q->count++;
	if (where != 3)
		q->bytes += n->size;
}

static void q_remove(struct sim *s, struct queue *q, int32_t i)
{
	struct node *n = &s->o[i];

	if (n->prev >= 0)
		s->o[n->prev].next = n->next;
	else
		q->head = n->next;
	if (n->next >= 0)
		s->o[n->next].prev = n->prev;
	else
		q->tail = n->prev;
	q->count--;
	if (n->where != 3)
		q->bytes -= n->size;
	n->where = 0;
	n->prev = n->next = -1;
}

static uint64_t used(const struct sim *s)
{
	return s->main.bytes + s->small.bytes + s->sieve_bytes;
}

static void sieve_out(struct sim *s, int32_t i)
{
	ctl_sieve_remove(&s->sieve, i);
	s->sieve_bytes -= s->o[i].size;
	s->o[i].where = 0;
}

static void evict_one(struct sim *s)
{
	struct node *o = s->o;
	int32_t v;

	switch (s->pol) {
	case P_FIFO:
	case P_LRU:
		q_remove(s, &s->main, s->main.tail);
		return;
	case P_SIEVE:
		/* Nothing is pinned here: a victim exists while anything is cached. */
		sieve_out(s, ctl_sieve_victim(&s->sieve));
		return;
	case P_S3FIFO:
		/* Small first when it holds more than its 10 %. */
		if (s->small.bytes > s->cap / 10 || s->main.count == 0) {
			v = s->small.tail;
			q_remove(s, &s->small, v);
			if (o[v].freq >= 1) {
				o[v].freq = 0;
				q_push(s, &s->main, v, 1);
			} else {
				q_push(s, &s->ghost, v, 3);
				while (s->ghost.count > s->main.count + s->small.count + 1)
					q_remove(s, &s->ghost, s->ghost.tail);
			}
			return;
		}
		for (;;) {
			v = s->main.tail;
			if (o[v].freq) {
				o[v].freq--;
				q_remove(s, &s->main, v);
				q_push(s, &s->main, v, 1);
				continue;
			}
			q_remove(s, &s->main, v);
			return;
		}
	}
}

static void access_obj(struct sim *s, uint32_t id, uint64_t size)
{
	struct node *n = &s->o[id];
	bool cached = n->where == 1 || n->where == 2;

	s->reqs++;
	s->req_bytes += size;
	if (cached && n->size == size) {
		s->hits++;
		s->hit_bytes += size;
		if (s->pol == P_LRU) {
			q_remove(s, &s->main, (int32_t)id);
			q_push(s, &s->main, (int32_t)id, 1);
		} else if (s->pol == P_SIEVE) {
			ctl_sieve_hit(&s->sieve, (int32_t)id);
		} else if (s->pol == P_S3FIFO && n->freq < 3) {
			n->freq++;
		}
		return;
	}
	if (cached && s->pol == P_SIEVE) /* a new version: the old one goes */
		sieve_out(s, (int32_t)id);
	else if (cached)
		q_remove(s, n->where == 2 ? &s->small : &s->main, (int32_t)id);
	if (size > s->cap)
		return;
	{
		bool ghost = n->where == 3;

		if (ghost)
			q_remove(s, &s->ghost, (int32_t)id);
		n->size = size;
		while (used(s) + size > s->cap)
			evict_one(s);
		n->freq = 0;
		if (s->pol == P_SIEVE) {
			ctl_sieve_insert(&s->sieve, (int32_t)id);
			s->sieve_bytes += size;
			n->where = 1;
		} else if (s->pol == P_S3FIFO)
			q_push(s, ghost ? &s->main : &s->small, (int32_t)id, ghost ? 1 : 2);
		else
			q_push(s, &s->main, (int32_t)id, 1);
	}
}

static void run(const struct trace *t, int pol, uint64_t cap, double *bhr, double *ohr)
{
	struct sim s = {.pol = pol, .cap = cap};

	s.o = calloc(t->nobj, sizeof(*s.o));
	s.sieve_node = calloc(t->nobj, sizeof(*s.sieve_node));
	if (!s.o || !s.sieve_node) {
		fprintf(stderr, "evictsim: out of memory\n");
		exit(1);
	}
	for (uint32_t i = 0; i < t->nobj; i++)
		s.o[i].prev = s.o[i].next = -1;
	ctl_sieve_init(&s.sieve, s.sieve_node, t->nobj);
	s.main.head = s.main.tail = s.small.head = s.small.tail = s.ghost.head = s.ghost.tail = -1;
	for (size_t i = 0; i < t->n; i++)
		access_obj(&s, t->r[i].obj, t->r[i].size);
	*bhr = s.req_bytes ? (double)s.hit_bytes / (double)s.req_bytes : 0;
	*ohr = s.reqs ? (double)s.hits / (double)s.reqs : 0;
	free(s.o);
	free(s.sieve_node);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cachebox-evictsim (--zipf ALPHA | --haproxy FILE | --keys FILE) "
		"[options]\n\n"
		"Replays a request trace against FIFO, LRU, SIEVE and S3-FIFO and prints the byte\n"
		"and object hit ratios at several cache sizes (percent of the distinct bytes).\n\n"
		"  --zipf ALPHA       synthetic Zipf trace with exponent ALPHA\n"
		"  --objects N        Zipf: distinct objects (default 100000)\n"
		"  --requests M       Zipf: requests (default 2000000)\n"
		"  --min-size BYTES   Zipf: smallest object; --keys: every object (default "
		"1048576)\n"
		"  --max-size BYTES   Zipf: largest object (default 1073741824)\n"
		"  --haproxy FILE     an HAProxy HTTP log (200 GETs: path = object, bytes = size)\n"
		"  --keys FILE        one key per line\n"
		"  --sizes LIST       cache sizes in percent (default \"1 2 5 10 20 40\")\n"
		"  --seed N           Zipf random seed\n"
		"  --name NAME        trace name for the output\n"
		"  --csv FILE         append rows: "
		"trace,policy,cache_percent,byte_hit,object_hit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"zipf", required_argument, NULL, 'z'},
		{"objects", required_argument, NULL, 'o'},
		{"requests", required_argument, NULL, 'r'},
		{"min-size", required_argument, NULL, 'a'},
		{"max-size", required_argument, NULL, 'b'},
		{"haproxy", required_argument, NULL, 'H'},
		{"keys", required_argument, NULL, 'k'},
		{"sizes", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'S'},
		{"name", required_argument, NULL, 'n'},
		{"csv", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *haproxy = NULL, *keys = NULL, *csv = NULL, *name = NULL;
	const char *sizes = "1 2 5 10 20 40";
	double alpha = 0, bhr[NPOL], ohr[NPOL];
	unsigned long long nobj = 100000, nreq = 2000000, smin = 1 << 20, smax = 1ull << 30;
	struct trace t = {0};
	uint64_t ws = 0;
	FILE *cf = NULL;
	char label[256];
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'z':
			alpha = atof(optarg);
			break;
		case 'o':
			nobj = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			nreq = strtoull(optarg, NULL, 10);
			break;
		case 'a':
			smin = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			smax = strtoull(optarg, NULL, 10);
			break;
		case 'H':
			haproxy = optarg;
			break;
		case 'k':
			keys = optarg;
			break;
		case 's':
			sizes = optarg;
			break;
		case 'S':
			rng_state = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			name = optarg;
			break;
		case 'c':
			csv = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!!haproxy + !!keys + (alpha > 0) != 1 || optind != argc || !nobj || !smin ||
	    smax < smin) {
		usage(stderr);
		return 2;
	}
	if (haproxy)
		ret = load_haproxy(&t, haproxy);
	else if (keys)
		ret = load_keys(&t, keys, smin);
	else
		ret = (gen_zipf(&t, alpha, (uint32_t)nobj, nreq, smin, smax), 0);
	if (ret) {
		fprintf(stderr, "evictsim: %s: %s\n", haproxy ? haproxy : keys, strerror(-ret));
		return 1;
	}
	if (t.n == 0) {
		fprintf(stderr, "evictsim: the trace has no usable requests\n");
		return 1;
	}
	t.obj_size = calloc(t.nobj, sizeof(*t.obj_size));
	for (size_t i = 0; i < t.n; i++)
		t.obj_size[t.r[i].obj] = t.r[i].size;
	for (uint32_t i = 0; i < t.nobj; i++)
		ws += t.obj_size[i];
	if (name)
		snprintf(label, sizeof(label), "%s", name);
	else if (alpha > 0)
		snprintf(label, sizeof(label), "zipf-%.2f", alpha);
	else
		snprintf(label, sizeof(label), "%s", haproxy ? haproxy : keys);
	printf("trace %s: %zu requests, %u objects, %.1f MiB distinct\n", label, t.n, t.nobj,
	       (double)ws / 1048576.0);
	printf("%8s", "cache %");
	for (int p = 0; p < NPOL; p++)
		printf("  %9s byte/obj", pol_name[p]);
	printf("\n");
	if (csv) {
		cf = fopen(csv, "a");
		if (!cf) {
			fprintf(stderr, "evictsim: %s: %s\n", csv, strerror(errno));
			return 1;
		}
	}
	for (const char *p = sizes; *p;) {
		char *end;
		double pct = strtod(p, &end);

		if (end == p)
			break;
		p = end + strspn(end, " ,");
		printf("%8.1f", pct);
		for (int k = 0; k < NPOL; k++) {
			run(&t, k, (uint64_t)((double)ws * pct / 100.0), &bhr[k], &ohr[k]);
			printf("  %7.2f%% / %5.2f%%", bhr[k] * 100, ohr[k] * 100);
			if (cf)
				fprintf(cf, "%s,%s,%.1f,%.5f,%.5f\n", label, pol_name[k], pct,
					bhr[k], ohr[k]);
		}
		printf("\n");
	}
	if (cf)
		fclose(cf);
	free(t.r);
	free(t.obj_size);
	return 0;
}
