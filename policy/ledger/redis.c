/*
 * The Redis ledger: budget state shared by many machines.
 *
 * Every operation is one Lua script (EVALSHA), so a multi-scope reserve or
 * settle is atomic in Redis. Money is exact: amounts travel and are stored
 * as decimal int64 strings and changed with HINCRBY; the scripts compare
 * them with two-limb (base 1e9) arithmetic because Lua numbers are doubles.
 *
 * Keys (standalone Redis or a primary with replicas; not Redis Cluster,
 * scripts touch keys they compute):
 *   tf:s:<scope>   hash: limits, spent, reserved, req, rreq, window ...
 *   tf:scopes      set of scope names
 *   tf:seq         reservation ids
 *   tf:r:<id>      hash: a live reservation (amt, req, n, s1..sn)
 *   tf:leases      zset: reservation id -> lease expiry (Redis TIME, ms)
 *   tf:t:<id>      hash: a lease that expired and was charged (kept 2 days
 *                  so a late settle can correct the charge to the real cost)
 *   tf:b:<instance>:<seq>  marker: a reconcile batch already applied (30 days)
 *
 * Leases: a reservation not settled within lease_s (a machine died, a
 * network split) is charged at its full amount by the next script that
 * reaps (every reserve reaps up to 64). Lease times use the Redis server's
 * clock; budget windows use the caller's clock (day/month start computed
 * here, UTC), and a window only ever moves forward.
 *
 * When Redis cannot confirm (connect/timeout/error):
 *   reserve: fail_mode closed -> -ENOTCONN (the caller denies);
 *            fail_mode open   -> a reservation in the local fallback file,
 *            checked against the local limits plus the last totals this
 *            process saw in Redis (machines cannot see each other meanwhile,
 *            so a fleet may overshoot by what they spend during the outage).
 *   settle/release of a Redis reservation: queued in the local file's outbox
 *            (TF_LEDGER_QUEUED) and delivered later; settles are idempotent
 *            by reservation id, so a redelivery never double-charges.
 * Local spend is reconciled into Redis one scope at a time in batches with
 * unique ids (idempotent), so neither mode loses a settled charge, as long
 * as Redis itself keeps its data (run it with appendonly yes and
 * maxmemory-policy noeviction).
 *
 * Protocol: hiredis formats commands and parses replies; the socket I/O is
 * ours, so that the descriptor is close-on-exec from birth, writes use
 * MSG_NOSIGNAL (no SIGPIPE in the host), and every wait is a poll() with the
 * configured timeout. One connection per handle, guarded by a process-local
 * mutex (held at most for a few round trips of timeout_ms each).
 */
#include "ledger/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 500
#define DEFAULT_RETRY_MS 1000
#define DEFAULT_LEASE_S 900
#define TOMBSTONE_S (2 * 86400)
#define BATCH_MARK_S (30 * 86400)
#define EPHEMERAL_TTL_S 604800 /* 7 days; a literal: it is pasted into Lua */
#define REAP_PER_CALL 64
/* Queued items delivered in passing by an ordinary call. */
#define FLUSH_PER_CALL 64
#define BASELINE_CACHE 32
/* Upper bound of one outbox pass (the file holds at most 1024 entries). */
#define TF_OUTBOX_MAX 1024
#define KEY_PREFIX "tf:"
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- scripts ------------------------------------------------------------ */

#define LUA_PRELUDE                                                                            \
	"local B = 1000000000\n"                                                               \
	"local function big(s)\n"                                                              \
	"  s = tostring(s or '0')\n"                                                           \
	"  if s == '' or string.sub(s, 1, 1) == '-' then return {0, 0} end\n"                  \
	"  local n = #s\n"                                                                     \
	"  if n <= 9 then return {0, tonumber(s)} end\n"                                       \
	"  return {tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))}\n"        \
	"end\n"                                                                                \
	"local function add(a, b)\n"                                                           \
	"  local hi, lo = a[1] + b[1], a[2] + b[2]\n"                                          \
	"  if lo >= B then hi, lo = hi + 1, lo - B end\n"                                      \
	"  return {hi, lo}\n"                                                                  \
	"end\n"                                                                                \
	"local function le(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] <= b[2]) end\n"  \
	"local function neg(s) if s == '0' then return '0' end return '-' .. s end\n"          \
	"local function hget(k)\n"                                                             \
	"  local f = redis.call('HGETALL', k)\n"                                               \
	"  local t = {}\n"                                                                     \
	"  for i = 1, #f, 2 do t[f[i]] = f[i + 1] end\n"                                       \
	"  return t\n"                                                                         \
	"end\n"                                                                                \
	"local function split(s)\n"                                                            \
	"  local t = {}\n"                                                                     \
	"  if s and s ~= '' then for x in string.gmatch(s, '[^,]+') do t[#t + 1] = x end end\n" \
	"  return t\n"                                                                         \
	"end\n"                                                                                \
	"local function roll(k, s, wsd, wsm)\n"                                                \
	"  local ws\n"                                                                         \
	"  if s.window == 'day' then ws = wsd elseif s.window == 'month' then ws = wsm\n"      \
	"  else return end\n"                                                                  \
	"  local cur = s.ws or '0'\n"                                                          \
	"  if tonumber(ws) <= tonumber(cur) then return end\n"                                 \
	"  redis.call('HSET', k, 'pws', cur, 'pspent', s.spent or '0', 'preq', s.req or '0',\n" \
	"    'spent', '0', 'req', '0', 'warned', '0', 'ws', ws)\n"                             \
	"  s.spent, s.req, s.warned, s.ws = '0', '0', '0', ws\n"                               \
	"end\n"                                                                                \
	"local function reap(P, leases, nowms, limit, wsd, wsm, grace)\n"                      \
	"  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', nowms, 'LIMIT', 0, limit)\n" \
	"  for _, id in ipairs(ids) do\n"                                                      \
	"    local rk = P .. 'r:' .. id\n"                                                     \
	"    local r = hget(rk)\n"                                                             \
	"    if r.n then\n"                                                                    \
	"      local w = {}\n"                                                                 \
	"      for i = 1, tonumber(r.n) do\n"                                                  \
	"        local k = P .. 's:' .. r['s' .. i]\n"                                         \
	"        local s = hget(k)\n"                                                          \
	"        roll(k, s, wsd, wsm)\n"                                                       \
	"        redis.call('HINCRBY', k, 'reserved', neg(r.amt))\n"                           \
	"        redis.call('HINCRBY', k, 'spent', r.amt)\n"                                   \
	"        redis.call('HINCRBY', k, 'lspent', r.amt)\n"                                  \
	"        redis.call('HINCRBY', k, 'rcl', r.amt)\n"                                     \
	"        redis.call('HINCRBY', k, 'rcln', 1)\n"                                        \
	"        if r.req == '1' then\n"                                                       \
	"          redis.call('HINCRBY', k, 'rreq', -1)\n"                                     \
	"          redis.call('HINCRBY', k, 'req', 1)\n"                                       \
	"          redis.call('HINCRBY', k, 'lreq', 1)\n"                                      \
	"        end\n"                                                                        \
	"        w[#w + 1] = 'w' .. i\n"                                                       \
	"        w[#w + 1] = s.ws or '0'\n"                                                    \
	"      end\n"                                                                          \
	"      local tk = P .. 't:' .. id\n"                                                   \
	"      redis.call('RENAME', rk, tk)\n"                                                 \
	"      redis.call('HSET', tk, unpack(w))\n"                                            \
	"      redis.call('EXPIRE', tk, grace)\n"                                              \
	"    end\n"                                                                            \
	"    redis.call('ZREM', leases, id)\n"                                                 \
	"  end\n"                                                                              \
	"  return #ids\n"                                                                      \
	"end\n"

