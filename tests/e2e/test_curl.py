"""curl (libcurl + the system libssl) against the emulator, no shim: Bedrock
with curl's own SigV4 and with a Bedrock API key, Azure with api-key, gzip
and SSE. Trust comes only from the environment emu.env() builds."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emu import (AKID, AZURE_KEY, BEDROCK_API_KEY, SECRET, Emulator, cost_pico,  # noqa: E402
                 input_tokens, output_tokens, reasoning_tokens, run_tests)

EMU = Emulator("--deployment", "my-gpt4o=gpt-4o", "--reply-tokens", "20")
ENV = EMU.env()


def curl(*args, data=None):
    cmd = ["curl", "-sS", "--http1.1", "-D", "-", "--max-time", "20"] + list(args)
    if data is not None:
        cmd += ["--data-binary", "@-"]
    p = subprocess.run(cmd, input=data, capture_output=True, env=ENV, check=False)
    assert p.returncode == 0, (p.returncode, p.stderr.decode())
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def last():
    return EMU.bill()[-1]


def test_bedrock_invoke_with_curl_sigv4():
    body = json.dumps({"inputText": "curl says hi",
                       "textGenerationConfig": {"maxTokenCount": 6}}).encode()
    st, h, b = curl("--aws-sigv4", "aws:amz:us-east-1:bedrock", "--user", "%s:%s" % (AKID, SECRET),
                    "-H", "Content-Type: application/json",
                    EMU.url + "/model/amazon.titan-text-express-v1/invoke", data=body)
    assert st == 200, (st, b)
    j = json.loads(b)
    inp = input_tokens(body)
    assert j["inputTextTokenCount"] == inp and j["results"][0]["tokenCount"] == 6
    assert h["x-amzn-bedrock-input-token-count"] == str(inp)
    line = last()
    assert line["operation"] == "InvokeModel" and line["status"] == 200
    assert line["cost_pico_usd"] == cost_pico("amazon.titan-text-express-v1", inp, 6)


def test_bedrock_curl_wrong_secret_403():
    st, h, b = curl("--aws-sigv4", "aws:amz:us-east-1:bedrock", "--user", AKID + ":nope",
                    "-H", "Content-Type: application/json",
                    EMU.url + "/model/amazon.titan-text-express-v1/invoke", data=b"{}")
    assert st == 403
    assert h["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert "signature we calculated does not match" in json.loads(b)["message"]


def test_bedrock_bearer_api_key():
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    st, h, b = curl("-H", "Authorization: Bearer " + BEDROCK_API_KEY, "-H", "Content-Type: application/json",
                    EMU.url + "/model/us.amazon.nova-micro-v1%3A0/converse", data=body)
    assert st == 200, b
    assert json.loads(b)["usage"]["outputTokens"] == 20
    st, h, b = curl("-H", "Authorization: Bearer wrong", "-H", "Content-Type: application/json",
                    EMU.url + "/model/us.amazon.nova-micro-v1%3A0/converse", data=body)
    assert st == 403
    st, h, b = curl("-H", "Content-Type: application/json",
                    EMU.url + "/model/us.amazon.nova-micro-v1%3A0/converse", data=body)
    assert st == 403 and h["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")


def test_azure_chat_with_api_key_and_gzip():
    body = json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "hello from curl"}],
                       "max_tokens": 5}).encode()
    st, h, b = curl("--compressed", "-H", "api-key: " + AZURE_KEY, "-H", "Content-Type: application/json",
                    EMU.url + "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21",
                    data=body)
    assert st == 200, b
    assert h.get("content-encoding") == "gzip"
    j = json.loads(b)
    inp = input_tokens(body)
    assert j["model"] == "gpt-4o-2024-11-20"
    assert j["usage"]["prompt_tokens"] == inp and j["usage"]["completion_tokens"] == 5
    assert j["choices"][0]["finish_reason"] == "length"
    assert j["prompt_filter_results"][0]["prompt_index"] == 0
    line = last()
    assert (line["model"], line["priced_model"]) == ("my-gpt4o", "gpt-4o")
    assert line["cost_pico_usd"] == cost_pico("gpt-4o", inp, 5)


def test_azure_without_key_is_401():
    st, h, b = curl("-H", "Content-Type: application/json",
                    EMU.url + "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21",
                    data=b'{"messages":[]}')
    assert st == 401
    assert json.loads(b)["error"]["code"] == "401"
    assert last()["status"] == 401


def test_azure_unknown_deployment_404():
    st, h, b = curl("-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/deployments/nope/chat/completions?api-version=2024-10-21",
                    data=b'{"messages":[]}')
    assert st == 404 and json.loads(b)["error"]["code"] == "DeploymentNotFound"


def sse_events(b):
    out = []
    for block in b.decode().split("\n\n"):
        ev, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            out.append((ev, data))
    return out


def test_azure_sse_without_and_with_include_usage():
    url = EMU.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    base = {"messages": [{"role": "user", "content": "stream please"}], "stream": True}
    st, h, b = curl("-N", "-H", "api-key: " + AZURE_KEY, url, data=json.dumps(base).encode())
    assert st == 200 and h["content-type"].startswith("text/event-stream")
    ev = sse_events(b)
    assert ev[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in ev[:-1]]
    assert chunks[0]["choices"] == [] and chunks[0]["id"] == "" and "prompt_filter_results" in chunks[0]
    assert all("usage" not in c or c["usage"] is None for c in chunks)
    with_usage = dict(base, stream_options={"include_usage": True})
    raw = json.dumps(with_usage).encode()
    st, h, b = curl("-N", "-H", "api-key: " + AZURE_KEY, url, data=raw)
    ev = sse_events(b)
    chunks = [json.loads(d) for _, d in ev[:-1]]
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["prompt_tokens"] == input_tokens(raw) and usage["completion_tokens"] == 20
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    line = last()
    assert line["stream"] is True and line["output_tokens"] == 20
    assert line["cost_pico_usd"] == cost_pico("gpt-4o-mini", input_tokens(raw), 20)


def test_azure_responses_stream_and_reasoning():
    raw = json.dumps({"model": "o3-mini", "input": "think about fences", "stream": True,
                      "max_output_tokens": 12}).encode()
    st, h, b = curl("-N", "-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/responses?api-version=2025-04-01-preview", data=raw)
    assert st == 200, b
    ev = sse_events(b)
    assert ev[0][0] == "response.created"
    assert ev[-1][0] == "response.incomplete"
    u = json.loads(ev[-1][1])["response"]["usage"]
    assert u["input_tokens"] == input_tokens(raw) and u["output_tokens"] == 12
    assert u["output_tokens_details"]["reasoning_tokens"] == reasoning_tokens(12) > 0
    raw = json.dumps({"model": "gpt-4o", "input": "hi"}).encode()
    st, h, b = curl("-H", "Authorization: Bearer " + AZURE_KEY,
                    EMU.url + "/openai/v1/responses", data=raw)
    j = json.loads(b)
    assert j["status"] == "completed" and j["usage"]["output_tokens"] == 20
    assert j["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


def test_azure_o_series_reasoning_inside_completion():
    raw = json.dumps({"messages": [{"role": "user", "content": "x"}],
                      "max_completion_tokens": 9}).encode()
    st, h, b = curl("-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/deployments/o3-mini/chat/completions?api-version=2024-12-01-preview",
                    data=raw)
    u = json.loads(b)["usage"]
    assert u["completion_tokens"] == 9
    assert u["completion_tokens_details"]["reasoning_tokens"] == reasoning_tokens(9)
    line = last()
    assert line["reasoning_tokens"] == reasoning_tokens(9) and line["output_tokens"] == 9
    assert line["cost_pico_usd"] == cost_pico("o3-mini", input_tokens(raw), 9)
    st, h, b = curl("-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/deployments/o3-mini/chat/completions?api-version=2024-12-01-preview",
                    data=b'{"messages":[],"max_tokens":5}')
    assert st == 400 and json.loads(b)["error"]["code"] == "unsupported_parameter"


def test_azure_cached_tokens_for_long_prompts():
    raw = json.dumps({"messages": [{"role": "user", "content": "word " * 1000}],
                      "max_tokens": 1}).encode()
    st, h, b = curl("-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                    data=raw)
    u = json.loads(b)["usage"]
    inp = input_tokens(raw)
    assert inp >= 1024 and u["prompt_tokens_details"]["cached_tokens"] == inp // 2 // 128 * 128
    line = last()
    assert line["cached_tokens"] == inp // 2 // 128 * 128
    assert line["cost_pico_usd"] == cost_pico("gpt-4o", inp, 1, cached=line["cached_tokens"])


def test_azure_fine_tuning_jobs():
    raw = json.dumps({"model": "gpt-4o-mini", "training_file": "file-abc"}).encode()
    st, h, b = curl("-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/fine_tuning/jobs?api-version=2024-10-21", data=raw)
    assert st == 201, b
    job = json.loads(b)
    assert job["object"] == "fine_tuning.job" and job["status"] == "pending"
    line = last()
    assert line["operation"] == "CreateFineTuningJob" and line["model"] == "gpt-4o-mini"
    st, h, b = curl("-H", "api-key: " + AZURE_KEY,
                    EMU.url + "/openai/fine_tuning/jobs?api-version=2024-10-21")
    assert any(j["id"] == job["id"] for j in json.loads(b)["data"])


def test_pipelined_and_keepalive_requests_on_one_connection():
    url = EMU.url + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    raw = b'{"messages":[{"role":"user","content":"a"}],"max_tokens":2}'
    before = len(EMU.bill())
    st, h, b = curl("-H", "api-key: " + AZURE_KEY, url, "--data-binary", raw, "--next",
                    "-H", "api-key: " + AZURE_KEY, url, "--data-binary", raw)
    lines = EMU.bill(before + 2)[before:]
    assert len(lines) == 2 and lines[0]["conn"] == lines[1]["conn"]


def test_real_cloud_names_verify_against_the_test_ca():
    """The leaf carries the real Bedrock/Azure names: full verification, no
    endpoint override beyond DNS (curl --resolve stands in for /etc/hosts)."""
    for host in ("bedrock-runtime.us-east-1.amazonaws.com", "bedrock.us-east-1.amazonaws.com",
                 "bedrock-agent-runtime.us-east-1.amazonaws.com", "tokenfence-test.openai.azure.com"):
        st, h, b = curl("--resolve", "%s:%d:127.0.0.1" % (host, EMU.port), "-H", "api-key: " + AZURE_KEY,
                        "https://%s:%d/openai/v1/models" % (host, EMU.port))
        assert st == 200, (host, st, b)


def test_zz_clean_exit():
    assert EMU.stop() == 0, EMU.log()


if __name__ == "__main__":
    try:
        run_tests(dict(globals()))
    finally:
        EMU.cleanup()
