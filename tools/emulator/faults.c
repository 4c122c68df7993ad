#include "faults.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

static const char *const names[] = {
	[EMU_FAULT_NONE] = "none",
	[EMU_FAULT_429] = "429",
	[EMU_FAULT_500] = "500",
	[EMU_FAULT_503] = "503",
	[EMU_FAULT_MALFORMED] = "malformed",
	[EMU_FAULT_TRUNCATE] = "truncate",
	[EMU_FAULT_CRC] = "crc",
	[EMU_FAULT_BIGEVENT] = "bigevent",
};

const char *emu_fault_name(emu_fault_kind k)
{
	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "none";
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	char buf[24];
	char *end;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return false;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

static int cond(emu_fault *f, const char *c, size_t n, char *err, size_t errlen)
{
	const char *eq = memchr(c, '=', n);
	size_t kl, vl;
	const char *v;

	if (!eq) {
		snprintf(err, errlen, "condition '%.*s' is not KEY=VALUE", (int)n, c);
		return -1;
	}
	kl = (size_t)(eq - c);
	v = eq + 1;
	vl = n - kl - 1;
	if (kl == 1 && c[0] == 'n') {
		const char *dash = memchr(v, '-', vl);

		if (!dash) {
			if (!parse_u64(v, vl, &f->n_lo) || f->n_lo == 0)
				goto bad;
			f->n_hi = f->n_lo;
			return 0;
		}
		if (!parse_u64(v, (size_t)(dash - v), &f->n_lo) || f->n_lo == 0)
			goto bad;
		if ((size_t)(dash - v) + 1 == vl)
			f->n_hi = UINT64_MAX;
		else if (!parse_u64(dash + 1, vl - (size_t)(dash - v) - 1, &f->n_hi) ||
			 f->n_hi < f->n_lo)
			goto bad;
		return 0;
	}
	if (kl == 5 && memcmp(c, "times", 5) == 0) {
		if (!parse_u64(v, vl, &f->times) || f->times == 0)
			goto bad;
		return 0;
	}
	if (kl == 5 && memcmp(c, "route", 5) == 0 && vl && vl < sizeof(f->route)) {
		memcpy(f->route, v, vl);
		f->route[vl] = '\0';
		return 0;
	}
	if (kl == 5 && memcmp(c, "model", 5) == 0 && vl && vl < sizeof(f->model)) {
		memcpy(f->model, v, vl);
		f->model[vl] = '\0';
		return 0;
	}
bad:
	snprintf(err, errlen, "bad condition '%.*s' (n=N, n=N-M, n=N-, route=GLOB, model=GLOB, times=K)",
		 (int)n, c);
	return -1;
}

int emu_fault_parse(const char *spec, emu_fault *out, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t kl = colon ? (size_t)(colon - spec) : strlen(spec);

	memset(out, 0, sizeof(*out));
	out->n_hi = UINT64_MAX;
	for (size_t k = 1; k < sizeof(names) / sizeof(names[0]); k++) {
		if (strlen(names[k]) == kl && memcmp(names[k], spec, kl) == 0)
			out->kind = (emu_fault_kind)k;
	}
	if (out->kind == EMU_FAULT_NONE) {
		snprintf(err, errlen, "unknown fault kind '%.*s' (429, 500, 503, malformed, truncate, crc, bigevent)",
			 (int)kl, spec);
		return -1;
	}
	if (!colon)
		return 0;
	for (const char *p = colon + 1;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (cond(out, p, n, err, errlen))
			return -1;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

emu_fault_kind emu_fault_pick(emu_fault *f, size_t nf, uint64_t n, const char *operation,
			      const char *model)
{
	for (size_t i = 0; i < nf; i++) {
		emu_fault *x = &f[i];

		if (n < x->n_lo || n > x->n_hi)
			continue;
		if (x->route[0] && !tf_glob_match_str(x->route, operation ? operation : ""))
			continue;
		if (x->model[0] && !tf_glob_match_str(x->model, model ? model : ""))
			continue;
		if (x->times) {
			uint64_t used = __atomic_load_n(&x->used, __ATOMIC_RELAXED);
			bool taken = false;

			while (used < x->times && !taken)
				taken = __atomic_compare_exchange_n(&x->used, &used, used + 1, false,
								    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
			if (!taken)
				continue;
		}
		return x->kind;
	}
	return EMU_FAULT_NONE;
}