/*
 * KEYS: scope keys 1..n, seq, leases, scope set.
 * ARGV: prefix, worst, counts_request, lease_ms, n, wsd, wsm, grace, then
 * per scope: name, max_cost, max_req, warn_ppm, warn_cost, warn_req,
 * window, parent, owner.
 * -> {'OK', id, {spent, reserved, ...}} | {'DENY', i, why, spent, reserved, nreq, {...}}
 */
static const char SCRIPT_RESERVE[] =
	LUA_PRELUDE
	"local P, worst, cr, lease, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"local wsd, wsm, grace = ARGV[6], ARGV[7], tonumber(ARGV[8])\n"
	"local t = redis.call('TIME')\n"
	"local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"reap(P, KEYS[n + 2], nowms, " STR(REAP_PER_CALL) ", wsd, wsm, grace)\n"
	"local st = {}\n"
	"for i = 1, n do\n"
	"  local o, k = 8 + (i - 1) * 9, KEYS[i]\n"
	"  redis.call('HSET', k, 'name', ARGV[o + 1], 'max_cost', ARGV[o + 2], 'max_req', ARGV[o + 3],\n"
	"    'warn', ARGV[o + 4], 'wcost', ARGV[o + 5], 'wreq', ARGV[o + 6], 'window', ARGV[o + 7],\n"
	"    'parent', ARGV[o + 8], 'owner', ARGV[o + 9], 'lu', t[1])\n"
	"  if ARGV[o + 9] ~= '0' then redis.call('EXPIRE', k, " STR(EPHEMERAL_TTL_S) ") end\n"
	"  redis.call('SADD', KEYS[n + 3], ARGV[o + 1])\n"
	"  local s = hget(k)\n"
	"  roll(k, s, wsd, wsm)\n"
	"  st[i] = s\n"
	"end\n"
	"local base = {}\n"
	"for i = 1, n do\n"
	"  base[#base + 1] = st[i].spent or '0'\n"
	"  base[#base + 1] = st[i].reserved or '0'\n"
	"end\n"
	"for i = 1, n do\n"
	"  local s = st[i]\n"
	"  local nreq = tonumber(s.req or '0') + tonumber(s.rreq or '0')\n"
	"  local why = nil\n"
	"  if s.killed == '1' then why = 'killed'\n"
	"  elseif cr == 1 and s.max_req ~= '-1' and nreq + 1 > tonumber(s.max_req) then why = 'requests'\n"
	"  elseif s.max_cost ~= '-1' and not le(add(add(big(s.spent), big(s.reserved)), big(worst)), big(s.max_cost)) then why = 'cost' end\n"
	"  if why then return {'DENY', i, why, s.spent or '0', s.reserved or '0', nreq, base} end\n"
	"end\n"
	"local id = redis.call('INCR', KEYS[n + 1])\n"
	"local f = {'amt', worst, 'req', tostring(cr), 'n', tostring(n)}\n"
	"for i = 1, n do\n"
	"  redis.call('HINCRBY', KEYS[i], 'reserved', worst)\n"
	"  if cr == 1 then redis.call('HINCRBY', KEYS[i], 'rreq', 1) end\n"
	"  f[#f + 1] = 's' .. i\n"
	"  f[#f + 1] = st[i].name\n"
	"end\n"
	"redis.call('HSET', P .. 'r:' .. id, unpack(f))\n"
	"redis.call('ZADD', KEYS[n + 2], nowms + lease, id)\n"
	"return {'OK', id, base}\n";

/*
 * KEYS: leases. ARGV: prefix, id, actual, over, op ('s' settle | 'r' release), wsd, wsm.
 * -> {'OK', {warnings}} | {'LATE'} | {'UNKNOWN'} | {'ERANGE'}
 */
static const char SCRIPT_SETTLE[] =
	LUA_PRELUDE
	"local P, id, actual, over, op, wsd, wsm = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]\n"
	"if op == 'r' then actual = '0' end\n"
	"local r = hget(P .. 'r:' .. id)\n"
	"if not r.n then\n"
	"  local tk = P .. 't:' .. id\n"
	"  local tb = hget(tk)\n"
	"  if not tb.n then return {'UNKNOWN'} end\n"
	/* The lease expired and charged amt; correct it to the real cost. A
	 * refund only goes back into the window that was charged. */
	"  local more = not le(big(actual), big(tb.amt))\n"
	"  for i = 1, tonumber(tb.n) do\n"
	"    local k = P .. 's:' .. tb['s' .. i]\n"
	"    local s = hget(k)\n"
	"    roll(k, s, wsd, wsm)\n"
	"    local same = (s.ws or '0') == (tb['w' .. i] or '0')\n"
	"    if same or more then\n"
	"      redis.call('HINCRBY', k, 'spent', actual)\n"
	"      redis.call('HINCRBY', k, 'spent', neg(tb.amt))\n"
	"      redis.call('HINCRBY', k, 'lspent', actual)\n"
	"      redis.call('HINCRBY', k, 'lspent', neg(tb.amt))\n"
	"    end\n"
	"    if same and op == 'r' and tb.req == '1' then\n"
	"      redis.call('HINCRBY', k, 'req', -1)\n"
	"      redis.call('HINCRBY', k, 'lreq', -1)\n"
	"    end\n"
	"  end\n"
	"  redis.call('DEL', tk)\n"
	"  return {'LATE'}\n"
	"end\n"
	"if op == 's' and over ~= '1' and not le(big(actual), big(r.amt)) then return {'ERANGE'} end\n"
	"local out = {}\n"
	"for i = 1, tonumber(r.n) do\n"
	"  local k = P .. 's:' .. r['s' .. i]\n"
	"  local s = hget(k)\n"
	"  roll(k, s, wsd, wsm)\n"
	"  redis.call('HINCRBY', k, 'reserved', neg(r.amt))\n"
	"  if r.req == '1' then redis.call('HINCRBY', k, 'rreq', -1) end\n"
	"  if op == 's' then\n"
	"    redis.call('HINCRBY', k, 'spent', actual)\n"
	"    redis.call('HINCRBY', k, 'lspent', actual)\n"
	"    if r.req == '1' then\n"
	"      redis.call('HINCRBY', k, 'req', 1)\n"
	"      redis.call('HINCRBY', k, 'lreq', 1)\n"
	"    end\n"
	"    local v = redis.call('HMGET', k, 'spent', 'req')\n"
	"    s.spent, s.req = v[1], v[2]\n"
	"    local warned, changed = tonumber(s.warned or '0'), false\n"
	"    local ppm, wc, wr = split(s.warn), split(s.wcost), split(s.wreq)\n"
	"    for j = 1, #ppm do\n"
	"      local bit = 2 ^ (j - 1)\n"
	"      if math.floor(warned / bit) % 2 == 0 then\n"
	"        local hit = (wc[j] and wc[j] ~= '-1' and le(big(wc[j]), big(s.spent))) or\n"
	"          (wr[j] and wr[j] ~= '-1' and tonumber(s.req or '0') >= tonumber(wr[j]))\n"
	"        if hit then\n"
	"          warned, changed = warned + bit, true\n"
	"          out[#out + 1] = {s.name, ppm[j], s.spent, s.max_cost or '-1', s.req or '0', s.max_req or '-1', s.ws or '0'}\n"
	"        end\n"
	"      end\n"
	"    end\n"
	"    if changed then redis.call('HSET', k, 'warned', tostring(warned)) end\n"
	"  end\n"
	"end\n"
	"redis.call('DEL', P .. 'r:' .. id)\n"
	"redis.call('ZREM', KEYS[1], id)\n"
	"return {'OK', out}\n";

