#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "routes.h"

/* A synthetic table exercising what the Bedrock models do not (yet) use:
 * literal query parts, greedy labels, literal-vs-label overlaps. */
static const tf_route table[] = {
	{ "GET", "/things", "ListThings", "ListThings", NULL, 0 },
	{ "GET", "/things?list", "ListThingsQ", "ListThingsQ", NULL, 0 },
	{ "GET", "/things/{id}", "GetThing", "GetThing", "id", 0 },
	{ "GET", "/things/special", "GetSpecial", "GetSpecial", NULL, 0 },
	{ "GET", "/files/{key+}", "GetFile", "GetFile", "key", 0 },
	{ "GET", "/files/{key+}/meta", "GetFileMeta", "GetFileMeta", "key", 0 },
	{ "POST", "/a/{x}/b/{y}", "AB", "AB", "x", 0 },
	{ "GET", "/q?mode=fast&x", "Q", "Q", NULL, 0 },
	{ "PUT", "/sessions/", "CreateSession", "CreateSession", NULL, 0 },
	{ "GET", "/sessions/{s}/", "GetSession", "GetSession", "s", 0 },
};

struct route_case {
	char method[8];
	char target[96];
	char op[16];   /* "" = no match */
	char res[32];
};

static struct route_case cases[] = {
	{ "GET", "/things", "ListThings", "" },
	{ "GET", "/things/", "ListThings", "" },
	{ "GET", "/things?list", "ListThingsQ", "" },
	{ "GET", "/things?list=1", "ListThingsQ", "" },
	{ "GET", "/things?foo=2&LIST", "ListThingsQ", "" },
	{ "GET", "/things?listx", "ListThings", "" },
	{ "GET", "/things/abc", "GetThing", "abc" },
	{ "GET", "/things/special", "GetSpecial", "" },
	{ "GET", "/THINGS/Special", "GetSpecial", "" },
	{ "GET", "/things/%73pecial", "GetSpecial", "" },
	{ "GET", "/things/a%2Fb", "GetThing", "a/b" },
	{ "GET", "/things/a/b", "GetThing", "a/b" },
	{ "GET", "/things/./x/../abc", "GetThing", "abc" },
	{ "GET", "/things/%2e%2E/things/abc", "GetThing", "abc" },
	{ "GET", "/../../things/abc", "GetThing", "abc" },
	{ "GET", "//things//abc/", "GetThing", "abc" },
	{ "GET", "/things/a%00b", "GetThing", "a%00b" },
	{ "GET", "/things/a%zz", "GetThing", "a%zz" },
	{ "GET", "/things/a%", "GetThing", "a%" },
	{ "GET", "/things/a%4", "GetThing", "a%4" },
	{ "GET", "/things/abc#frag", "GetThing", "abc" },
	{ "GET", "https://h.example:8443/things/abc?z=1", "GetThing", "abc" },
	{ "GET", "HTTP://h.example", "", "" },
	{ "get", "/things", "ListThings", "" },
	{ "PUT", "/things", "", "" },
	{ "GETX", "/things", "", "" },
	{ "GET", "/files/a/b/c", "GetFile", "a/b/c" },
	{ "GET", "/files/a/b/meta", "GetFileMeta", "a/b" },
	{ "GET", "/files/meta", "GetFile", "meta" },
	{ "GET", "/files", "", "" },
	{ "POST", "/a/1/b/2", "AB", "1" },
	{ "POST", "/a/x/y/b/2", "AB", "x/y" },
	{ "GET", "/q?x&mode=fast", "Q", "" },
	{ "GET", "/q?mode=slow&x", "", "" },
	{ "GET", "/q?mode=fast", "", "" },
	{ "PUT", "/sessions", "CreateSession", "" },
	{ "GET", "/sessions/s1", "GetSession", "s1" },
	{ "GET", "", "", "" },
	{ "GET", "*", "", "" },
};

