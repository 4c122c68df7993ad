/*
 * The subcommands that talk to running processes (status, top, metrics,
 * kill/resume, approvals, approve/deny) and `policy check`.
 */
#include "cmds.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cfgfile.h"
#include "cli.h"
#include "hosts.h"
#include "peers.h"
#include "policycheck.h"
#include "prices.h"
#include "status.h"

void tf_cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tokenfence: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tf_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("tokenfence: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'tokenfence %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return TF_EXIT_USAGE;
}

static void print_buf(const tf_buf *b, FILE *f)
{
	if (b->len)
		(void)!fwrite(b->data, 1, b->len, f);
	fflush(f);
}

static int parse_pid(const char *cmd, const char *s, pid_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > 0x7fffffffL)
		return tf_cli_usage_error(cmd, "--pid: not a process id: %s", s);
	*out = (pid_t)v;
	return 0;
}

/* A getopt_long loop's error, worded for humans. */
static int bad_option(const char *cmd, char **argv)
{
	if (optopt > ' ' && optopt < 127)
		return tf_cli_usage_error(cmd, "unknown option -%c or missing value", optopt);
	return tf_cli_usage_error(cmd, "unknown option or missing value: %s", argv[optind - 1]);
}

/* Finds the processes and asks them all; prints why on failure. */
static int ask_all(tf_peers *ps, pid_t only, const char *req)
{
	char err[256];

	if (tf_peers_find(ps, only, err, sizeof(err)) < 0) {
		tf_cli_err("%s", err);
		return -1;
	}
	tf_peers_ask(ps, req, TF_PEERS_TIMEOUT_MS);
	return 0;
}

static tf_proc *procs_of(const tf_peers *ps)
{
	tf_proc *p = calloc(ps->n ? ps->n : 1, sizeof(*p));

	for (size_t i = 0; p && i < ps->n; i++) {
		p[i].pid = ps->v[i].pid;
		p[i].st = ps->v[i].ok ? ps->v[i].answer : NULL;
		p[i].error = ps->v[i].error;
	}
	return p;
}

/* ---- status ----------------------------------------------------------------- */

static const char status_help[] =
	"Usage: tokenfence status [--json] [--pid N]\n"
	"\n"
	"Shows every running guarded process (one block each: requests, tokens, cost,\n"
	"budget, per model and per scope figures, warnings) and the total. A process\n"
	"that does not answer within 1 second is shown as not answering.\n"
	"\n"
	"  --json     one JSON object: {\"processes\":[...],\"total\":{...}}\n"
	"  --pid N    only process N\n"
	"\n"
	"Processes are found through their control sockets in $TOKENFENCE_SOCKET_DIR,\n"
	"else $XDG_RUNTIME_DIR/tokenfence, else /tmp/tokenfence-$UID.\n"
	"Exit status: 0 (also when no process is running); 1 if --pid N is not a\n"
	"guarded process or the socket directory cannot be trusted; 64 usage error.\n";

/* Gathers the status of the processes into text or JSON; -1 on failure. */
static int gather_status(pid_t only, bool json, tf_buf *out, size_t *nprocs)
{
	tf_status_total t;
	tf_peers ps;
	tf_proc *p;
	int r;

	if (ask_all(&ps, only, "{\"cmd\":\"status\"}") < 0)
		return -1;
	p = procs_of(&ps);
	r = p ? tf_status_sum(p, ps.n, &t) : -ENOMEM;
	if (r == 0) {
		r = json ? tf_status_render_json(p, ps.n, &t, out)
			 : tf_status_render_text(p, ps.n, &t, out);
		tf_status_total_free(&t);
	}
	*nprocs = ps.n;
	free(p);
	tf_peers_free(&ps);
	if (r < 0)
		tf_cli_err("cannot render the status: %s", strerror(-r));
	return r < 0 ? -1 : 0;
}