/* KEYS: leases. ARGV: prefix, wsd, wsm, grace, limit. -> number reaped */
static const char SCRIPT_REAP[] =
	LUA_PRELUDE
	"local t = redis.call('TIME')\n"
	"local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"return reap(ARGV[1], KEYS[1], nowms, tonumber(ARGV[5]), ARGV[2], ARGV[3], tonumber(ARGV[4]))\n";

/*
 * KEYS: scope key, batch marker, scope set. ARGV: name, cost, requests, wsd, wsm, ttl.
 * -> 'OK' | 'DUP'
 */
static const char SCRIPT_RECONCILE[] =
	LUA_PRELUDE
	"if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[6]) then return 'DUP' end\n"
	"local k = KEYS[1]\n"
	"redis.call('HSETNX', k, 'name', ARGV[1])\n"
	"redis.call('HSETNX', k, 'max_cost', '-1')\n"
	"redis.call('HSETNX', k, 'max_req', '-1')\n"
	"redis.call('SADD', KEYS[3], ARGV[1])\n"
	"local s = hget(k)\n"
	"roll(k, s, ARGV[4], ARGV[5])\n"
	"redis.call('HINCRBY', k, 'spent', ARGV[2])\n"
	"redis.call('HINCRBY', k, 'lspent', ARGV[2])\n"
	"redis.call('HINCRBY', k, 'req', ARGV[3])\n"
	"redis.call('HINCRBY', k, 'lreq', ARGV[3])\n"
	"return 'OK'\n";

/* KEYS: scope key, scope set. ARGV: name, killed. */
static const char SCRIPT_KILL[] =
	"redis.call('HSETNX', KEYS[1], 'name', ARGV[1])\n"
	"redis.call('HSETNX', KEYS[1], 'max_cost', '-1')\n"
	"redis.call('HSETNX', KEYS[1], 'max_req', '-1')\n"
	"redis.call('HSET', KEYS[1], 'killed', ARGV[2])\n"
	"redis.call('SADD', KEYS[2], ARGV[1])\n"
	"return 'OK'\n";

enum { S_RESERVE, S_SETTLE, S_REAP, S_RECONCILE, S_KILL, S_COUNT };

static const char *const scripts[S_COUNT] = {
	[S_RESERVE] = SCRIPT_RESERVE,
	[S_SETTLE] = SCRIPT_SETTLE,
	[S_REAP] = SCRIPT_REAP,
	[S_RECONCILE] = SCRIPT_RECONCILE,
	[S_KILL] = SCRIPT_KILL,
};

/* ---- the handle ---------------------------------------------------------- */

struct baseline {
	char name[TF_SCOPE_NAME_MAX];
	tf_money committed; /* spent + reserved in Redis, as last seen */
};

struct redis_ledger {
	struct tf_ledger base;
	pthread_mutex_t mu;
	char host[256];
	char port_s[8];
	char user[64];
	char pass[128];
	int db;
	char where[300];
	int fd;
	redisReader *rd;
	int used; /* the connection has completed a command */
	char sha[S_COUNT][41];
	int timeout_ms, retry_ms;
	int64_t lease_ms;
	int64_t down_until_ms;
	int connected;
	tf_fail_mode mode;
	tf_ledger *local;
	tf_ledger_clock clock;
	void *clock_ctx;
	struct baseline cache[BASELINE_CACHE];
	uint32_t cache_next;
	pid_t pid; /* the process the connection belongs to */
};

static const struct tf_ledger_ops redis_ops;

