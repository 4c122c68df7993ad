#!/usr/bin/env python3
"""Capture streamed response bodies from tokenfence-emulator as fixtures for
tests/unit/test-streamuse.c.

Usage: tests/data/streams/capture.py [--emulator PATH] [--out DIR]

Each case sends one streamed request (Bearer auth on Bedrock, api-key on
Azure, Accept-Encoding: identity) and saves the response body exactly as the
app reads it after HTTP de-chunking: NAME.es (application/vnd.amazon.eventstream)
or NAME.sse (text/event-stream). MANIFEST gets one line per fixture with what
the emulator billed for it, so the test checks usage against the bill:

  name format operation model priced_model input output cached reasoning cost_pico complete

(input includes cached and output includes reasoning, as in the bill; format
is es or sse; complete is 1 when the whole body arrived, 0 when the
connection dropped (the `truncate` fault)).

Azure chat pairs named X-usage / X-plain are the same request with and
without stream_options.include_usage. Their random ids and `created` times
are replaced by fixed values of the same length in both, so the test can
check that hiding the usage chunk from X-usage gives X-plain byte for byte.
"""

import argparse
import http.client
import json
import os
import re
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from emu import AZURE_KEY, BEDROCK_API_KEY, Emulator  # noqa: E402

API = "2024-10-21"
PROMPT = "Tell me about fences, please."


def bedrock(name, model, body, converse=False, fault=None):
    op = "converse-stream" if converse else "invoke-with-response-stream"
    return {"name": name, "fmt": "es", "fault": fault,
            "path": "/model/%s/%s" % (model.replace(":", "%3A"), op),
            "headers": {"Authorization": "Bearer " + BEDROCK_API_KEY,
                        "Content-Type": "application/json",
                        "Accept": "application/vnd.amazon.eventstream"},
            "body": body}


def azure(name, dep, body, api="chat/completions", fault=None):
    path = ("/openai/responses?api-version=" + API if api == "responses"
            else "/openai/deployments/%s/%s?api-version=%s" % (dep, api, API))
    return {"name": name, "fmt": "sse", "fault": fault, "path": path,
            "headers": {"api-key": AZURE_KEY, "Content-Type": "application/json",
                        "Accept": "text/event-stream"},
            "body": body}


def chat(max_tokens=None, usage=False, completions=False):
    b = {"prompt": PROMPT} if completions else {"messages": [{"role": "user", "content": PROMPT}]}
    b["stream"] = True
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    if usage:
        b["stream_options"] = {"include_usage": True}
    return b


MSG = [{"role": "user", "content": PROMPT}]
CONVERSE_MSG = [{"role": "user", "content": [{"text": PROMPT}]}]