int tf_cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false;
	pid_t only = 0;
	size_t n = 0;
	tf_buf out;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hjp:", opts, NULL)) != -1) {
		if (c == 'h')
			return fputs(status_help, stdout), TF_EXIT_OK;
		if (c == 'j')
			json = true;
		else if (c == 'p') {
			if (parse_pid("status", optarg, &only))
				return TF_EXIT_USAGE;
		} else
			return bad_option("status", argv);
	}
	if (optind < argc)
		return tf_cli_usage_error("status", "unexpected argument: %s", argv[optind]);
	tf_buf_init(&out, (size_t)256 << 20);
	if (gather_status(only, json, &out, &n) < 0) {
		tf_buf_free(&out);
		return TF_EXIT_FAIL;
	}
	if (only && n == 0) {
		tf_buf_free(&out);
		tf_cli_err("no TokenFence process with pid %ld", (long)only);
		return TF_EXIT_FAIL;
	}
	print_buf(&out, stdout);
	tf_buf_free(&out);
	return TF_EXIT_OK;
}

/* ---- top --------------------------------------------------------------------- */

static const char top_help[] =
	"Usage: tokenfence top [--once] [--interval SECONDS]\n"
	"\n"
	"A live view of `tokenfence status`, refreshed every second (or SECONDS).\n"
	"Quit with q or Ctrl-C; the terminal is restored.\n"
	"\n"
	"  --once            print one frame without terminal control codes, and exit\n"
	"  --interval S      seconds between refreshes (0.2 to 3600, default 1)\n"
	"\n"
	"Exit status: 0; 1 if the socket directory cannot be trusted; 64 usage error.\n";

static volatile sig_atomic_t top_quit, top_resized;
static struct termios top_saved_tty;
static bool top_tty_saved;

static void top_signal(int sig)
{
	if (sig == SIGWINCH)
		top_resized = 1;
	else
		top_quit = 1;
}

static void top_restore(void)
{
	if (top_tty_saved)
		tcsetattr(0, TCSANOW, &top_saved_tty);
	top_tty_saved = false;
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
}

static void top_setup(void)
{
	struct sigaction sa;
	struct termios raw;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	/* Keys without Enter and without echo, to read 'q'. */
	if (isatty(0) && tcgetattr(0, &top_saved_tty) == 0) {
		raw = top_saved_tty;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(0, TCSANOW, &raw) == 0)
			top_tty_saved = true;
	}
	fputs("\033[?1049h\033[?25l", stdout);
}

/* Writes text clipped to the terminal's width and height. */
static void top_draw(const char *text, size_t len, int cols, int rows)
{
	int row = 0;

	fputs("\033[H\033[2J", stdout);
	for (size_t off = 0; off < len && row < rows; row++) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t n = nl ? (size_t)(nl - p) : len - off;
		fwrite(p, 1, n < (size_t)cols ? n : (size_t)cols, stdout);
		fputs(row + 1 < rows ? "\n" : "", stdout);
		off += n + 1;
	}
	fflush(stdout);
}

static bool top_wait(int ms)
{
	struct pollfd pfd = { .fd = top_tty_saved ? 0 : -1, .events = POLLIN };
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int left;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
				  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (top_quit)
			return false;
		if (left <= 0 || top_resized) {
			top_resized = 0;
			return true;
		}
		if (poll(&pfd, 1, left) > 0 && (pfd.revents & POLLIN)) {
			char c;
			if (read(0, &c, 1) == 1 && (c == 'q' || c == 'Q'))
				return false;
		}
	}
}

int tf_cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool once = false;
	int interval_ms = 1000, c;
	tf_buf frame;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hoi:", opts, NULL)) != -1) {
		if (c == 'h')
			return fputs(top_help, stdout), TF_EXIT_OK;
		if (c == 'o') {
			once = true;
		} else if (c == 'i') {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || !(s >= 0.2 && s <= 3600))
				return tf_cli_usage_error("top", "--interval: want 0.2 to 3600 seconds, got %s",
							  optarg);
			interval_ms = (int)(s * 1000);
		} else {
			return bad_option("top", argv);
		}
	}
	if (optind < argc)
		return tf_cli_usage_error("top", "unexpected argument: %s", argv[optind]);
	if (!once && !isatty(1))
		once = true;
	tf_buf_init(&frame, (size_t)64 << 20);
	if (!once)
		top_setup();
	for (;;) {
		struct winsize ws = { 0 };
		char stamp[64];
		time_t now = time(NULL);
		size_t n = 0;

		tf_buf_reset(&frame);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		tf_buf_printf(&frame, "tokenfence top  %s%s\n\n", stamp,
			      once ? "" : "  (q to quit)");
		if (gather_status(0, false, &frame, &n) < 0) {
			if (!once)
				top_restore();
			tf_buf_free(&frame);
			return TF_EXIT_FAIL;
		}
		if (once) {
			print_buf(&frame, stdout);
			break;
		}
		if (ioctl(1, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0) {
			ws.ws_col = 80;
			ws.ws_row = 24;
		}
		top_draw((const char *)frame.data, frame.len, ws.ws_col, ws.ws_row);
		if (!top_wait(interval_ms))
			break;
	}
	if (!once)
		top_restore();
	tf_buf_free(&frame);
	return TF_EXIT_OK;
}

