/*
 * Fault injection (--fail SPEC, repeatable), for tests of how TokenFence and
 * the SDKs behave when the cloud misbehaves.
 *
 *   SPEC = KIND [ ":" COND { "," COND } ]
 *   KIND = 429 | 500 | 503 | malformed | truncate | crc
 *   COND = n=N | n=N-M | n=N-     request numbers (1-based, counted over every
 *                                 request the emulator received, in arrival order)
 *        | route=GLOB             operation name ("InvokeModel", "ChatCompletions", …)
 *        | model=GLOB             model as asked (Bedrock id as decoded from the
 *                                 path, Azure deployment or body "model")
 *        | times=K                apply at most K times
 *   GLOB: '*' and '?', case-insensitive (policy/glob.h).
 *
 * All conditions must hold; the first matching spec wins. Kinds:
 *   429 / 500 / 503  the provider's throttling / internal / unavailable error
 *   malformed        normal status and headers, body that is not valid JSON
 *                    (streams: one event whose payload is not valid JSON)
 *   truncate         normal head, then half of the body and a close
 *   crc              event-stream responses: one frame's message CRC is wrong
 *                    (other responses are served normally)
 */
#ifndef EMU_FAULTS_H
#define EMU_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum emu_fault_kind {
	EMU_FAULT_NONE = 0,
	EMU_FAULT_429,
	EMU_FAULT_500,
	EMU_FAULT_503,
	EMU_FAULT_MALFORMED,
	EMU_FAULT_TRUNCATE,
	EMU_FAULT_CRC,
	EMU_FAULT_BIGEVENT,
} emu_fault_kind;

typedef struct emu_fault {
	emu_fault_kind kind;
	uint64_t n_lo, n_hi; /* inclusive; 0/UINT64_MAX: any */
	char route[128];     /* "" = any */
	char model[512];     /* "" = any */
	uint64_t times;      /* 0 = unlimited */
	uint64_t used;       /* updated atomically by emu_fault_pick */
} emu_fault;

/* Returns 0, or -1 with a message in err. */
int emu_fault_parse(const char *spec, emu_fault *out, char *err, size_t errlen);
/* The kind to apply to request n (EMU_FAULT_NONE: none); thread-safe. */
emu_fault_kind emu_fault_pick(emu_fault *f, size_t nf, uint64_t n, const char *operation,
			      const char *model);
const char *emu_fault_name(emu_fault_kind k);

#endif
