/*
 * REST route templates matched against HTTP request-targets.
 *
 * A template is a botocore `requestUri`: literal segments, `{label}` (one
 * segment), `{label+}` (greedy: one or more segments) and literal query parts
 * after '?' (`?x` needs the parameter x, `?x=y` needs x with value y).
 *
 * Both sides are normalised the same way before matching: empty segments are
 * dropped ('/sessions/' equals '/sessions', '//a' equals '/a') and dot
 * segments are resolved ('.', '..', also percent-encoded), so a path cannot
 * dodge a route through spelling. Literal segments compare after one
 * percent-decoding and ignore ASCII case; an encoded '/' (%2F) stays inside
 * its segment, as AWS reads it.
 *
 * Selection: among the templates with the request's method that match, the
 * most specific wins: most literal segments, then fewest greedy labels, then
 * most query literals; ties go to the earlier row. If none matches, a
 * second pass lets every label span several segments, for clients that send
 * an ARN's '/' unencoded (a model id must never fall out of its operation
 * because of how it was spelled).
 *
 * Pure: no allocation, no I/O. Bounded: at most TF_PATH_MAX_SEGS path
 * segments and TF_ROUTE_MAX_TEMPLATE_SEGS template segments.
 */
#ifndef TF_ROUTES_H
#define TF_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TF_PATH_MAX_SEGS 32
#define TF_ROUTE_MAX_TEMPLATE_SEGS 16

/* One row of a route table; all strings are static. */
typedef struct tf_route {
	const char *method;    /* "POST", "GET", ... */
	const char *uri;       /* requestUri template */
	const char *operation; /* the provider's operation name: "Converse" */
	const char *action;    /* its name in policy actions: "InvokeModel" */
	const char *resource;  /* the label naming the resource, or NULL */
	unsigned flags;        /* TF_ACTION_* facts (policy/actions.h) */
} tf_route;

/* A parsed request-target; the spans point into the caller's target. */
typedef struct tf_path {
	const char *seg[TF_PATH_MAX_SEGS];
	size_t seglen[TF_PATH_MAX_SEGS];
	size_t nseg;
	const char *query; /* after '?', without it; NULL when absent */
	size_t qlen;
} tf_path;

/*
 * Parses an origin-form ("/a/b?q") or absolute-form ("https://h/a?q")
 * request-target. Returns 0, -EINVAL when it holds a control byte or a
 * space, or -E2BIG when the normalised path has more than TF_PATH_MAX_SEGS
 * segments.
 */
int tf_path_parse(const char *target, size_t n, tf_path *out);

/* True if path segment i, decoded once, equals lit ignoring ASCII case. */
bool tf_path_seg_is(const tf_path *p, size_t i, const char *lit);

typedef struct tf_route_table {
	const tf_route *routes;
	size_t n;
} tf_route_table;

/* Where the resource label matched: path segments [first, first + count). */
typedef struct tf_route_match {
	const tf_route *route;
	size_t table; /* index of the table that held it */
	size_t first;
	size_t count; /* 0 when the route has no resource label */
} tf_route_match;

/*
 * Finds the best route for method + path across tables[0..ntables) (ties go
 * to the earlier table). Method compares ignoring case. Returns true and
 * fills *m, or false when nothing matches.
 */
bool tf_route_find(const tf_route_table *tables, size_t ntables, const char *method,
		   size_t mlen, const tf_path *path, tf_route_match *m);

/*
 * Percent-decodes s[0..n) once into out (not NUL-terminated). Invalid or
 * truncated escapes and "%00" are copied as they are, so the result never
 * holds a NUL byte. Returns the decoded length, or -ENAMETOOLONG if it
 * exceeds cap.
 */
ssize_t tf_pct_decode(const char *s, size_t n, char *out, size_t cap);

/*
 * Decodes path segments [first, first + count) joined by '/' into out and
 * NUL-terminates it. Returns the length or -ENAMETOOLONG (cap counts the NUL).
 */
ssize_t tf_path_decode_span(const tf_path *p, size_t first, size_t count, char *out, size_t cap);

#endif