CASES = [
    bedrock("bedrock-anthropic", "anthropic.claude-3-5-haiku-20241022-v1:0",
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": MSG}),
    bedrock("bedrock-anthropic-limited", "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 7, "messages": MSG}),
    bedrock("bedrock-anthropic-legacy", "anthropic.claude-3-haiku-20240307-v1:0",
            {"prompt": "\n\nHuman: " + PROMPT + "\n\nAssistant:", "max_tokens_to_sample": 50}),
    bedrock("bedrock-titan", "amazon.titan-text-express-v1",
            {"inputText": PROMPT, "textGenerationConfig": {"maxTokenCount": 30}}),
    bedrock("bedrock-llama", "meta.llama3-1-8b-instruct-v1:0",
            {"prompt": PROMPT, "max_gen_len": 16}),
    bedrock("bedrock-mistral", "mistral.mistral-7b-instruct-v0:2",
            {"prompt": "<s>[INST] " + PROMPT + " [/INST]", "max_tokens": 40}),
    bedrock("bedrock-mistral-chat", "mistral.mistral-large-2407-v1:0",
            {"messages": MSG, "max_tokens": 12}),
    bedrock("bedrock-nova", "amazon.nova-lite-v1:0",
            {"messages": CONVERSE_MSG, "inferenceConfig": {"maxTokens": 25}}),
    bedrock("bedrock-cohere-chat", "cohere.command-r-v1:0",
            {"message": PROMPT, "max_tokens": 10}),
    bedrock("bedrock-cohere-text", "cohere.command-text-v14",
            {"prompt": PROMPT, "max_tokens": 20}),
    bedrock("converse", "anthropic.claude-3-5-haiku-20241022-v1:0",
            {"messages": CONVERSE_MSG}, converse=True),
    bedrock("converse-limited", "amazon.nova-pro-v1:0",
            {"messages": CONVERSE_MSG, "inferenceConfig": {"maxTokens": 4}}, converse=True),
    bedrock("bedrock-anthropic-crc", "anthropic.claude-3-5-haiku-20241022-v1:0",
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": MSG},
            fault="crc"),
    bedrock("bedrock-anthropic-malformed", "anthropic.claude-3-5-haiku-20241022-v1:0",
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": MSG},
            fault="malformed"),
    bedrock("converse-truncated", "anthropic.claude-3-5-haiku-20241022-v1:0",
            {"messages": CONVERSE_MSG}, converse=True, fault="truncate"),
    azure("azure-chat-usage", "gpt-4o", chat(usage=True)),
    azure("azure-chat-plain", "gpt-4o", chat()),
    azure("azure-chat-limited-usage", "gpt-4o-mini", chat(max_tokens=5, usage=True)),
    azure("azure-chat-limited-plain", "gpt-4o-mini", chat(max_tokens=5)),
    azure("azure-reasoning-usage", "o3-mini", dict(chat(usage=True), max_completion_tokens=9)),
    azure("azure-reasoning-plain", "o3-mini", dict(chat(), max_completion_tokens=9)),
    azure("azure-completions-usage", "gpt-35-turbo-instruct", chat(usage=True, completions=True),
          api="completions"),
    azure("azure-completions-plain", "gpt-35-turbo-instruct", chat(completions=True),
          api="completions"),
    azure("azure-chat-malformed", "gpt-4o", chat(usage=True), fault="malformed"),
    azure("azure-chat-truncated", "gpt-4o", chat(usage=True), fault="truncate"),
    azure("azure-responses", None, {"model": "gpt-4.1", "input": PROMPT, "stream": True},
          api="responses"),
    azure("azure-responses-incomplete", None,
          {"model": "gpt-4o", "input": PROMPT, "stream": True, "max_output_tokens": 6},
          api="responses"),
    azure("azure-responses-reasoning", None,
          {"model": "o4-mini", "input": PROMPT, "stream": True}, api="responses"),
]


def fetch(emu, case):
    ctx = ssl.create_default_context(cafile=emu.ca)
    conn = http.client.HTTPSConnection("localhost", emu.port, context=ctx, timeout=30)
    body = json.dumps(case["body"]).encode()
    headers = dict(case["headers"], **{"Accept-Encoding": "identity"})
    conn.request("POST", case["path"], body=body, headers=headers)
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError("%s: status %d: %r" % (case["name"], r.status, r.read()[:300]))
    try:
        data, complete = r.read(), 1
    except http.client.IncompleteRead as e:
        data, complete = e.partial, 0
    conn.close()
    return data, complete


def normalise(data):
    """Fixed ids and times, same lengths (see the module comment)."""
    def fixed(m):
        return m.group(1) + b"F" * len(m.group(2))
    data = re.sub(rb'("(?:chatcmpl-|cmpl-|resp_|msg_|rs_))([A-Za-z0-9]+)', fixed, data)
    data = re.sub(rb'("created(?:_at)?":)[1-9][0-9]{9}', rb"\g<1>1700000000", data)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emulator", help="tokenfence-emulator binary (default: build/tools/)")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    if args.emulator:
        os.environ["TF_EMULATOR"] = args.emulator
    faults = []
    for i, c in enumerate(CASES, 1):
        if c["fault"]:
            faults += ["--fail", "%s:n=%d" % (c["fault"], i)]
    lines = []
    with Emulator("--pace-ms", "0", "--quiet", *faults) as emu:
        for c in CASES:
            data, complete = fetch(emu, c)
            if c["fmt"] == "sse":
                data = normalise(data)
            with open(os.path.join(args.out, c["name"] + "." + c["fmt"]), "wb") as f:
                f.write(data)
            c["complete"] = complete
        bill = emu.bill(len(CASES))
    for c, b in zip(CASES, bill):
        lines.append(" ".join(str(x) for x in (
            c["name"], c["fmt"], b["operation"], b["model"], b["priced_model"], b["input_tokens"],
            b["output_tokens"], b["cached_tokens"], b["reasoning_tokens"], b["cost_pico_usd"],
            c["complete"])))
    with open(os.path.join(args.out, "MANIFEST"), "w") as f:
        f.write("# name format operation model priced_model input output cached reasoning "
                "cost_pico complete\n# written by capture.py from the emulator's bill; "
                "do not edit\n")
        f.write("\n".join(lines) + "\n")
    print("captured %d fixtures into %s" % (len(CASES), args.out))


if __name__ == "__main__":
    main()