/* ---- metrics ------------------------------------------------------------------ */

static const char metrics_help[] =
	"Usage: tokenfence metrics\n"
	"\n"
	"Prints the totals of every running guarded process in the Prometheus text\n"
	"exposition format: counters labelled by model, provider and scope (requests,\n"
	"input/output/cached/reasoning tokens, cost in USD), blocked requests by scope,\n"
	"per-scope budget gauges (spent, reserved, remaining, limit, killed), and\n"
	"process counts. Counters restart when a process ends, as counters of a\n"
	"restarted target do. Serve it with any exporter that runs a command, e.g. a\n"
	"node_exporter textfile collector.\n"
	"\n"
	"Exit status: 0; 1 if the socket directory cannot be trusted; 64 usage error.\n";

static tf_prices metrics_prices;
static bool metrics_prices_ok;

static const char *provider_of(const char *model)
{
	tf_price p;

	if (!metrics_prices_ok)
		return NULL;
	if (tf_prices_lookup(&metrics_prices, TF_PROVIDER_NONE, model, strlen(model), &p) ==
		    TF_PRICE_UNKNOWN ||
	    p.provider == TF_PROVIDER_NONE)
		return NULL;
	return tf_provider_name(p.provider);
}

int tf_cmd_metrics(int argc, char **argv)
{
	char err[256];
	tf_peers ps;
	tf_proc *p;
	tf_buf out;
	int r;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return fputs(metrics_help, stdout), TF_EXIT_OK;
	if (argc > 1)
		return tf_cli_usage_error("metrics", "unexpected argument: %s", argv[1]);
	if (ask_all(&ps, 0, "{\"cmd\":\"status\"}") < 0)
		return TF_EXIT_FAIL;
	metrics_prices_ok = tf_prices_init(&metrics_prices, err, sizeof(err)) == 0;
	p = procs_of(&ps);
	tf_buf_init(&out, (size_t)256 << 20);
	r = p ? tf_metrics_render(p, ps.n, provider_of, &out) : -ENOMEM;
	if (r == 0)
		print_buf(&out, stdout);
	else
		tf_cli_err("cannot render metrics: %s", strerror(-r));
	tf_buf_free(&out);
	free(p);
	tf_peers_free(&ps);
	if (metrics_prices_ok)
		tf_prices_free(&metrics_prices);
	return r == 0 ? TF_EXIT_OK : TF_EXIT_FAIL;
}

/* ---- kill / resume ---------------------------------------------------------------- */

static const char kill_help[] =
	"Usage: tokenfence kill [--scope S] [--pid N]\n"
	"       tokenfence resume [--scope S] [--pid N]\n"
	"\n"
	"kill trips the kill switch of a budget scope: every later call in it is\n"
	"blocked with \"budget exceeded\" until resume resets it. Without --scope, each\n"
	"process applies it to its own workflow scope. The request goes to every\n"
	"running guarded process (or only N); each answer is printed.\n"
	"\n"
	"Exit status: 0 if at least one process accepted; 1 if none did or none is\n"
	"running; 64 usage error.\n";

