/*
 * The pure parts of the `tokenfence` command: run's flag -> environment
 * mapping, LD_PRELOAD, library search and exit status; the run summary from
 * a calls.jsonl fixture; status totals, JSON, text and Prometheus output
 * from fixture answers; policy check on a sample config.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cfgfile.h"
#include "json.h"
#include "policycheck.h"
#include "runenv.h"
#include "status.h"
#include "summary.h"

#ifndef CLI_DATA_DIR
#error "CLI_DATA_DIR must name tests/data/cli"
#endif

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *s;
	long n;

	snprintf(path, sizeof(path), "%s/%s", CLI_DATA_DIR, name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return s;
}

static char *buf_str(tf_buf *b)
{
	tf_buf_append(b, "", 1);
	return (char *)b->data;
}

/* ---- run: environment ------------------------------------------------------ */

Test(runenv, envlist_set_get_replace)
{
	char *src[] = { "A=1", "TOKENFENCE_MAX_COST=9", "LD_PRELOAD=/asan.so", NULL };
	tf_envlist e;

	cr_assert_eq(tf_envlist_init(&e, src), 0);
	cr_expect_str_eq(tf_envlist_get(&e, "TOKENFENCE_MAX_COST"), "9");
	cr_expect_null(tf_envlist_get(&e, "TOKENFENCE_MAX"));
	cr_expect_null(tf_envlist_get(&e, "B"));
	cr_assert_eq(tf_envlist_set(&e, "TOKENFENCE_MAX_COST", "3"), 0);
	cr_assert_eq(tf_envlist_set(&e, "B", "x=y"), 0);
	cr_expect_eq(e.n, 4);
	cr_expect_str_eq(e.v[1], "TOKENFENCE_MAX_COST=3");
	cr_expect_str_eq(e.v[3], "B=x=y");
	cr_expect_null(e.v[4]);
	tf_envlist_free(&e);
	cr_assert_eq(tf_envlist_init(&e, NULL), 0);
	cr_expect_eq(e.n, 0);
	tf_envlist_free(&e);
}