static struct redis_ledger *R(tf_ledger *l)
{
	return (struct redis_ledger *)l;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connection and I/O -------------------------------------------------- */

static void conn_drop(struct redis_ledger *h, int failed)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	if (h->rd)
		redisReaderFree(h->rd);
	h->rd = NULL;
	h->used = 0;
	h->connected = 0;
	if (failed)
		h->down_until_ms = mono_ms() + h->retry_ms;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & events) ? -EIO : 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(struct redis_ledger *h, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(h->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(h->fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* Reads one reply. *got_bytes tells whether anything at all came back. */
static int read_reply(struct redis_ledger *h, redisReply **out, int64_t deadline, int *got_bytes)
{
	char buf[16384];

	for (;;) {
		void *rep = NULL;
		if (redisReaderGetReply(h->rd, &rep) != REDIS_OK)
			return -EBADMSG;
		if (rep) {
			*out = rep;
			return 0;
		}
		ssize_t n = recv(h->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			*got_bytes = 1;
			if (redisReaderFeed(h->rd, buf, (size_t)n) != REDIS_OK)
				return -EBADMSG;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = wait_fd(h->fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
}

/* One command on the open connection; -errno on I/O failure (connection dropped). */
static int raw_cmd(struct redis_ledger *h, int argc, const char **argv, const size_t *lens,
		   redisReply **out, int *got_bytes)
{
	int64_t deadline = mono_ms() + h->timeout_ms;
	char *cmd = NULL;
	int len, r;

	*got_bytes = 0;
	len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (len < 0)
		return -ENOMEM;
	r = send_all(h, cmd, (size_t)len, deadline);
	redisFreeCommand(cmd);
	if (r == 0)
		r = read_reply(h, out, deadline, got_bytes);
	return r;
}

static int simple_cmd(struct redis_ledger *h, int argc, const char **argv, redisReply **out)
{
	size_t lens[16];
	int got;

	for (int i = 0; i < argc && i < 16; i++)
		lens[i] = strlen(argv[i]);
	return raw_cmd(h, argc, argv, lens, out, &got);
}

static int load_scripts(struct redis_ledger *h)
{
	for (int i = 0; i < S_COUNT; i++) {
		const char *argv[3] = { "SCRIPT", "LOAD", scripts[i] };
		redisReply *rep = NULL;
		int r = simple_cmd(h, 3, argv, &rep);

		if (r < 0)
			return r;
		r = (rep->type == REDIS_REPLY_STRING && rep->len == 40) ? 0 : -EIO;
		if (r == 0)
			memcpy(h->sha[i], rep->str, 41);
		freeReplyObject(rep);
		if (r < 0)
			return r;
	}
	return 0;
}

static int tcp_connect(struct redis_ledger *h)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int64_t deadline = mono_ms() + h->timeout_ms;
	int r = -ECONNREFUSED;

	/* Numeric addresses never touch the resolver; names use the system's. */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(h->host, h->port_s, &hints, &ai) != 0) {
		hints.ai_flags = AI_NUMERICSERV;
		if (getaddrinfo(h->host, h->port_s, &hints, &ai) != 0)
			return -EHOSTUNREACH;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			continue;
		}
		int err = 0;
		socklen_t el = sizeof(err);
		r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err)
			r = -err;
		if (r < 0) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		h->fd = tf_ledger_fd_high(fd);
		r = 0;
		break;
	}
	freeaddrinfo(ai);
	return r;
}

static int conn_ensure(struct redis_ledger *h)
{
	redisReply *rep = NULL;
	int r;

	/* A child that forgot tf_ledger_atfork_child() must still never talk
	 * on its parent's socket: replies would go to the wrong process. */
	if (h->pid != getpid()) {
		conn_drop(h, 0);
		h->pid = getpid();
	}
	if (h->fd >= 0)
		return 0;
	if (mono_ms() < h->down_until_ms)
		return -ENOTCONN;
	if ((r = tcp_connect(h)) < 0)
		goto fail;
	h->rd = redisReaderCreate();
	if (!h->rd) {
		r = -ENOMEM;
		goto fail;
	}
	if (h->pass[0]) {
		const char *a1[2] = { "AUTH", h->pass };
		const char *a2[3] = { "AUTH", h->user, h->pass };
		r = h->user[0] ? simple_cmd(h, 3, a2, &rep) : simple_cmd(h, 2, a1, &rep);
		if (r == 0 && rep->type == REDIS_REPLY_ERROR)
			r = -EACCES;
		freeReplyObject(rep);
		rep = NULL;
		if (r < 0)
			goto fail;
	}
	if (h->db) {
		char dbs[16];
		snprintf(dbs, sizeof(dbs), "%d", h->db);
		const char *a[2] = { "SELECT", dbs };
		r = simple_cmd(h, 2, a, &rep);
		if (r == 0 && rep->type == REDIS_REPLY_ERROR)
			r = -EINVAL;
		freeReplyObject(rep);
		rep = NULL;
		if (r < 0)
			goto fail;
	}
	if ((r = load_scripts(h)) < 0)
		goto fail;
	h->connected = 1;
	/* Back after an outage: whatever was queued meanwhile goes first. */
	if (h->local)
		tf_file_sync_hint_set(h->local);
	return 0;
fail:
	conn_drop(h, 1);
	/* Callers only need: not reachable, too slow, or refused our credentials/db. */
	return r == -ETIMEDOUT || r == -EACCES || r == -EINVAL ? r : -ENOTCONN;
}

/*
 * Runs a script. Returns 0 with *out set (which may be an error reply),
 * or -ENOTCONN / -ETIMEDOUT when Redis could not be asked. A connection
 * that fails before any reply byte after idling is retried once on a fresh
 * one: an idle connection closed by the server (timeout, restart) never
 * received the command.
 */
static int eval(struct redis_ledger *h, int script, int argc, const char **argv, size_t *lens,
		redisReply **out)
{
	for (int i = 2; i < argc; i++)
		lens[i] = strlen(argv[i]);
	for (int attempt = 0; attempt < 3; attempt++) {
		int got = 0, was_used, r;

		if ((r = conn_ensure(h)) < 0)
			return r;
		was_used = h->used;
		argv[0] = "EVALSHA";
		lens[0] = 7;
		argv[1] = h->sha[script];
		lens[1] = 40;
		r = raw_cmd(h, argc, argv, lens, out, &got);
		if (r < 0) {
			int retry = was_used && !got && attempt == 0 && r != -ETIMEDOUT;
			conn_drop(h, !retry);
			if (retry)
				continue;
			return r == -ETIMEDOUT ? r : -ENOTCONN;
		}
		h->used = 1;
		if ((*out)->type == REDIS_REPLY_ERROR && strncmp((*out)->str, "NOSCRIPT", 8) == 0) {
			/* The script cache was flushed (restart, SCRIPT FLUSH). */
			freeReplyObject(*out);
			*out = NULL;
			if ((r = load_scripts(h)) < 0) {
				conn_drop(h, 1);
				return -ENOTCONN;
			}
			continue;
		}
		return 0;
	}
	return -ENOTCONN;
}

/* ---- reply helpers --------------------------------------------------------- */

static const redisReply *el(const redisReply *r, size_t i)
{
	return (r && r->type == REDIS_REPLY_ARRAY && i < r->elements) ? r->element[i] : NULL;
}

static int is_str(const redisReply *r, const char *s)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
	       strcmp(r->str, s) == 0;
}

static int64_t num(const redisReply *r)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return strtoll(r->str, NULL, 10);
	return 0;
}