/* "key=value" pairs of an answer's members other than ok, for display. */
static void print_answer(const tf_peer *p)
{
	tf_buf b;

	if (!p->ok) {
		printf("pid %ld: error: %s\n", (long)p->pid, p->error);
		return;
	}
	tf_buf_init(&b, 1 << 20);
	for (size_t i = 0; i < p->answer->u.obj.n; i++) {
		const tf_json_member *m = &p->answer->u.obj.members[i];
		if (strcmp(m->key, "ok") == 0)
			continue;
		tf_buf_printf(&b, " %s=", m->key);
		if (m->value.type == TF_JSON_STRING) {
			tf_buf_append_str(&b, m->value.u.str.s);
		} else {
			/* A fresh buffer: the writer would put a ',' after the '='. */
			tf_buf v;
			tf_buf_init(&v, 1 << 20);
			if (tf_json_put_value(&v, &m->value) == 0)
				tf_buf_append(&b, v.data, v.len);
			tf_buf_free(&v);
		}
	}
	printf("pid %ld: ok%.*s\n", (long)p->pid, (int)b.len, b.data ? (const char *)b.data : "");
	tf_buf_free(&b);
}

static int build_request(tf_buf *b, const char *cmd, const char *key, const char *value)
{
	int r = tf_json_open_object(b);

	r = r ? r : tf_json_put_key(b, "cmd");
	r = r ? r : tf_json_put_cstr(b, cmd);
	if (key && value) {
		r = r ? r : tf_json_put_key(b, key);
		r = r ? r : tf_json_put_cstr(b, value);
	}
	r = r ? r : tf_json_close_object(b);
	r = r ? r : tf_buf_append(b, "", 1);
	return r;
}

int tf_cmd_kill(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scope", required_argument, NULL, 's' },
		{ "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd = argv[0], *scope = NULL;
	size_t accepted = 0;
	pid_t only = 0;
	tf_peers ps;
	tf_buf req;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hs:p:", opts, NULL)) != -1) {
		if (c == 'h')
			return fputs(kill_help, stdout), TF_EXIT_OK;
		if (c == 's') {
			scope = optarg;
		} else if (c == 'p') {
			if (parse_pid(cmd, optarg, &only))
				return TF_EXIT_USAGE;
		} else {
			return bad_option(cmd, argv);
		}
	}
	if (optind < argc)
		return tf_cli_usage_error(cmd, "unexpected argument: %s", argv[optind]);
	if (scope && !*scope)
		return tf_cli_usage_error(cmd, "--scope needs a name");
	tf_buf_init(&req, 1 << 16);
	if (build_request(&req, cmd, "scope", scope) < 0 ||
	    ask_all(&ps, only, (const char *)req.data) < 0) {
		tf_buf_free(&req);
		return TF_EXIT_FAIL;
	}
	tf_buf_free(&req);
	if (ps.n == 0) {
		if (only)
			tf_cli_err("no TokenFence process with pid %ld", (long)only);
		else
			tf_cli_err("no TokenFence processes are running");
	}
	for (size_t i = 0; i < ps.n; i++) {
		print_answer(&ps.v[i]);
		accepted += ps.v[i].ok;
	}
	tf_peers_free(&ps);
	return accepted ? TF_EXIT_OK : TF_EXIT_FAIL;
}

/* ---- approvals ------------------------------------------------------------------- */

static const char approvals_help[] =
	"Usage: tokenfence approvals [--json]\n"
	"       tokenfence approve ID\n"
	"       tokenfence deny ID\n"
	"\n"
	"approvals lists the calls waiting for a human decision (policy rules with\n"
	"effect require_approval): id, process, scope, how long it has waited, the\n"
	"worst-case cost, and the action. approve lets the call go; deny refuses it\n"
	"(the caller gets \"approval denied\"). A call nobody decides is denied after\n"
	"approval_timeout_s (default 300 s).\n"
	"\n"
	"  --json    {\"pending\":[{id, pid, scope, action, model, worst_usd, waiting_s}],\n"
	"             \"errors\":[{pid, error}]}\n"
	"\n"
	"Exit status: 0; approve/deny: 1 if no process has a pending call with that id;\n"
	"64 usage error.\n";