static void check_table(const struct route_case *c)
{
	tf_route_table t = { table, sizeof(table) / sizeof(table[0]) };
	tf_path p;
	tf_route_match m;
	char res[64];
	bool found;

	cr_assert_eq(tf_path_parse(c->target, strlen(c->target), &p), 0, "%s", c->target);
	found = tf_route_find(&t, 1, c->method, strlen(c->method), &p, &m);
	if (!c->op[0]) {
		cr_expect(!found, "%s %s matched %s", c->method, c->target, found ? m.route->operation : "");
		return;
	}
	cr_assert(found, "%s %s: no match", c->method, c->target);
	cr_expect_str_eq(m.route->operation, c->op, "%s %s", c->method, c->target);
	cr_assert_geq(tf_path_decode_span(&p, m.first, m.count, res, sizeof(res)), 0, "%s", c->target);
	cr_expect_str_eq(res, c->res, "%s %s", c->method, c->target);
}

Test(routes, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_table(&cases[i]);
}

Test(routes, ties_go_to_the_earlier_table)
{
	static const tf_route t1[] = { { "GET", "/x/{a}", "First", "First", "a", 0 } };
	static const tf_route t2[] = { { "GET", "/x/{b}", "Second", "Second", "b", 0 },
				       { "GET", "/x/y", "Literal", "Literal", NULL, 0 } };
	tf_route_table ts[] = { { t1, 1 }, { t2, 2 } };
	tf_path p;
	tf_route_match m;

	cr_assert_eq(tf_path_parse("/x/z", 4, &p), 0);
	cr_assert(tf_route_find(ts, 2, "GET", 3, &p, &m));
	cr_expect_str_eq(m.route->operation, "First");
	cr_expect_eq(m.table, 0);
	cr_assert_eq(tf_path_parse("/x/y", 4, &p), 0);
	cr_assert(tf_route_find(ts, 2, "GET", 3, &p, &m));
	cr_expect_str_eq(m.route->operation, "Literal");
	cr_expect_eq(m.table, 1);
}

Test(routes, segment_bound)
{
	char t[8 * (TF_PATH_MAX_SEGS + 1) + 1];
	tf_path p;
	size_t o = 0;

	/* "." segments vanish before they count against the bound. */
	for (int i = 0; i < TF_PATH_MAX_SEGS; i++)
		o += (size_t)snprintf(t + o, sizeof(t) - o, "/s%d/.", i % 10);
	cr_expect_eq(tf_path_parse(t, o, &p), 0);
	cr_expect_eq(p.nseg, TF_PATH_MAX_SEGS);
	o += (size_t)snprintf(t + o, sizeof(t) - o, "/x");
	cr_expect_eq(tf_path_parse(t, o, &p), -E2BIG);
}

Test(routes, decode_bounds)
{
	char out[4];
	tf_path p;

	cr_expect_eq(tf_pct_decode("ab%3Ac", 6, out, 4), 4);
	cr_expect_eq(memcmp(out, "ab:c", 4), 0);
	cr_expect_eq(tf_pct_decode("abcde", 5, out, 4), -ENAMETOOLONG);
	cr_assert_eq(tf_path_parse("/abc/d", 6, &p), 0);
	cr_expect_eq(tf_path_decode_span(&p, 0, 2, out, sizeof(out)), -ENAMETOOLONG);
	cr_expect_eq(tf_path_decode_span(&p, 0, 1, out, sizeof(out)), 3);
	cr_expect_str_eq(out, "abc");
}

/* Inputs that end in the middle of an escape, placed against a PROT_NONE
 * page: parsing, matching and decoding must not read past the end. */
Test(routes, guard_page)
{
	static const char *const inputs[] = { "/things/a%", "/things/a%4", "/things/%2", "/files/x/%",
					      "/things?lis", "https://h", "/q?mode=fas", "/things/%2e%2" };
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tf_route_table t = { table, sizeof(table) / sizeof(table[0]) };

	cr_assert_neq(map, MAP_FAILED);
	cr_assert_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t n = strlen(inputs[i]);
		char *s = map + pg - n, res[64];
		tf_path p;
		tf_route_match m;
		memcpy(s, inputs[i], n);
		cr_assert_eq(tf_path_parse(s, n, &p), 0);
		if (tf_route_find(&t, 1, "GET", 3, &p, &m))
			tf_path_decode_span(&p, m.first, m.count, res, sizeof(res));
		tf_pct_decode(s, n, res, sizeof(res));
	}
	munmap(map, (size_t)pg * 2);
}
