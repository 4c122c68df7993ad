"""--fail: throttling, server errors, malformed bodies, truncated bodies and
corrupted event-stream CRCs, as the real clients see them."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emu import AZURE_KEY, Emulator, run_tests  # noqa: E402

EMU = Emulator(
    "--fail", "429:route=InvokeModel,model=*titan*,times=2",
    "--fail", "crc:route=InvokeModelWithResponseStream",
    "--fail", "malformed:route=InvokeModel,model=meta.*",
    "--fail", "truncate:route=ConverseStream",
    "--fail", "500:route=Converse,model=*nova-pro*",
    "--fail", "429:route=Embeddings",
    "--fail", "malformed:route=ChatCompletions,model=gpt-4o-mini",
)
EMU.apply_env()

import boto3  # noqa: E402
import botocore.config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

RT = boto3.client("bedrock-runtime", endpoint_url=EMU.url, region_name="us-east-1",
                  config=botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}))
RT1 = boto3.client("bedrock-runtime", endpoint_url=EMU.url, region_name="us-east-1",
                   config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def test_throttling_then_success_after_retries():
    before = len(EMU.bill())
    body = json.dumps({"inputText": "x", "textGenerationConfig": {"maxTokenCount": 3}})
    r = RT.invoke_model(modelId="amazon.titan-text-express-v1", body=body)
    assert json.loads(r["body"].read())["results"][0]["tokenCount"] == 3
    lines = EMU.bill(before + 3)[before:]
    assert [l["status"] for l in lines] == [429, 429, 200], lines
    assert [l["fault"] for l in lines] == ["429", "429", None]
    assert lines[0]["cost_pico_usd"] == 0 and lines[2]["cost_pico_usd"] > 0


def test_corrupted_crc_raises_in_botocore():
    before = len(EMU.bill())
    r = RT1.invoke_model_with_response_stream(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        body=json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                         "messages": [{"role": "user", "content": "x"}]}))
    try:
        list(r["body"])
    except Exception as e:  # botocore.eventstream.ChecksumMismatch
        assert "Checksum" in type(e).__name__ or "checksum" in str(e).lower(), repr(e)
    else:
        raise AssertionError("corrupted frame accepted")
    line = EMU.bill(at_least=before + 1)[-1]
    # botocore hangs up at the bad frame: the stream is billed as far as it
    # was sent (the emulator bills streams once sent).
    assert line["fault"] == "crc" and line["status"] == 200
    assert line["output_tokens"] == 5 or (line["output_tokens"] < 5 and
                                         line.get("note") == "client left mid-stream"), line


def test_malformed_json_body():
    r = RT1.invoke_model(modelId="meta.llama3-1-8b-instruct-v1:0",
                         body=json.dumps({"prompt": "x", "max_gen_len": 4}))
    raw = r["body"].read()
    try:
        json.loads(raw)
    except ValueError:
        pass
    else:
        raise AssertionError("body parsed: %r" % raw)
    assert EMU.bill()[-1]["fault"] == "malformed"


def test_truncated_stream():
    r = RT1.converse_stream(modelId="amazon.nova-micro-v1:0",
                            messages=[{"role": "user", "content": [{"text": "x"}]}])
    try:
        list(r["stream"])
    except Exception:  # urllib3 ProtocolError / botocore ResponseStreamingError
        pass
    else:
        raise AssertionError("truncated stream read to the end")
    assert EMU.bill()[-1]["fault"] == "truncate"


def test_internal_server_error():
    try:
        RT1.converse(modelId="amazon.nova-pro-v1:0",
                     messages=[{"role": "user", "content": [{"text": "x"}]}])
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InternalServerException"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    else:
        raise AssertionError("no error")


def curl_azure(path, body):
    env = EMU.env()
    p = subprocess.run(["curl", "-sS", "-i", "-H", "api-key: " + AZURE_KEY,
                        "-H", "Content-Type: application/json", "--data-binary", body,
                        EMU.url + path], capture_output=True, env=env, check=True)
    head, _, b = p.stdout.partition(b"\r\n\r\n")
    return head.decode(), b


def test_azure_429_has_retry_headers():
    head, b = curl_azure("/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21",
                         '{"input":"x"}')
    assert head.startswith("HTTP/1.1 429"), head
    assert "retry-after: 1" in head.lower()
    assert json.loads(b)["error"]["code"] == "429"


def test_azure_malformed_body():
    head, b = curl_azure("/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
                         '{"messages":[{"role":"user","content":"x"}]}')
    assert head.startswith("HTTP/1.1 200")
    try:
        json.loads(b)
    except ValueError:
        pass
    else:
        raise AssertionError("valid JSON")


def test_zz_clean_exit():
    assert EMU.stop() == 0, EMU.log()


if __name__ == "__main__":
    try:
        run_tests(dict(globals()))
    finally:
        EMU.cleanup()