static void approvals_text(const tf_peers *ps)
{
	size_t shown = 0;

	for (size_t i = 0; i < ps->n; i++) {
		const tf_json_value *pend = ps->v[i].ok ? tf_json_get(ps->v[i].answer, "pending")
							: NULL;
		for (size_t j = 0; pend && pend->type == TF_JSON_ARRAY && j < pend->u.arr.n; j++) {
			const tf_json_value *a = &pend->u.arr.items[j];
			const tf_json_value *id = tf_json_get(a, "id"), *sc = tf_json_get(a, "scope");
			const tf_json_value *act = tf_json_get(a, "action");
			const tf_json_value *worst = tf_json_get(a, "worst_usd");
			const tf_json_value *wait = tf_json_get(a, "waiting_s");
			char w[48] = "-", ws[32] = "-", money[40];
			double secs;
			tf_money m;

			if (tf_status_money(worst, &m) == 0) {
				tf_money_format(m, money, sizeof(money));
				snprintf(w, sizeof(w), "$%s", money);
			}
			if (wait && tf_json_double(wait, &secs) == 0)
				snprintf(ws, sizeof(ws), "%.0fs", secs);
			if (shown++ == 0)
				printf("%-20s %8s %-16s %8s %12s  %s\n", "ID", "PID", "SCOPE",
				       "WAITING", "WORST", "ACTION");
			printf("%-20s %8ld %-16s %8s %12s  %s\n",
			       id && id->type == TF_JSON_STRING ? id->u.str.s : "?",
			       (long)ps->v[i].pid,
			       sc && sc->type == TF_JSON_STRING ? sc->u.str.s : "-", ws, w,
			       act && act->type == TF_JSON_STRING ? act->u.str.s : "?");
		}
	}
	for (size_t i = 0; i < ps->n; i++)
		if (!ps->v[i].ok)
			fprintf(stderr, "tokenfence: pid %ld: %s\n", (long)ps->v[i].pid,
				ps->v[i].error);
	if (shown == 0)
		printf("no pending approvals\n");
}

static int approvals_json(const tf_peers *ps)
{
	tf_buf b;
	int r;

	tf_buf_init(&b, (size_t)64 << 20);
	r = tf_json_open_object(&b);
	r = r ? r : tf_json_put_key(&b, "pending");
	r = r ? r : tf_json_open_array(&b);
	for (size_t i = 0; r == 0 && i < ps->n; i++) {
		const tf_json_value *pend = ps->v[i].ok ? tf_json_get(ps->v[i].answer, "pending")
							: NULL;
		for (size_t j = 0; r == 0 && pend && pend->type == TF_JSON_ARRAY && j < pend->u.arr.n;
		     j++)
			r = tf_json_put_value(&b, &pend->u.arr.items[j]);
	}
	r = r ? r : tf_json_close_array(&b);
	r = r ? r : tf_json_put_key(&b, "errors");
	r = r ? r : tf_json_open_array(&b);
	for (size_t i = 0; r == 0 && i < ps->n; i++) {
		if (ps->v[i].ok)
			continue;
		r = tf_json_open_object(&b);
		r = r ? r : tf_json_put_key(&b, "pid");
		r = r ? r : tf_json_put_int(&b, ps->v[i].pid);
		r = r ? r : tf_json_put_key(&b, "error");
		r = r ? r : tf_json_put_cstr(&b, ps->v[i].error);
		r = r ? r : tf_json_close_object(&b);
	}
	r = r ? r : tf_json_close_array(&b);
	r = r ? r : tf_json_close_object(&b);
	r = r ? r : tf_buf_append(&b, "\n", 1);
	if (r == 0)
		print_buf(&b, stdout);
	tf_buf_free(&b);
	return r;
}

int tf_cmd_approvals(int argc, char **argv)
{
	bool json = false;
	tf_peers ps;
	int r = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return fputs(approvals_help, stdout), TF_EXIT_OK;
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return tf_cli_usage_error("approvals", "unexpected argument: %s", argv[i]);
	}
	if (ask_all(&ps, 0, "{\"cmd\":\"approvals\"}") < 0)
		return TF_EXIT_FAIL;
	if (json)
		r = approvals_json(&ps);
	else
		approvals_text(&ps);
	tf_peers_free(&ps);
	return r == 0 ? TF_EXIT_OK : TF_EXIT_FAIL;
}