static void copy_name(char dst[TF_SCOPE_NAME_MAX], const char *src)
{
	size_t n = strnlen(src, TF_SCOPE_NAME_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- baseline cache (fail-open) -------------------------------------------- */

static struct baseline *cache_find(struct redis_ledger *h, const char *name)
{
	for (uint32_t i = 0; i < BASELINE_CACHE; i++)
		if (strcmp(h->cache[i].name, name) == 0)
			return &h->cache[i];
	return NULL;
}

static void cache_put(struct redis_ledger *h, const char *name, tf_money committed)
{
	struct baseline *b = cache_find(h, name);

	if (!b) {
		b = &h->cache[h->cache_next++ % BASELINE_CACHE];
		copy_name(b->name, name);
	}
	b->committed = committed;
}

static void cache_from_reply(struct redis_ledger *h, const tf_scope_def *chain, size_t n,
			     const redisReply *base, tf_money add)
{
	for (size_t i = 0; i < n; i++)
		cache_put(h, chain[i].name,
			  tf_money_add(tf_money_add(num(el(base, 2 * i)), num(el(base, 2 * i + 1))), add));
}

/* ---- operations ---------------------------------------------------------- */

static void window_args(struct redis_ledger *h, char wsd[24], char wsm[24])
{
	int64_t now = tf_ledger_now(h->clock, h->clock_ctx);

	snprintf(wsd, 24, "%lld", (long long)tf_window_start(TF_WINDOW_DAY, now));
	snprintf(wsm, 24, "%lld", (long long)tf_window_start(TF_WINDOW_MONTH, now));
}

static int64_t ceil_fraction(int64_t limit, uint32_t ppm)
{
	if (limit <= 0)
		return -1;
	__int128 p = (__int128)limit * ppm;
	return (int64_t)((p + TF_BUDGET_PPM - 1) / TF_BUDGET_PPM);
}

static void warn_args(const tf_scope_def *d, char *ppm, char *cost, char *req, size_t len)
{
	size_t a = 0, b = 0, c = 0;

	ppm[0] = cost[0] = req[0] = 0;
	for (int i = 0; i < TF_BUDGET_WARN_MAX && d->warn_ppm[i]; i++) {
		const char *sep = i ? "," : "";
		a += (size_t)snprintf(ppm + a, len - a, "%s%u", sep, d->warn_ppm[i]);
		b += (size_t)snprintf(cost + b, len - b, "%s%lld", sep,
				      (long long)ceil_fraction(d->max_cost, d->warn_ppm[i]));
		c += (size_t)snprintf(req + c, len - c, "%s%lld", sep,
				      (long long)ceil_fraction(d->max_requests, d->warn_ppm[i]));
	}
}

#define RES_FIXED 8
#define RES_PER_SCOPE 9
#define RES_ARGS (2 + RES_FIXED + RES_PER_SCOPE * TF_BUDGET_CHAIN_MAX + TF_BUDGET_CHAIN_MAX + 3)

/* Per-scope argument text of a reserve call. */
struct scope_args {
	char key[TF_SCOPE_NAME_MAX + 8];
	char max_cost[24], max_req[24], owner[16];
	char ppm[64], wcost[128], wreq[128];
};

static int redis_reserve_remote(struct redis_ledger *h, const tf_scope_def *chain, size_t n,
				tf_money worst, unsigned flags, tf_ledger_res *res,
				tf_budget_denial *why)
{
	struct scope_args sa[TF_BUDGET_CHAIN_MAX];
	const char *argv[RES_ARGS];
	size_t lens[RES_ARGS];
	char worst_s[24], lease_s[24], n_s[8], nkeys[8], wsd[24], wsm[24], grace_s[16];
	int argc = 0, r;
	redisReply *rep = NULL;

	snprintf(worst_s, sizeof(worst_s), "%lld", (long long)worst);
	snprintf(lease_s, sizeof(lease_s), "%lld", (long long)h->lease_ms);
	snprintf(n_s, sizeof(n_s), "%zu", n);
	snprintf(grace_s, sizeof(grace_s), "%d", TOMBSTONE_S);
	window_args(h, wsd, wsm);
	argv[argc++] = NULL; /* EVALSHA sha, filled by eval() */
	argv[argc++] = NULL;
	snprintf(nkeys, sizeof(nkeys), "%zu", n + 3);
	argv[argc++] = nkeys;
	for (size_t i = 0; i < n; i++) {
		snprintf(sa[i].key, sizeof(sa[i].key), KEY_PREFIX "s:%s", chain[i].name);
		argv[argc++] = sa[i].key;
	}
	argv[argc++] = KEY_PREFIX "seq";
	argv[argc++] = KEY_PREFIX "leases";
	argv[argc++] = KEY_PREFIX "scopes";
	argv[argc++] = KEY_PREFIX;
	argv[argc++] = worst_s;
	argv[argc++] = (flags & TF_LEDGER_COUNT_REQUEST) ? "1" : "0";
	argv[argc++] = lease_s;
	argv[argc++] = n_s;
	argv[argc++] = wsd;
	argv[argc++] = wsm;
	argv[argc++] = grace_s;
	for (size_t i = 0; i < n; i++) {
		const tf_scope_def *d = &chain[i];
		snprintf(sa[i].max_cost, sizeof(sa[i].max_cost), "%lld", (long long)d->max_cost);
		snprintf(sa[i].max_req, sizeof(sa[i].max_req), "%lld", (long long)d->max_requests);
		snprintf(sa[i].owner, sizeof(sa[i].owner), "%d", (int)d->owner_pid);
		warn_args(d, sa[i].ppm, sa[i].wcost, sa[i].wreq, sizeof(sa[i].ppm));
		argv[argc++] = d->name;
		argv[argc++] = sa[i].max_cost;
		argv[argc++] = sa[i].max_req;
		argv[argc++] = sa[i].ppm;
		argv[argc++] = sa[i].wcost;
		argv[argc++] = sa[i].wreq;
		argv[argc++] = tf_window_name(d->window);
		argv[argc++] = d->parent;
		argv[argc++] = sa[i].owner;
	}
	if ((r = eval(h, S_RESERVE, argc, argv, lens, &rep)) < 0)
		return r;
	if (is_str(el(rep, 0), "OK")) {
		res->id = (uint64_t)num(el(rep, 1));
		res->slot = 0;
		res->flags = 0;
		res->amount = worst;
		cache_from_reply(h, chain, n, el(rep, 2), worst);
		r = 0;
	} else if (is_str(el(rep, 0), "DENY")) {
		int64_t i = num(el(rep, 1)) - 1;
		const redisReply *reason = el(rep, 2);
		if (i < 0 || (size_t)i >= n)
			i = 0;
		if (why) {
			memset(why, 0, sizeof(*why));
			why->reason = is_str(reason, "killed")	 ? TF_BUDGET_REASON_KILLED :
				      is_str(reason, "requests") ? TF_BUDGET_REASON_REQUESTS :
								   TF_BUDGET_REASON_COST;
			copy_name(why->scope, chain[i].name);
			why->asked = worst;
			why->max_cost = chain[i].max_cost;
			why->spent = num(el(rep, 3));
			why->reserved = num(el(rep, 4));
			why->max_requests = chain[i].max_requests;
			why->requests = num(el(rep, 5));
		}
		cache_from_reply(h, chain, n, el(rep, 6), 0);
		r = TF_LEDGER_DENIED;
	} else {
		r = -EIO;
	}
	freeReplyObject(rep);
	return r;
}

/* Fail-open: reserve in the local file against local limits plus the last Redis totals seen. */
static int reserve_local(struct redis_ledger *h, const tf_scope_def *chain, size_t n,
			 tf_money worst, unsigned flags, tf_ledger_res *res, tf_budget_denial *why)
{
	tf_scope_def local[TF_BUDGET_CHAIN_MAX];
	tf_money external[TF_BUDGET_CHAIN_MAX];
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct baseline *b = cache_find(h, chain[i].name);
		local[i] = chain[i];
		/* The local file only accumulates what Redis has not seen yet;
		 * windows are Redis's business once it is back. */
		local[i].window = TF_WINDOW_NONE;
		external[i] = b ? b->committed : 0;
	}
	r = tf_file_reserve_ext(h->local, local, n, external, worst, flags, res, why);
	if (r == 0)
		res->flags |= TF_LEDGER_RES_LOCAL;
	return r;
}

static int settle_remote(struct redis_ledger *h, uint64_t id, tf_money actual, unsigned flags,
			 int release, tf_budget_events *ev)
{
	const char *argv[11];
	size_t lens[11];
	char id_s[24], actual_s[24], wsd[24], wsm[24];
	redisReply *rep = NULL;
	int argc = 0, r;

	snprintf(id_s, sizeof(id_s), "%llu", (unsigned long long)id);
	snprintf(actual_s, sizeof(actual_s), "%lld", (long long)actual);
	window_args(h, wsd, wsm);
	argv[argc++] = NULL;
	argv[argc++] = NULL;
	argv[argc++] = "1";
	argv[argc++] = KEY_PREFIX "leases";
	argv[argc++] = KEY_PREFIX;
	argv[argc++] = id_s;
	argv[argc++] = actual_s;
	argv[argc++] = (flags & TF_LEDGER_SETTLE_OVER) ? "1" : "0";
	argv[argc++] = release ? "r" : "s";
	argv[argc++] = wsd;
	argv[argc++] = wsm;
	if ((r = eval(h, S_SETTLE, argc, argv, lens, &rep)) < 0)
		return r;
	const redisReply *st = el(rep, 0);
	if (is_str(st, "OK")) {
		const redisReply *w = el(rep, 1);
		for (size_t i = 0; ev && w && i < w->elements; i++) {
			const redisReply *x = el(w, i);
			if (ev->n >= sizeof(ev->warn) / sizeof(ev->warn[0]))
				break;
			tf_budget_warning *o = &ev->warn[ev->n++];
			memset(o, 0, sizeof(*o));
			if (el(x, 0) && el(x, 0)->type == REDIS_REPLY_STRING)
				copy_name(o->scope, el(x, 0)->str);
			o->ppm = (uint32_t)num(el(x, 1));
			o->spent = num(el(x, 2));
			o->max_cost = num(el(x, 3));
			o->requests = num(el(x, 4));
			o->max_requests = num(el(x, 5));
			o->window_start = num(el(x, 6));
		}
		r = 0;
	} else if (is_str(st, "LATE")) {
		r = 0;
	} else if (is_str(st, "UNKNOWN")) {
		r = -ENOENT;
	} else if (is_str(st, "ERANGE")) {
		r = -ERANGE;
	} else {
		r = -EIO;
	}
	freeReplyObject(rep);
	return r;
}

static int reconcile_remote(struct redis_ledger *h, const tf_sync_batch *b)
{
	char key[TF_SCOPE_NAME_MAX + 8], mark[64], cost[24], req[24], wsd[24], wsm[24], ttl[16];
	const char *argv[12];
	size_t lens[12];
	redisReply *rep = NULL;
	int argc = 0, r;

	snprintf(key, sizeof(key), KEY_PREFIX "s:%s", b->scope);
	snprintf(mark, sizeof(mark), KEY_PREFIX "b:%016llx:%llu", (unsigned long long)b->instance,
		 (unsigned long long)b->seq);
	snprintf(cost, sizeof(cost), "%lld", (long long)b->cost);
	snprintf(req, sizeof(req), "%lld", (long long)b->requests);
	snprintf(ttl, sizeof(ttl), "%d", BATCH_MARK_S);
	window_args(h, wsd, wsm);
	argv[argc++] = NULL;
	argv[argc++] = NULL;
	argv[argc++] = "3";
	argv[argc++] = key;
	argv[argc++] = mark;
	argv[argc++] = KEY_PREFIX "scopes";
	argv[argc++] = b->scope;
	argv[argc++] = cost;
	argv[argc++] = req;
	argv[argc++] = wsd;
	argv[argc++] = wsm;
	argv[argc++] = ttl;
	if ((r = eval(h, S_RECONCILE, argc, argv, lens, &rep)) < 0)
		return r;
	r = (is_str(rep, "OK") || is_str(rep, "DUP")) ? 0 : -EIO;
	freeReplyObject(rep);
	return r;
}

static int reap_remote(struct redis_ledger *h)
{
	char wsd[24], wsm[24], grace[16], lim[8];
	const char *argv[9];
	size_t lens[9];
	redisReply *rep = NULL;
	int r;

	window_args(h, wsd, wsm);
	snprintf(grace, sizeof(grace), "%d", TOMBSTONE_S);
	snprintf(lim, sizeof(lim), "%d", REAP_PER_CALL);
	argv[0] = argv[1] = NULL;
	argv[2] = "1";
	argv[3] = KEY_PREFIX "leases";
	argv[4] = KEY_PREFIX;
	argv[5] = wsd;
	argv[6] = wsm;
	argv[7] = grace;
	argv[8] = lim;
	if ((r = eval(h, S_REAP, 9, argv, lens, &rep)) < 0)
		return r;
	r = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -EIO;
	freeReplyObject(rep);
	return r;
}

/*
 * Delivers queued settles, then reconciles local spend, at most limit items
 * (0: all). Returns 0 when everything got through, else negative; the hint
 * is set again so a later call resumes. Called with h->mu held.
 */
static int flush_locked(struct redis_ledger *h, int limit)
{
	tf_outbox_entry q[32];
	int done = 0, r = 0;

	for (;;) {
		int n = tf_file_outbox_peek(h->local, q, sizeof(q) / sizeof(q[0]));
		if (n <= 0) {
			r = n;
			break;
		}
		for (int i = 0; i < n && r >= 0; i++) {
			r = settle_remote(h, q[i].remote_id, q[i].actual, q[i].flags,
					  q[i].op == TF_OUTBOX_RELEASE, NULL);
			/* Dropped only on a definitive answer: applied (now or
			 * before: settles are idempotent by id) or refused for good.
			 * An error reply (OOM, READONLY during a failover) waits. */
			if (r == 0 || r == -ENOENT || r == -ERANGE) {
				tf_file_outbox_drop(h->local, &q[i]);
				r = 0;
			}
			done++;
		}
		/* The bound also stops a loop on an entry whose drop keeps failing. */
		if (r < 0 || (limit && done >= limit) || done > (int)TF_OUTBOX_MAX)
			goto out;
	}
	if (r < 0)
		goto out;
	for (;;) {
		tf_sync_batch b;
		int got = tf_file_sync_take(h->local, &b);
		if (got <= 0) {
			r = got;
			break;
		}
		if ((r = reconcile_remote(h, &b)) < 0)
			break;
		tf_file_sync_done(h->local, &b);
		if (limit && ++done >= limit) {
			r = -EAGAIN;
			break;
		}
	}
out:
	if (r < 0 || (limit && done >= limit))
		tf_file_sync_hint_set(h->local);
	return r;
}

/* Before an ordinary call: deliver what is queued if Redis is reachable. */
static void maybe_flush(struct redis_ledger *h)
{
	if (h->fd < 0 && mono_ms() < h->down_until_ms)
		return;
	if (tf_file_sync_hint_take(h->local))
		flush_locked(h, FLUSH_PER_CALL);
}

static int rl_reserve(tf_ledger *l, const tf_scope_def *chain, size_t n, tf_money worst,
		      unsigned flags, tf_ledger_res *res, tf_budget_denial *why)
{
	struct redis_ledger *h = R(l);
	int r;

	if (tf_budget_chain_validate(chain, n) < 0 || worst < 0)
		return -EINVAL;
	pthread_mutex_lock(&h->mu);
	maybe_flush(h);
	r = redis_reserve_remote(h, chain, n, worst, flags, res, why);
	if (r < 0 && h->mode == TF_FAIL_OPEN)
		r = reserve_local(h, chain, n, worst, flags, res, why);
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int finish(struct redis_ledger *h, const tf_ledger_res *res, tf_money actual,
		  unsigned flags, int release, tf_budget_events *ev)
{
	int r;

	if (res->flags & TF_LEDGER_RES_LOCAL)
		return release ? tf_ledger_release(h->local, res) :
				 tf_ledger_settle(h->local, res, actual, flags, ev);
	if (!release && actual > res->amount && !(flags & TF_LEDGER_SETTLE_OVER))
		return -ERANGE;
	pthread_mutex_lock(&h->mu);
	maybe_flush(h);
	r = settle_remote(h, res->id, actual, flags, release, ev);
	if (r == -ENOTCONN || r == -ETIMEDOUT || r == -EIO) {
		/* Never lose it: the outbox delivers it once Redis answers. */
		r = tf_file_outbox_put(h->local, release ? TF_OUTBOX_RELEASE : TF_OUTBOX_SETTLE,
				       res->id, actual, flags);
		if (r == 0)
			r = TF_LEDGER_QUEUED;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int rl_settle(tf_ledger *l, const tf_ledger_res *res, tf_money actual, unsigned flags,
		     tf_budget_events *ev)
{
	return finish(R(l), res, actual, flags, 0, ev);
}

static int rl_release(tf_ledger *l, const tf_ledger_res *res)
{
	return finish(R(l), res, 0, 0, 1, NULL);
}

static void parse_scope(const redisReply *rep, tf_scope_state *s)
{
	memset(s, 0, sizeof(*s));
	s->def.max_cost = TF_BUDGET_NO_LIMIT;
	s->def.max_requests = TF_BUDGET_NO_LIMIT;
	for (size_t i = 0; rep && i + 1 < rep->elements; i += 2) {
		const char *k = el(rep, i)->str;
		const redisReply *v = el(rep, i + 1);
		const char *vs = v->str ? v->str : "";
		int64_t x = num(v);

		if (!strcmp(k, "name"))
			copy_name(s->def.name, vs);
		else if (!strcmp(k, "parent"))
			copy_name(s->def.parent, vs);
		else if (!strcmp(k, "max_cost"))
			s->def.max_cost = x;
		else if (!strcmp(k, "max_req"))
			s->def.max_requests = x;
		else if (!strcmp(k, "window"))
			tf_window_parse(vs, strlen(vs), &s->def.window);
		else if (!strcmp(k, "owner"))
			s->def.owner_pid = (int32_t)x;
		else if (!strcmp(k, "warn")) {
			char *p = (char *)vs;
			for (int j = 0; j < TF_BUDGET_WARN_MAX && *p; j++) {
				s->def.warn_ppm[j] = (uint32_t)strtoul(p, &p, 10);
				if (*p == ',')
					p++;
			}
		} else if (!strcmp(k, "spent"))
			s->spent = x;
		else if (!strcmp(k, "reserved"))
			s->reserved = x;
		else if (!strcmp(k, "req"))
			s->requests = x;
		else if (!strcmp(k, "rreq"))
			s->reserved_requests = x;
		else if (!strcmp(k, "ws"))
			s->window_start = x;
		else if (!strcmp(k, "killed"))
			s->killed = x != 0;
		else if (!strcmp(k, "warned"))
			s->warned = (uint32_t)x;
		else if (!strcmp(k, "rcl"))
			s->reclaimed = x;
		else if (!strcmp(k, "rcln"))
			s->reclaimed_count = x;
		else if (!strcmp(k, "lspent"))
			s->lifetime_spent = x;
		else if (!strcmp(k, "lreq"))
			s->lifetime_requests = x;
		else if (!strcmp(k, "lu"))
			s->last_used = x;
		else if (!strcmp(k, "pws"))
			s->previous.start = x;
		else if (!strcmp(k, "pspent"))
			s->previous.spent = x;
		else if (!strcmp(k, "preq"))
			s->previous.requests = x;
	}
}

static int fetch_scope(struct redis_ledger *h, const char *name, tf_scope_state *out)
{
	char key[TF_SCOPE_NAME_MAX + 8];
	const char *argv[2] = { "HGETALL", key };
	redisReply *rep = NULL;
	int r, got;
	size_t lens[2];

	snprintf(key, sizeof(key), KEY_PREFIX "s:%s", name);
	if ((r = conn_ensure(h)) < 0)
		return r;
	lens[0] = 7;
	lens[1] = strlen(key);
	if ((r = raw_cmd(h, 2, argv, lens, &rep, &got)) < 0) {
		conn_drop(h, 1);
		return r == -ETIMEDOUT ? r : -ENOTCONN;
	}
	h->used = 1;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
		freeReplyObject(rep);
		return -ENOENT;
	}
	parse_scope(rep, out);
	freeReplyObject(rep);
	if (!out->def.name[0])
		copy_name(out->def.name, name);
	tf_budget_roll(out, tf_ledger_now(h->clock, h->clock_ctx));
	return 0;
}

static int rl_totals(tf_ledger *l, const char *scope, tf_scope_state *out)
{
	struct redis_ledger *h = R(l);
	int r;

	if (!tf_scope_name_valid(scope))
		return -EINVAL;
	pthread_mutex_lock(&h->mu);
	r = fetch_scope(h, scope, out);
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int rl_list(tf_ledger *l, tf_scope_state *out, size_t cap)
{
	struct redis_ledger *h = R(l);
	const char *argv[2] = { "SMEMBERS", KEY_PREFIX "scopes" };
	redisReply *rep = NULL;
	int r;
	size_t n = 0;

	pthread_mutex_lock(&h->mu);
	if ((r = conn_ensure(h)) == 0 && (r = simple_cmd(h, 2, argv, &rep)) < 0) {
		conn_drop(h, 1);
		r = -ENOTCONN;
	}
	for (size_t i = 0; r == 0 && rep && i < rep->elements; i++) {
		const redisReply *nm = el(rep, i);
		tf_scope_state tmp;
		if (!nm || nm->type != REDIS_REPLY_STRING || !tf_scope_name_valid(nm->str))
			continue;
		int x = fetch_scope(h, nm->str, n < cap ? &out[n] : &tmp);
		if (x == -ENOENT)
			continue; /* an ephemeral scope that expired */
		if (x < 0)
			r = x;
		else
			n++;
	}
	if (rep)
		freeReplyObject(rep);
	pthread_mutex_unlock(&h->mu);
	return r < 0 ? r : (int)n;
}

static int rl_kill(tf_ledger *l, const char *scope, int killed)
{
	struct redis_ledger *h = R(l);
	char key[TF_SCOPE_NAME_MAX + 8];
	const char *argv[7];
	size_t lens[7];
	redisReply *rep = NULL;
	int r;

	if (!tf_scope_name_valid(scope))
		return -EINVAL;
	snprintf(key, sizeof(key), KEY_PREFIX "s:%s", scope);
	argv[0] = argv[1] = NULL;
	argv[2] = "2";
	argv[3] = key;
	argv[4] = KEY_PREFIX "scopes";
	argv[5] = scope;
	argv[6] = killed ? "1" : "0";
	pthread_mutex_lock(&h->mu);
	r = eval(h, S_KILL, 7, argv, lens, &rep);
	if (r == 0) {
		r = is_str(rep, "OK") ? 0 : -EIO;
		freeReplyObject(rep);
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int rl_sync(tf_ledger *l)
{
	struct redis_ledger *h = R(l);
	int r;

	/* Charge local reservations of dead processes first: they become local spend. */
	r = tf_ledger_sync(h->local);
	if (r < 0)
		return r;
	pthread_mutex_lock(&h->mu);
	tf_file_sync_hint_take(h->local);
	h->down_until_ms = 0;
	r = flush_locked(h, 0);
	if (r == 0)
		while ((r = reap_remote(h)) == REAP_PER_CALL)
			;
	pthread_mutex_unlock(&h->mu);
	if (r < 0)
		return r;
	tf_ledger_info li;
	if ((r = tf_ledger_info_get(h->local, &li)) < 0)
		return r;
	return (int)li.pending;
}

static int rl_info(tf_ledger *l, tf_ledger_info *out)
{
	struct redis_ledger *h = R(l);
	tf_ledger_info li;
	int r = tf_ledger_info_get(h->local, &li);

	if (r < 0)
		return r;
	*out = li;
	memset(out->backend, 0, sizeof(out->backend));
	memcpy(out->backend, "redis", 5);
	memset(out->where, 0, sizeof(out->where));
	memcpy(out->where, h->where, strnlen(h->where, sizeof(out->where) - 1));
	pthread_mutex_lock(&h->mu);
	out->connected = h->connected;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

static void rl_atfork_child(tf_ledger *l)
{
	struct redis_ledger *h = R(l);

	/* Another thread of the parent may have held the mutex or been mid-
	 * reply on the socket: start over with a fresh lock and connection. */
	pthread_mutex_init(&h->mu, NULL);
	conn_drop(h, 0);
	h->pid = getpid();
	h->down_until_ms = 0;
	tf_ledger_atfork_child(h->local);
}

static void rl_close(tf_ledger *l)
{
	struct redis_ledger *h = R(l);

	conn_drop(h, 0);
	tf_ledger_close(h->local);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static const struct tf_ledger_ops redis_ops = {
	.reserve = rl_reserve,
	.settle = rl_settle,
	.release = rl_release,
	.totals = rl_totals,
	.list = rl_list,
	.kill = rl_kill,
	.sync = rl_sync,
	.info = rl_info,
	.atfork_child = rl_atfork_child,
	.close = rl_close,
};

/* ---- open ------------------------------------------------------------------ */

/* redis://[[user]:password@]host[:port][/db]; IPv6 hosts in brackets. */
static int parse_spec(struct redis_ledger *h, const char *spec)
{
	const char *p = spec + 8, *at, *end, *slash;
	long port = 6379, db = 0;

	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon || (size_t)(colon - p) >= sizeof(h->user) ||
		    (size_t)(at - colon - 1) >= sizeof(h->pass))
			return -EINVAL;
		memcpy(h->user, p, (size_t)(colon - p));
		memcpy(h->pass, colon + 1, (size_t)(at - colon - 1));
		p = at + 1;
	}
	const char *hs = p, *he;
	if (*p == '[') {
		he = memchr(p, ']', (size_t)(end - p));
		if (!he)
			return -EINVAL;
		hs = p + 1;
		p = he + 1;
	} else {
		he = memchr(p, ':', (size_t)(end - p));
		if (!he)
			he = end;
		p = he;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(h->host))
		return -EINVAL;
	memcpy(h->host, hs, (size_t)(he - hs));
	if (p < end && *p == ':') {
		char *e;
		port = strtol(p + 1, &e, 10);
		if (e != end || port <= 0 || port > 65535)
			return -EINVAL;
	} else if (p != end) {
		return -EINVAL;
	}
	if (slash && slash[1]) {
		char *e;
		db = strtol(slash + 1, &e, 10);
		if (*e || db < 0 || db > 1000000)
			return -EINVAL;
	}
	snprintf(h->port_s, sizeof(h->port_s), "%ld", port);
	h->db = (int)db;
	snprintf(h->where, sizeof(h->where), "redis://%s%s%s:%ld/%ld", strchr(h->host, ':') ? "[" : "",
		 h->host, strchr(h->host, ':') ? "]" : "", port, db);
	return 0;
}

int tf_redis_ledger_open(const char *spec, const tf_ledger_opts *o, tf_ledger **out, char *err,
			 size_t errlen)
{
	struct redis_ledger *h = calloc(1, sizeof(*h));
	char local[PATH_MAX];
	int r;

	if (!h)
		return -ENOMEM;
	h->base.ops = &redis_ops;
	h->fd = -1;
	h->pid = getpid();
	pthread_mutex_init(&h->mu, NULL);
	if (parse_spec(h, spec) < 0) {
		if (err)
			snprintf(err, errlen, "invalid Redis ledger '%s' (redis://host:port/db)", spec);
		r = -EINVAL;
		goto fail;
	}
	h->timeout_ms = (o && o->timeout_ms > 0) ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	h->retry_ms = (o && o->retry_ms > 0) ? o->retry_ms : DEFAULT_RETRY_MS;
	h->lease_ms = (int64_t)((o && o->lease_s > 0) ? o->lease_s : DEFAULT_LEASE_S) * 1000;
	h->mode = o ? o->fail_mode : TF_FAIL_CLOSED;
	h->clock = o ? o->clock : NULL;
	h->clock_ctx = o ? o->clock_ctx : NULL;
	if (o && o->local_path && *o->local_path) {
		if (snprintf(local, sizeof(local), "%s", o->local_path) >= (int)sizeof(local)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
	} else {
		char dir[PATH_MAX - 64];
		if ((r = tf_ledger_default_dir(dir, sizeof(dir), err, errlen)) < 0)
			goto fail;
		int n = snprintf(local, sizeof(local), "%s/redis-", dir);
		for (const char *c = h->host; *c && n < (int)sizeof(local) - 32; c++)
			local[n++] = (char)((*c == '/' || *c == ':') ? '_' : *c);
		snprintf(local + n, sizeof(local) - (size_t)n, "-%s-%d", h->port_s, h->db);
	}
	if ((r = tf_file_ledger_open(local, o, TF_FILE_FALLBACK, &h->local, err, errlen)) < 0)
		goto fail;
	/* Not connecting here: the first call does, so an unreachable Redis
	 * costs nothing at startup and fail_mode decides per call. */
	tf_file_sync_hint_set(h->local);
	*out = &h->base;
	return 0;
fail:
	pthread_mutex_destroy(&h->mu);
	free(h);
	return r;
}
