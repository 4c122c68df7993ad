#!/usr/bin/env python3
"""Writes policy/prices.json, TokenFence's shipped price table.

Reads the LiteLLM price table (a saved copy: WIRE.md §6.2) and the list of
models we ship (tools/prices-models.txt), and writes one entry per model id
in USD per 1M tokens, as plain decimals that policy/prices.c parses exactly.
Run it by hand when prices change and commit its output; the build never
needs the LiteLLM copy.

    tools/gen-prices.py [--source ../shared/reference/model_prices.json]
                        [--models tools/prices-models.txt] [--out policy/prices.json]

All arithmetic is decimal.Decimal on the source's own number text: a float
would turn 3.75e-06 into 3.7499999999999997 $/token.
"""
import argparse
import hashlib
import json
import os
import re
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Cross-region inference profile prefixes (WIRE.md §1.3 plus the ones the
# source uses: au., us-gov.). policy/prices.c strips the same set.
PROFILE_PREFIXES = ["us", "eu", "apac", "jp", "au", "global", "us-gov"]

MODES = {"chat", "embedding", "completion"}

PRICE_FIELDS = [
    # (our name, LiteLLM per-token field)
    ("input", "input_cost_per_token"),
    ("output", "output_cost_per_token"),
    ("cache_read", "cache_read_input_token_cost"),
    ("cache_write", "cache_creation_input_token_cost"),
    ("cache_write_1h", "cache_creation_input_token_cost_above_1hr"),
]

LONG_CONTEXT_THRESHOLD = 200000
LONG_CONTEXT_FIELDS = [
    ("input", "input_cost_per_token_above_200k_tokens"),
    ("output", "output_cost_per_token_above_200k_tokens"),
    ("cache_read", "cache_read_input_token_cost_above_200k_tokens"),
    ("cache_write", "cache_creation_input_token_cost_above_200k_tokens"),
]

NOTES = [
    "Prices are USD per 1M tokens; max_input/max_output are tokens. Unset cache "
    "prices mean: cached tokens are charged at the input price.",
    "Azure: the bare model name carries the Global Standard price. Data Zone and "
    "Regional deployments cost about 10% more (WIRE.md §6.3: e.g. gpt-4o "
    "$2.75/$11, gpt-4o-mini $0.165/$0.66, o1 $16.50/$66): users of those "
    "deployment types must set config 'prices' for their models.",
    "Bedrock cross-region profiles (us., eu., apac., jp., au., global., us-gov.) "
    "are priced as their own ids when the source has them; a profile is never "
    "priced below its base model (the source lists eu.anthropic.claude-3-5-haiku "
    "at the Claude 3 Haiku price, which would under-reserve).",
    "Unconfirmed against AWS's own list (WIRE.md §6.3): Titan Text, Llama 3.1, "
    "Mistral Large; override with config 'prices' if your bill differs.",
    "long_context: when a request's input tokens (cached included) exceed "
    "threshold, every token of that request is charged at these prices.",
]


def fail(msg):
    sys.exit("gen-prices: " + msg)


def per_mtok(v, what):
    """Per-token Decimal -> plain decimal text in USD per 1M tokens."""
    if not isinstance(v, (Decimal, int)) or v < 0:
        fail(f"{what}: not a non-negative number: {v!r}")
    m = (Decimal(v) * 1000000).normalize()
    text = format(m, "f")
    if "." in text and len(text.split(".")[1]) > 6:
        fail(f"{what}: {text} $/1M has more than 6 decimals (tf_money cannot hold it)")
    return text


def read_models(path):
    models = []
    for lineno, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or parts[0] not in ("bedrock", "azure"):
            fail(f"{path}:{lineno}: expected 'bedrock|azure MODEL-ID [opts]'")
        m = {"provider": parts[0], "id": parts[1], "source": parts[1], "max_output": None}
        for opt in parts[2:]:
            k, _, v = opt.partition("=")
            if k == "source" and v:
                m["source"] = v
            elif k == "max_output" and v.isdigit():
                m["max_output"] = int(v)
            else:
                fail(f"{path}:{lineno}: unknown option {opt!r}")
        models.append(m)
    return models


def entry_from(src_key, src, provider, max_output_override):
    e = src.get(src_key)
    if not isinstance(e, dict):
        fail(f"{src_key}: not in the source table")
    mode = e.get("mode")
    if mode not in MODES:
        fail(f"{src_key}: mode {mode!r} is not one we price")
    out = {"provider": provider, "mode": mode}
    prices = {}
    for name, field in PRICE_FIELDS:
        if field in e and e[field] is not None:
            prices[name] = Decimal(e[field])
    if "input" not in prices or "output" not in prices:
        fail(f"{src_key}: no input/output price")
    lc = {}
    for name, field in LONG_CONTEXT_FIELDS:
        if field in e and e[field] is not None:
            lc[name] = Decimal(e[field])
    max_input = e.get("max_input_tokens")
    max_output = e.get("max_output_tokens")
    if max_output_override is not None:
        if max_output is not None and max_output_override < max_output:
            fail(f"{src_key}: max_output={max_output_override} is below the source's {max_output}")
        max_output = max_output_override
    return out, prices, lc, max_input, max_output


def merge_not_below(prices, base_prices):
    """Field by field, never below the base model's price."""
    raised = []
    for k, v in base_prices.items():
        if k in prices and prices[k] < v:
            prices[k] = v
            raised.append(k)
        elif k not in prices:
            prices[k] = v
    return raised


def render_entry(head, prices, lc, max_input, max_output, what):
    e = dict(head)
    for name, _ in PRICE_FIELDS:
        if name in prices:
            e[name] = per_mtok(prices[name], f"{what}.{name}")
    if isinstance(max_input, int) and max_input > 0:
        e["max_input"] = max_input
    if isinstance(max_output, int) and max_output > 0:
        e["max_output"] = max_output
    if lc:
        # Missing long-context fields stay at the normal price, never below.
        full = {"threshold": LONG_CONTEXT_THRESHOLD}
        for name, _ in LONG_CONTEXT_FIELDS:
            base = prices.get(name)
            v = lc.get(name, base)
            if v is not None:
                if base is not None and v < base:
                    v = base
                full[name] = per_mtok(v, f"{what}.long_context.{name}")
        e["long_context"] = full
    return e


def dump_number_text(obj):
    """json.dumps, but with our decimal texts written as bare JSON numbers."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    # Price values were stored as strings to keep their exact text.
    return re.sub(r'"(input|output|cache_read|cache_write|cache_write_1h)": "([0-9.]+)"',
                  r'"\1": \2', text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=os.path.join(ROOT, "..", "shared", "reference",
                                                      "model_prices.json"))
    ap.add_argument("--models", default=os.path.join(HERE, "prices-models.txt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "policy", "prices.json"))
    args = ap.parse_args()

    raw = open(args.source, "rb").read()
    src = json.loads(raw, parse_float=Decimal)
    models = read_models(args.models)

    table = {}
    raised_notes = []
    for m in models:
        head, prices, lc, mi, mo = entry_from(m["source"], src, m["provider"], m["max_output"])
        if m["id"] in table:
            fail(f"{m['id']}: listed twice")
        table[m["id"]] = render_entry(head, prices, lc, mi, mo, m["id"])
        if m["provider"] != "bedrock":
            continue
        for pfx in PROFILE_PREFIXES:
            pkey = f"{pfx}.{m['source']}"
            if pkey not in src:
                continue
            ph, pp, plc, pmi, pmo = entry_from(pkey, src, "bedrock", m["max_output"])
            raised = merge_not_below(pp, prices)
            merge_not_below(plc, lc)
            if raised:
                raised_notes.append(f"{pfx}.{m['id']}: raised {', '.join(raised)} to the base price")
            if isinstance(mo, int) and (not isinstance(pmo, int) or pmo < mo):
                pmo = mo
            table[f"{pfx}.{m['id']}"] = render_entry(ph, pp, plc, pmi, pmo, pkey)

    doc = {
        "about": "TokenFence price table, generated by tools/gen-prices.py from "
                 "tools/prices-models.txt; do not edit by hand.",
        "source": {
            "name": "LiteLLM model_prices_and_context_window.json (BerriAI/litellm, MIT)",
            "via": "mirror RoCry/llm-api-price@8442b939a6ead479f7995b5d74d8dce488bd0966",
            "last_updated": str(src.get("last_updated", "unknown")),
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
        "units": "USD per 1M tokens",
        "notes": NOTES + raised_notes,
        "models": table,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(dump_number_text(doc))
        f.write("\n")
    print(f"gen-prices: wrote {len(table)} models to {args.out}")


if __name__ == "__main__":
    main()