int tf_cmd_decide(int argc, char **argv)
{
	const char *cmd = argv[0], *id = NULL;
	size_t accepted = 0;
	tf_peers ps;
	tf_buf req;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return fputs(approvals_help, stdout), TF_EXIT_OK;
		if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !id)
			id = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return tf_cli_usage_error(cmd, "unknown option %s", argv[i]);
		else if (!id)
			id = argv[i];
		else
			return tf_cli_usage_error(cmd, "unexpected argument: %s", argv[i]);
	}
	if (!id || !*id)
		return tf_cli_usage_error(cmd, "which approval? Give its ID (see 'tokenfence "
					       "approvals')");
	tf_buf_init(&req, 1 << 16);
	if (build_request(&req, cmd, "id", id) < 0 || ask_all(&ps, 0, (const char *)req.data) < 0) {
		tf_buf_free(&req);
		return TF_EXIT_FAIL;
	}
	tf_buf_free(&req);
	for (size_t i = 0; i < ps.n; i++) {
		if (ps.v[i].ok) {
			accepted++;
			printf("%s %s (pid %ld)\n", strcmp(cmd, "approve") == 0 ? "approved" : "denied",
			       id, (long)ps.v[i].pid);
		}
	}
	if (!accepted) {
		if (ps.n == 0)
			tf_cli_err("no TokenFence processes are running");
		else
			tf_cli_err("no pending approval has id %s", id);
		for (size_t i = 0; i < ps.n; i++)
			if (!ps.v[i].ok && !strstr(ps.v[i].error, "unknown approval"))
				fprintf(stderr, "tokenfence: pid %ld: %s\n", (long)ps.v[i].pid,
					ps.v[i].error);
	}
	tf_peers_free(&ps);
	return accepted ? TF_EXIT_OK : TF_EXIT_FAIL;
}

/* ---- policy check ------------------------------------------------------------------ */

static const char policy_help[] =
	"Usage: tokenfence policy check ACTION [--config FILE] [--json]\n"
	"\n"
	"Decides ACTION (provider:Operation[:resource], e.g.\n"
	"bedrock:InvokeModel:anthropic.claude-3-5-sonnet-20240620-v1:0 or\n"
	"azure:ChatCompletions:my-deployment) under the configuration's policy, as the\n"
	"shim would, and prints the decision and the rule that made it.\n"
	"\n"
	"  --config FILE   the configuration (default $TOKENFENCE_CONFIG; none: no policy,\n"
	"                  everything is allowed). TOKENFENCE_* variables apply as in the\n"
	"                  shim, so an invalid one is a configuration error here too.\n"
	"  --json          {\"action\", \"decision\", \"rule\", \"index\", \"line\"}\n"
	"\n"
	"Exit status: 0 allow, 1 deny, 2 require_approval, 3 configuration error,\n"
	"64 usage error.\n";

static const char *real_getenv(const char *name)
{
	return getenv(name);
}

static int policy_json(const char *action, const tf_cli_verdict *v)
{
	tf_buf b;
	int r;

	tf_buf_init(&b, 1 << 20);
	r = tf_json_open_object(&b);
	r = r ? r : tf_json_put_key(&b, "action");
	r = r ? r : tf_json_put_cstr(&b, action);
	r = r ? r : tf_json_put_key(&b, "decision");
	r = r ? r : tf_json_put_cstr(&b, v->effect);
	r = r ? r : tf_json_put_key(&b, "rule");
	r = r ? r : tf_json_put_cstr(&b, v->rule);
	r = r ? r : tf_json_put_key(&b, "index");
	r = r ? r : (v->index >= 0 ? tf_json_put_int(&b, v->index) : tf_json_put_null(&b));
	r = r ? r : tf_json_put_key(&b, "line");
	r = r ? r : (v->line ? tf_json_put_uint(&b, v->line) : tf_json_put_null(&b));
	r = r ? r : tf_json_close_object(&b);
	r = r ? r : tf_buf_append(&b, "\n", 1);
	if (r == 0)
		print_buf(&b, stdout);
	tf_buf_free(&b);
	return r;
}