Test(runenv, every_flag_maps_to_its_variable)
{
	static const struct {
		const char *flag, *var, *arg, *want;
	} cases[] = {
		{ "max-cost", "TOKENFENCE_MAX_COST", "3", "3" },
		{ "max-cost-per-request", "TOKENFENCE_MAX_COST_PER_REQUEST", "0.5", "0.5" },
		{ "max-requests", "TOKENFENCE_MAX_REQUESTS", "100", "100" },
		{ "warn-at", "TOKENFENCE_WARN_AT", "0.75", "0.75" },
		{ "downgrade-at", "TOKENFENCE_DOWNGRADE_AT", "0.9", "0.9" },
		{ "downgrade", "TOKENFENCE_DOWNGRADE", "gpt-4o=gpt-4o-mini", "gpt-4o=gpt-4o-mini" },
		{ "scope", "TOKENFENCE_SCOPE", "team-a", "team-a" },
		{ "config", "TOKENFENCE_CONFIG", "tf.json", "/home/u/tf.json" },
		{ "config", "TOKENFENCE_CONFIG", "/etc/tf.json", "/etc/tf.json" },
		{ "ledger", "TOKENFENCE_LEDGER", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0" },
		{ "ledger", "TOKENFENCE_LEDGER", "l.db", "/home/u/l.db" },
		{ "hosts", "TOKENFENCE_HOSTS", "127.0.0.1:8443=azure", "127.0.0.1:8443=azure" },
		{ "events", "TOKENFENCE_EVENTS", "ev.jsonl", "/home/u/ev.jsonl" },
		{ "log", "TOKENFENCE_LOG", "off", "off" },
		{ "log", "TOKENFENCE_LOG", "stderr", "stderr" },
		{ "log", "TOKENFENCE_LOG", "tf.log", "/home/u/tf.log" },
		{ "approval-timeout", "TOKENFENCE_APPROVAL_TIMEOUT", "60", "60" },
		{ "fail-mode", "TOKENFENCE_FAIL_MODE", "open", "open" },
		{ "socket-dir", "TOKENFENCE_SOCKET_DIR", "/run/tf", "/run/tf" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const tf_run_flag *f = tf_run_flag_find(cases[i].flag);
		char *v;
		cr_assert_not_null(f, "%s", cases[i].flag);
		cr_expect_str_eq(f->var, cases[i].var);
		cr_expect_eq(tf_run_flag_by_var(cases[i].var), f);
		v = tf_run_flag_value(f, NULL, cases[i].arg, "/home/u");
		cr_assert_not_null(v);
		cr_expect_str_eq(v, cases[i].want, "--%s %s", cases[i].flag, cases[i].arg);
		free(v);
	}
	cr_expect_null(tf_run_flag_find("max-cots"));
	/* Every flag of the table is tested above. */
	for (size_t i = 0; i < tf_run_nflags; i++) {
		bool seen = false;
		for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++)
			seen = seen || strcmp(cases[j].flag, tf_run_flags[i].flag) == 0;
		cr_expect(seen, "--%s untested", tf_run_flags[i].flag);
	}
}

Test(runenv, list_flags_add_up_and_empty_values_are_refused)
{
	const tf_run_flag *f = tf_run_flag_find("downgrade");
	char *a = tf_run_flag_value(f, NULL, "a=b", "/");
	char *b = tf_run_flag_value(f, a, "c=d", "/");
	char *p = tf_run_flag_value(tf_run_flag_find("events"), NULL, "x", "/");

	cr_expect_str_eq(b, "a=b,c=d");
	cr_expect_str_eq(p, "/x");
	errno = 0;
	cr_expect_null(tf_run_flag_value(f, NULL, "", "/"));
	cr_expect_eq(errno, EINVAL);
	free(a);
	free(b);
	free(p);
}

Test(runenv, preload_keeps_existing_entries_first)
{
	static const struct {
		const char *existing, *want;
	} cases[] = {
		{ NULL, "/lib/tf.so" },
		{ "", "/lib/tf.so" },
		{ "  ", "/lib/tf.so" },
		{ "/usr/lib/libasan.so", "/usr/lib/libasan.so:/lib/tf.so" },
		{ "/a.so /b.so", "/a.so /b.so:/lib/tf.so" },
		{ "/a.so:", "/a.so:/lib/tf.so" },
		{ "/a.so:/lib/tf.so", "/a.so:/lib/tf.so" },
		{ "/lib/tf.so /a.so", "/lib/tf.so /a.so" },
		{ "/lib/tf.so.1", "/lib/tf.so.1:/lib/tf.so" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = tf_run_preload(cases[i].existing, "/lib/tf.so");
		cr_assert_not_null(s);
		cr_expect_str_eq(s, cases[i].want, "existing %s", cases[i].existing);
		free(s);
	}
}

Test(runenv, workflow_id_library_candidates_exit_codes)
{
	const uint8_t rnd[8] = { 0x00, 0x01, 0xab, 0xcd, 0xef, 0x10, 0x99, 0xff };
	char id[20], out[6][4096], how[160];
	size_t n;

	tf_run_workflow_id(rnd, id);
	cr_expect_str_eq(id, "wf-0001abcdef1099ff");

	n = tf_run_library_candidates("/opt/tf/bin/tokenfence", "lib/x86_64-linux-gnu", out, 6);
	cr_assert_eq(n, 5);
	cr_expect_str_eq(out[0], "/opt/tf/bin/../shim/libtokenfence.so");
	cr_expect_str_eq(out[1], "/opt/tf/bin/../lib/x86_64-linux-gnu/tokenfence/libtokenfence.so");
	cr_expect_str_eq(out[2], "/opt/tf/bin/../lib/x86_64-linux-gnu/libtokenfence.so");
	cr_expect_str_eq(out[3], "/opt/tf/bin/../lib/tokenfence/libtokenfence.so");
	cr_expect_str_eq(out[4], "/opt/tf/bin/../lib/libtokenfence.so");
	/* libdir "lib": no duplicates. */
	cr_expect_eq(tf_run_library_candidates("/b/tools/tokenfence", "lib", out, 6), 3);
	cr_expect_eq(tf_run_library_candidates("tokenfence", "lib", out, 6), 0);

	cr_expect_eq(tf_run_exit_code(0), 0);
	cr_expect_eq(tf_run_exit_code(7 << 8), 7);
	cr_expect_eq(tf_run_exit_code(255 << 8), 255);
	cr_expect_eq(tf_run_exit_code(SIGKILL), 128 + 9);
	cr_expect_eq(tf_run_exit_code(SIGINT | 0x80), 128 + 2);
	tf_run_describe_status(7 << 8, how, sizeof(how));
	cr_expect_str_eq(how, "exited with status 7");
	tf_run_describe_status(SIGKILL, how, sizeof(how));
	cr_expect_str_eq(how, "was killed by signal 9 (Killed)");
}

/* ---- run: summary ----------------------------------------------------------- */

Test(summary, aggregates_the_fixture_exactly)
{
	size_t len;
	char *text = slurp("calls.jsonl", &len);
	tf_summary s;

	tf_summary_init(&s);
	cr_assert_eq(tf_summary_add_text(&s, text, len), 0);
	cr_expect_eq(s.calls, 7);
	cr_expect_eq(s.requests, 4);
	/* Only call records count; block/policy/approval events explain them. */
	cr_expect_eq(s.blocked, 1);
	cr_expect_eq(s.denied, 2);
	cr_expect_eq(s.downgraded, 1);
	cr_expect_eq(s.clamped, 1);
	cr_expect_eq(s.input, 1250);
	cr_expect_eq(s.output, 940);
	cr_expect_eq(s.cached, 10);
	cr_expect_eq(s.reasoning, 300);
	/* 0.1 + 0.2 + 0.000875 + 0.001815 with no float drift. */
	cr_expect_eq(s.cost, INT64_C(302690000000));
	cr_expect_eq(s.n_warnings, 2);
	cr_expect_eq(s.unreadable, 1);
	cr_assert_eq(s.n_models, 4);
	cr_expect_str_eq(s.models[0].name, "gpt-4o-mini");
	cr_expect_eq(s.models[0].requests, 2);
	cr_expect_eq(s.models[0].cost, INT64_C(300000000000));
	cr_expect_str_eq(s.models[2].name, "us.anthropic.claude-3-5-sonnet-20240620-v1:0");
	cr_expect_eq(s.models[2].requests, 0);
	cr_expect_eq(s.models[2].blocked, 3);
	cr_expect_str_eq(s.models[3].name, "o3-mini");
	cr_expect_eq(s.models[3].cost, INT64_C(1815000000));
	tf_summary_free(&s);
	free(text);
}

Test(summary, renders_one_screen)
{
	size_t len;
	char *text = slurp("calls.jsonl", &len);
	tf_summary s;
	tf_buf out;
	char *r;

	tf_summary_init(&s);
	tf_summary_add_text(&s, text, len);
	tf_buf_init(&out, 1 << 20);
	cr_assert_eq(tf_summary_render(&s, "wf-1", "exited with status 7", &out), 0);
	r = buf_str(&out);
	cr_expect(strstr(r, "tokenfence: 4 requests, $0.302690 (workflow wf-1)\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  gpt-4o-mini                                         2        200         40    $0.300000\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  total                                               4       1250        940    $0.302690\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  blocked 1, denied 2, downgraded 1, clamped 1\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  warning: scope wf-1: 75% of the budget used ($0.75 of $1.00)\n") != NULL);
	cr_expect(strstr(r, "  (1 unreadable record skipped)\n") != NULL);
	cr_expect(strstr(r, "tokenfence: the command exited with status 7\n") != NULL);
	/* Most expensive first. */
	cr_expect_lt(strstr(r, "gpt-4o-mini"), strstr(r, "o3-mini"));
	cr_expect_lt(strstr(r, "o3-mini"), strstr(r, "anthropic.claude-3-haiku"));
	for (char *p = r, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		cr_expect_leq(nl - p, 100, "line too wide: %.*s", (int)(nl - p), p);
	tf_buf_free(&out);
	tf_summary_free(&s);
	free(text);
}

Test(summary, empty_many_models_and_many_warnings)
{
	tf_summary s;
	tf_buf out;
	char line[256], *r;

	tf_summary_init(&s);
	tf_buf_init(&out, 1 << 20);
	tf_summary_render(&s, NULL, "exited with status 0", &out);
	cr_expect_str_eq(buf_str(&out), "tokenfence: no LLM calls were seen\n"
					"tokenfence: the command exited with status 0\n");
	for (int i = 0; i < 20; i++) {
		snprintf(line, sizeof(line),
			 "{\"gen_ai.request.model\":\"m%02d\",\"tokenfence.cost_pico\":%d}", i,
			 (i + 1) * 1000000);
		cr_assert_eq(tf_summary_add_line(&s, line, strlen(line)), 0);
	}
	for (int i = 0; i < 70; i++) {
		snprintf(line, sizeof(line), "{\"tokenfence.event\":\"warning\",\"message\":\"w%d\"}", i);
		tf_summary_add_line(&s, line, strlen(line));
	}
	cr_expect_eq(tf_summary_add_line(&s, "[1]", 3), -EINVAL);
	cr_expect_eq(s.n_warnings, TF_SUMMARY_MAX_WARNINGS);
	cr_expect_eq(s.warnings_dropped, 70 - TF_SUMMARY_MAX_WARNINGS);
	tf_buf_reset(&out);
	tf_summary_render(&s, NULL, NULL, &out);
	r = buf_str(&out);
	cr_expect(strstr(r, "(8 more models)") != NULL, "%s", r);
	cr_expect(strstr(r, "m19") != NULL && strstr(r, "m00") == NULL, "most expensive shown");
	cr_expect(strstr(r, "(65 more warnings)") != NULL, "%s", r);
	tf_buf_free(&out);
	tf_summary_free(&s);
}

/* ---- status -------------------------------------------------------------------- */

typedef struct fixture {
	tf_json_doc a, b;
	tf_proc p[3];
	char *ta, *tb;
} fixture;

static void load_status(fixture *f)
{
	size_t la, lb;

	f->ta = slurp("status-a.json", &la);
	f->tb = slurp("status-b.json", &lb);
	cr_assert_eq(tf_json_parse(&f->a, f->ta, la, NULL, NULL), 0);
	cr_assert_eq(tf_json_parse(&f->b, f->tb, lb, NULL, NULL), 0);
	f->p[0] = (tf_proc){ .pid = 100, .st = f->a.root };
	f->p[1] = (tf_proc){ .pid = 101, .st = f->b.root };
	f->p[2] = (tf_proc){ .pid = 102, .error = "not answering (no reply within 1 s)" };
}

static void free_status(fixture *f)
{
	tf_json_doc_free(&f->a);
	tf_json_doc_free(&f->b);
	free(f->ta);
	free(f->tb);
}

Test(status, totals_add_processes_exactly)
{
	tf_status_total t;
	fixture f;

	load_status(&f);
	cr_assert_eq(tf_status_sum(f.p, 3, &t), 0);
	cr_expect_eq(t.processes, 3);
	cr_expect_eq(t.unresponsive, 1);
	cr_expect_eq(t.unenforced, 1);
	cr_expect_eq(t.requests, 3);
	cr_expect_eq(t.blocked, 1);
	cr_expect_eq(t.input, 1200);
	cr_expect_eq(t.output, 540);
	cr_expect_eq(t.cached, 10);
	cr_expect_eq(t.reasoning, 7);
	cr_expect_eq(t.cost, INT64_C(300000000000)); /* 0.1 + 0.2, exactly */
	cr_expect_eq(t.reserved, INT64_C(50000000000));
	cr_assert_eq(t.n_models, 2);
	cr_expect_str_eq(t.models[0].model, "gpt-4o-mini");
	cr_expect_eq(t.models[0].requests, 3);
	cr_expect_eq(t.models[0].cost, INT64_C(300000000000));
	/* A shared scope is shown once, from the freshest report. */
	cr_assert_eq(t.n_scopes, 2);
	cr_expect_str_eq(t.scopes[0].name, "team-a");
	cr_expect_eq(t.scopes[0].spent, INT64_C(300000000000));
	cr_expect_str_eq(t.scopes[1].name, "wf-1");
	tf_status_total_free(&t);
	free_status(&f);
}

Test(status, json_round_trips)
{
	const tf_json_value *procs, *total, *v;
	tf_status_total t;
	tf_json_doc doc;
	tf_buf out;
	fixture f;
	int64_t x;

	load_status(&f);
	tf_status_sum(f.p, 3, &t);
	tf_buf_init(&out, 1 << 20);
	cr_assert_eq(tf_status_render_json(f.p, 3, &t, &out), 0);
	cr_assert_eq(out.data[out.len - 1], '\n');
	cr_assert_eq(tf_json_parse(&doc, (const char *)out.data, out.len, NULL, NULL), 0);
	procs = tf_json_get(doc.root, "processes");
	cr_assert_eq(procs->u.arr.n, 3);
	cr_expect_null(tf_json_get(&procs->u.arr.items[0], "ok"));
	cr_expect_eq(tf_json_get(&procs->u.arr.items[0], "responsive")->type, TF_JSON_TRUE);
	cr_expect_str_eq(tf_json_get(&procs->u.arr.items[1], "exe")->u.str.s, "node");
	v = tf_json_get(&procs->u.arr.items[2], "responsive");
	cr_expect_eq(v->type, TF_JSON_FALSE);
	cr_expect_str_eq(tf_json_get(&procs->u.arr.items[2], "error")->u.str.s,
			 "not answering (no reply within 1 s)");
	total = tf_json_get(doc.root, "total");
	cr_assert_eq(tf_json_int64(tf_json_get(total, "cost_pico"), &x), 0);
	cr_expect_eq(x, INT64_C(300000000000));
	cr_expect_str_eq(tf_json_get(total, "cost_usd")->u.num.text, "0.3");
	cr_expect_str_eq(tf_json_get(total, "reserved_usd")->u.num.text, "0.05");
	v = tf_json_get(tf_json_get(tf_json_get(total, "by_scope"), "team-a"), "killed");
	cr_expect_eq(v->type, TF_JSON_FALSE);
	v = tf_json_get(tf_json_get(total, "by_model"), "gpt-4o-mini");
	cr_assert_eq(tf_json_int64(tf_json_get(v, "output_tokens"), &x), 0);
	cr_expect_eq(x, 540);
	tf_json_doc_free(&doc);
	tf_buf_free(&out);
	tf_status_total_free(&t);
	free_status(&f);
}

Test(status, text_blocks)
{
	tf_status_total t;
	tf_buf out;
	fixture f;
	char *r;

	load_status(&f);
	tf_status_sum(f.p, 3, &t);
	tf_buf_init(&out, 1 << 20);
	cr_assert_eq(tf_status_render_text(f.p, 3, &t, &out), 0);
	r = buf_str(&out);
	cr_expect(strstr(r, "pid 100  python3  workflow wf-1  scope team-a\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  budget $1.000000, $0.600000 left; requests 2 of 100\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  budget at most $0.500000 per request\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  scope team-a: spent $0.300000 of $1.000000 ($0.650000 left), reserved $0.050000, 3 requests, day window from 2025-05-01T00:00:00Z\n") != NULL, "%s", r);
	cr_expect(strstr(r, "KILLED") != NULL);
	cr_expect(strstr(r, "NOT ENFORCED") != NULL);
	cr_expect(strstr(r, "  warning [team-a]: 75% of the budget used\n") != NULL);
	cr_expect(strstr(r, "pid 102  not answering (no reply within 1 s)\n") != NULL);
	cr_expect(strstr(r, "total: 3 processes (1 not answering), 3 requests (blocked 1), tokens in 1200 out 540, cost $0.300000, reserved $0.050000\n") != NULL, "%s", r);
	tf_buf_reset(&out);
	tf_status_total_free(&t);
	tf_status_sum(f.p, 0, &t);
	tf_status_render_text(f.p, 0, &t, &out);
	cr_expect_str_eq(buf_str(&out), "no TokenFence processes are running\n");
	tf_buf_free(&out);
	tf_status_total_free(&t);
	free_status(&f);
}

Test(status, garbage_fields_never_crash)
{
	const char *bad = "{\"requests\":\"many\",\"cost_pico\":-5,\"cost_usd\":\"x\",\"by_model\":[1],"
			  "\"by_scope\":{\"s\":7},\"budget\":null,\"warnings\":{},\"enforced\":3}";
	tf_status_total t;
	tf_json_doc doc;
	tf_proc p;
	tf_buf out;

	cr_assert_eq(tf_json_parse(&doc, bad, strlen(bad), NULL, NULL), 0);
	p = (tf_proc){ .pid = 1, .st = doc.root };
	cr_assert_eq(tf_status_sum(&p, 1, &t), 0);
	cr_expect_eq(t.requests, 0);
	cr_expect_eq(t.cost, 0);
	tf_buf_init(&out, 1 << 20);
	cr_expect_eq(tf_status_render_text(&p, 1, &t, &out), 0);
	cr_expect_eq(tf_status_render_json(&p, 1, &t, &out), 0);
	cr_expect_eq(tf_metrics_render(&p, 1, NULL, &out), 0);
	tf_buf_free(&out);
	tf_status_total_free(&t);
	tf_json_doc_free(&doc);
}

static const char *fake_provider(const char *model)
{
	return strncmp(model, "gpt", 3) == 0 ? "azure" : NULL;
}

Test(metrics, prometheus_text)
{
	tf_buf out;
	fixture f;
	char *r;

	load_status(&f);
	tf_buf_init(&out, 1 << 20);
	cr_assert_eq(tf_metrics_render(f.p, 3, fake_provider, &out), 0);
	r = buf_str(&out);
	cr_expect(strstr(r, "# HELP tokenfence_requests_total ") != NULL);
	cr_expect(strstr(r, "# TYPE tokenfence_requests_total counter\n") != NULL);
	/* Both processes are in scope team-a: one series, summed. */
	cr_expect(strstr(r, "tokenfence_requests_total{model=\"gpt-4o-mini\",provider=\"azure\",scope=\"team-a\"} 3\n") != NULL, "%s", r);
	cr_expect(strstr(r, "tokenfence_cost_usd_total{model=\"gpt-4o-mini\",provider=\"azure\",scope=\"team-a\"} 0.3\n") != NULL, "%s", r);
	cr_expect(strstr(r, "tokenfence_requests_total{model=\"anthropic.claude-3-haiku-20240307-v1:0\",provider=\"unknown\",scope=\"team-a\"} 0\n") != NULL, "%s", r);
	cr_expect(strstr(r, "tokenfence_blocked_total{scope=\"team-a\"} 1\n") != NULL);
	cr_expect(strstr(r, "tokenfence_scope_spent_usd{scope=\"team-a\"} 0.3\n") != NULL);
	cr_expect(strstr(r, "tokenfence_scope_killed{scope=\"team-a\"} 0\n") != NULL);
	cr_expect(strstr(r, "tokenfence_scope_remaining_usd{scope=\"wf-1\"}") == NULL, "null: no sample");
	cr_expect(strstr(r, "tokenfence_scope_limit_usd{scope=\"team-a\"} 1\n") != NULL);
	cr_expect(strstr(r, "# TYPE tokenfence_processes gauge\ntokenfence_processes 3\n") != NULL);
	cr_expect(strstr(r, "tokenfence_processes_unresponsive 1\n") != NULL);
	cr_expect(strstr(r, "tokenfence_processes_unenforced 1\n") != NULL);
	/* Every sample line follows a TYPE line of its family. */
	for (char *p = r, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		if (*p == '#')
			continue;
		size_t name = strcspn(p, "{ ");
		char want[128];
		snprintf(want, sizeof(want), "# TYPE %.*s ", (int)name, p);
		cr_expect(strstr(r, want) != NULL && strstr(r, want) < p, "%.*s", (int)(nl - p), p);
	}
	tf_buf_free(&out);
	free_status(&f);
}

Test(metrics, label_values_are_escaped)
{
	const char *st = "{\"scope\":\"a\\\"b\\\\c\\nd\",\"by_model\":{\"m\":{\"requests\":1}}}";
	tf_json_doc doc;
	tf_proc p;
	tf_buf out;

	cr_assert_eq(tf_json_parse(&doc, st, strlen(st), NULL, NULL), 0);
	p = (tf_proc){ .pid = 1, .st = doc.root };
	tf_buf_init(&out, 1 << 20);
	cr_assert_eq(tf_metrics_render(&p, 1, NULL, &out), 0);
	cr_expect(strstr(buf_str(&out), "scope=\"a\\\"b\\\\c\\nd\"} 1\n") != NULL, "%s", out.data);
	tf_buf_free(&out);
	tf_json_doc_free(&doc);
}

/* ---- policy check ------------------------------------------------------------------- */

static const char *no_env(const char *name)
{
	return NULL;
}

static void check(const tf_cli_policy *p, const char *action, const char *effect, int code,
		  const char *rule)
{
	char err[512];
	tf_cli_verdict v;

	cr_assert_eq(tf_cli_policy_decide(p, action, &v, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(v.effect, effect, "%s", action);
	cr_expect_eq(v.exit_code, code, "%s", action);
	cr_expect_str_eq(v.rule, rule, "%s", action);
}

Test(policy, sample_config)
{
	char file[512], err[512];
	tf_cli_policy p;
	tf_cli_verdict v;

	snprintf(file, sizeof(file), "%s/policy.json", CLI_DATA_DIR);
	cr_assert_eq(tf_cli_config_policy(file, no_env, &p, err, sizeof(err)), 0, "%s", err);
	check(&p, "bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1:0", "allow", 0,
	      "policy.rules[0] allow \"bedrock:InvokeModel\"");
	check(&p, "bedrock:InvokeModel:us.anthropic.claude-3-5-sonnet-20240620-v1:0",
	      "require_approval", 2,
	      "policy.rules[4] require_approval \"bedrock:InvokeModel:anthropic.claude-3-5-sonnet*\"");
	check(&p, "bedrock:CreateModelCustomizationJob", "deny", 1,
	      "policy.rules[2] deny \"bedrock:CreateModelCustomization*\"");
	check(&p, "bedrock:InvokeModelWithResponseStream:x", "deny", 1, "policy.default deny");
	check(&p, "azure:ChatCompletions:dep", "allow", 0,
	      "policy.rules[5] allow \"azure:ChatCompletions\"");
	cr_assert_eq(tf_cli_policy_decide(&p, "bedrock:Retrieve:kb1", &v, err, sizeof(err)), 0);
	cr_expect_eq(v.line, 6);
	cr_expect_str_eq(v.warning, "");
	cr_assert_eq(tf_cli_policy_decide(&p, "bedrok:Foo", &v, err, sizeof(err)), 0);
	cr_expect_neq(v.warning[0], '\0');
	tf_cli_policy_free(&p);

	/* No config: no policy, everything allowed. */
	cr_assert_eq(tf_cli_config_policy(NULL, no_env, &p, err, sizeof(err)), 0);
	check(&p, "bedrock:CreateModelCustomizationJob", "allow", 0, "no policy");
	tf_cli_policy_free(&p);
}

Test(policy, config_errors_name_file_and_line)
{
	char file[512], err[512], want[600];
	tf_cli_policy p;
	tf_cli_verdict v;

	snprintf(file, sizeof(file), "%s/bad-key.json", CLI_DATA_DIR);
	cr_expect_eq(tf_cli_config_check(file, no_env, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "tokenfence: %s:4: unknown key \"max_cots\" (did you mean "
				     "\"max_cost\"?)", file);
	cr_expect_str_eq(err, want);
	snprintf(file, sizeof(file), "%s/bad-pattern.json", CLI_DATA_DIR);
	cr_assert_eq(tf_cli_config_policy(file, no_env, &p, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(tf_cli_policy_decide(&p, "bedrock:InvokeModel:x", &v, err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "bad-pattern.json:4: policy.rules[0].action: ") != NULL, "%s", err);
	tf_cli_policy_free(&p);
	cr_expect_lt(tf_cli_config_check("/nonexistent/tf.json", no_env, err, sizeof(err)), 0);
	cr_expect_str_eq(err, "tokenfence: cannot read /nonexistent/tf.json: No such file or "
			      "directory");
}

/* What shim/totals.c answers today: "" for unset names, no budget or scopes. */
Test(status, minimal_answer_from_the_shim)
{
	const char *st = "{\"ok\":true,\"pid\":7,\"exe\":\"curl\",\"workflow\":\"\",\"scope\":\"\","
			 "\"enforced\":true,\"requests\":1,\"input_tokens\":5,\"output_tokens\":2,"
			 "\"cached_tokens\":0,\"reasoning_tokens\":0,\"cost_usd\":0.000001,"
			 "\"cost_pico\":1000000,\"blocked\":0,\"reserved_usd\":0,\"by_model\":{"
			 "\"gpt-4o-mini\":{\"requests\":1,\"input_tokens\":5,\"output_tokens\":2,"
			 "\"cached_tokens\":0,\"reasoning_tokens\":0,\"cost_usd\":0.000001,"
			 "\"cost_pico\":1000000}},\"warnings\":[{\"time\":1746093606,\"scope\":\"\","
			 "\"message\":\"m\"}]}";
	tf_status_total t;
	tf_json_doc doc;
	tf_proc p;
	tf_buf out;
	char *r;

	cr_assert_eq(tf_json_parse(&doc, st, strlen(st), NULL, NULL), 0);
	p = (tf_proc){ .pid = 7, .st = doc.root };
	cr_assert_eq(tf_status_sum(&p, 1, &t), 0);
	tf_buf_init(&out, 1 << 20);
	cr_assert_eq(tf_status_render_text(&p, 1, &t, &out), 0);
	r = buf_str(&out);
	cr_expect(strncmp(r, "pid 7  curl\n", 12) == 0, "%s", r);
	cr_expect(strstr(r, "  budget none\n") != NULL, "%s", r);
	cr_expect(strstr(r, "  warning: m\n") != NULL, "%s", r);
	cr_expect(strstr(r, "cost $0.000001") != NULL, "%s", r);
	tf_buf_reset(&out);
	cr_assert_eq(tf_metrics_render(&p, 1, NULL, &out), 0);
	cr_expect(strstr(buf_str(&out), "tokenfence_requests_total{model=\"gpt-4o-mini\",provider=\"unknown\",scope=\"\"} 1\n") != NULL, "%s", out.data);
	tf_buf_free(&out);
	tf_status_total_free(&t);
	tf_json_doc_free(&doc);
}