int tf_cmd_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = getenv("TOKENFENCE_CONFIG"), *action = NULL;
	char err[1024];
	tf_cli_policy pol;
	tf_cli_verdict v;
	bool json = false;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return tf_cli_usage_error("policy", "which policy command? (check)");
		return fputs(policy_help, stdout), TF_EXIT_OK;
	}
	if (strcmp(argv[1], "check") != 0)
		return tf_cli_usage_error("policy", "unknown policy command: %s (try check)",
					  argv[1]);
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hc:j", opts, NULL)) != -1) {
		if (c == 'h')
			return fputs(policy_help, stdout), TF_EXIT_OK;
		if (c == 'c')
			file = optarg;
		else if (c == 'j')
			json = true;
		else
			return bad_option("policy", argv);
	}
	if (optind >= argc)
		return tf_cli_usage_error("policy", "which action? e.g. bedrock:InvokeModel:MODEL");
	if (optind + 1 < argc)
		return tf_cli_usage_error("policy", "unexpected argument: %s", argv[optind + 1]);
	action = argv[optind];
	if (file && !*file)
		file = NULL;
	if (tf_cli_config_policy(file, real_getenv, &pol, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return TF_EXIT_CONFIG;
	}
	if (tf_cli_policy_decide(&pol, action, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		tf_cli_policy_free(&pol);
		return TF_EXIT_CONFIG;
	}
	if (v.warning[0])
		tf_cli_err("warning: %s", v.warning);
	if (json) {
		policy_json(action, &v);
	} else {
		printf("%s %s\n", v.effect, action);
		if (v.line)
			printf("  rule: %s (%s:%u)\n", v.rule, pol.file ? pol.file : "config",
			       (unsigned)v.line);
		else
			printf("  rule: %s\n", v.rule);
	}
	tf_cli_policy_free(&pol);
	return v.exit_code;
}

/* ---- demo ------------------------------------------------------------------------- */

#ifndef TF_SOURCE_DIR
#define TF_SOURCE_DIR "."
#endif

static const char demo_help[] =
	"Usage: tokenfence demo\n"
	"\n"
	"Runs the built-in tour: starts the local Bedrock + Azure OpenAI emulator and\n"
	"runs real, unmodified clients (boto3, curl, the npm openai SDK on Debian's\n"
	"node 18 when tools/setup has set it up) under TokenFence, showing accounting\n"
	"checked against the emulator's bill, a budget with a warning, a downgrade, a\n"
	"kill switch, and a policy with a denial and a human approval. No network.\n"
	"\n"
	"Exit status: the demo's own (0 when it ran to the end), 1 if it cannot start.\n";

/*
 * The demo itself is tools/demo/demo.py (it drives several clients and
 * processes); this finds it and the pieces it needs next to the source
 * tree this binary was built from, or under TOKENFENCE_DEMO_DIR.
 */
int tf_cmd_demo(int argc, char **argv)
{
	char self[4096], dir[4096], emu[4200], script[4200], models[4200], node[4200], mods[4200];
	const char *src = getenv("TOKENFENCE_DEMO_DIR");
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return fputs(demo_help, stdout), TF_EXIT_OK;
		return tf_cli_usage_error("demo", "unexpected argument: %s", argv[i]);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		tf_cli_err("cannot find my own executable");
		return TF_EXIT_FAIL;
	}
	self[n] = 0;
	snprintf(dir, sizeof(dir), "%s", self);
	*strrchr(dir, '/') = 0;
	if (!src || !*src)
		src = TF_SOURCE_DIR;
	snprintf(emu, sizeof(emu), "%s/tokenfence-emulator", dir);
	snprintf(script, sizeof(script), "%s/tools/demo/demo.py", src);
	snprintf(models, sizeof(models), "%s/data/aws-models", src);
	snprintf(node, sizeof(node), "%s/tools/node18", src);
	snprintf(mods, sizeof(mods), "%s/tests/e2e/node/node_modules", src);
	if (access(script, R_OK) != 0) {
		tf_cli_err("the demo is not here: %s (set TOKENFENCE_DEMO_DIR to the source tree)", script);
		return TF_EXIT_FAIL;
	}
	if (access("/usr/bin/python3", X_OK) != 0) {
		tf_cli_err("the demo needs Debian's /usr/bin/python3 with boto3: run tools/setup");
		return TF_EXIT_FAIL;
	}
	execl("/usr/bin/python3", "python3", script, "--tokenfence", self, "--emulator", emu,
	      "--aws-models", models, "--node", node, "--node-modules", mods, (char *)NULL);
	tf_cli_err("cannot run %s: %s", script, strerror(errno));
	return TF_EXIT_FAIL;
}
