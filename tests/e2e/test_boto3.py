"""boto3 (Debian's botocore 1.29 + the shipped Bedrock models) against the
emulator, no shim: every call must succeed exactly as against AWS, and the
bill must hold the tokens and cost the documented formula predicts."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emu import (AKID, Emulator, cost_pico, input_tokens, output_tokens,  # noqa: E402
                 run_tests)

EMU = Emulator("--bedrock-alias", "my-app-profile=anthropic.claude-3-haiku-20240307-v1:0")
EMU.apply_env()

import boto3  # noqa: E402
import botocore.config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

CFG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def client(name="bedrock-runtime", **kw):
    return boto3.client(name, endpoint_url=EMU.url, region_name="us-east-1", config=CFG, **kw)


RT = client()


def last_bill():
    lines = EMU.bill()
    assert lines, "empty bill"
    return lines[-1]


def check_bill(line, operation, model, priced, inp, out, stream=False):
    assert line["operation"] == operation, line
    assert line["model"] == model, line
    assert line["priced_model"] == priced, line
    assert line["price_match"] in ("exact", "base"), line
    assert line["status"] == 200, line
    assert line["stream"] is stream, line
    assert line["input_tokens"] == inp, (line, inp)
    assert line["output_tokens"] == out, (line, out)
    assert line["cost_pico_usd"] == cost_pico(priced, inp, out), (line, cost_pico(priced, inp, out))
    assert "secret" not in json.dumps(line).lower()


def invoke(model, body):
    raw = json.dumps(body).encode()
    r = RT.invoke_model(modelId=model, body=raw, contentType="application/json",
                        accept="application/json")
    return r, json.loads(r["body"].read()), raw


def test_invoke_anthropic_messages():
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8,
            "messages": [{"role": "user", "content": "Say hello in five words."}]}
    r, j, raw = invoke("anthropic.claude-3-haiku-20240307-v1:0", body)
    inp, out = input_tokens(raw), output_tokens(8)
    assert j["type"] == "message" and j["role"] == "assistant"
    assert j["model"] == "claude-3-haiku-20240307"
    assert j["usage"]["input_tokens"] == inp and j["usage"]["output_tokens"] == out
    assert j["stop_reason"] == "max_tokens"
    assert len(j["content"][0]["text"].split()) == out
    h = r["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amzn-bedrock-input-token-count"] == str(inp)
    assert h["x-amzn-bedrock-output-token-count"] == str(out)
    check_bill(last_bill(), "InvokeModel", "anthropic.claude-3-haiku-20240307-v1:0",
               "anthropic.claude-3-haiku-20240307-v1:0", inp, out)


def test_invoke_titan():
    body = {"inputText": "Write a haiku about fences.",
            "textGenerationConfig": {"maxTokenCount": 50, "temperature": 0.2}}
    r, j, raw = invoke("amazon.titan-text-express-v1", body)
    inp, out = input_tokens(raw), output_tokens(50)
    assert j["inputTextTokenCount"] == inp
    assert j["results"][0]["tokenCount"] == out and j["results"][0]["completionReason"] == "FINISH"
    check_bill(last_bill(), "InvokeModel", "amazon.titan-text-express-v1",
               "amazon.titan-text-express-v1", inp, out)


def test_invoke_llama():
    body = {"prompt": "<|begin_of_text|>Hi there", "max_gen_len": 5, "temperature": 0.5}
    r, j, raw = invoke("meta.llama3-1-8b-instruct-v1:0", body)
    inp, out = input_tokens(raw), 5
    assert j["prompt_token_count"] == inp and j["generation_token_count"] == out
    assert j["stop_reason"] == "length"
    check_bill(last_bill(), "InvokeModel", "meta.llama3-1-8b-instruct-v1:0",
               "meta.llama3-1-8b-instruct-v1:0", inp, out)


def test_invoke_mistral():
    body = {"prompt": "<s>[INST] What is a fence? [/INST]", "max_tokens": 100}
    r, j, raw = invoke("mistral.mistral-7b-instruct-v0:2", body)
    inp, out = input_tokens(raw), output_tokens(100)
    assert j["outputs"][0]["stop_reason"] == "stop"
    h = r["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amzn-bedrock-input-token-count"] == str(inp)
    check_bill(last_bill(), "InvokeModel", "mistral.mistral-7b-instruct-v0:2",
               "mistral.mistral-7b-instruct-v0:2", inp, out)


def test_invoke_nova():
    body = {"schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": "Name three colours."}]}],
            "inferenceConfig": {"maxTokens": 12}}
    r, j, raw = invoke("amazon.nova-micro-v1:0", body)
    inp, out = input_tokens(raw), 12
    assert j["usage"]["inputTokens"] == inp and j["usage"]["outputTokens"] == out
    assert j["stopReason"] == "max_tokens"
    check_bill(last_bill(), "InvokeModel", "amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0",
               inp, out)


def test_invoke_profile_id():
    model = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 30,
            "messages": [{"role": "user", "content": "ping"}]}
    r, j, raw = invoke(model, body)
    inp, out = input_tokens(raw), output_tokens(30)
    assert j["model"] == "claude-3-5-haiku-20241022"
    check_bill(last_bill(), "InvokeModel", model, model, inp, out)
    assert last_bill()["path"] == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"


def test_invoke_inference_profile_arn():
    model = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
             "us.anthropic.claude-3-5-sonnet-20241022-v2:0")
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 3,
            "messages": [{"role": "user", "content": "ping"}]}
    r, j, raw = invoke(model, body)
    inp, out = input_tokens(raw), 3
    check_bill(last_bill(), "InvokeModel", model, "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
               inp, out)


def test_invoke_application_profile_alias():
    model = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/my-app-profile"
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4,
            "messages": [{"role": "user", "content": "ping"}]}
    r, j, raw = invoke(model, body)
    check_bill(last_bill(), "InvokeModel", model, "anthropic.claude-3-haiku-20240307-v1:0",
               input_tokens(raw), 4)


def test_invalid_model_is_a_validation_error():
    try:
        invoke("acme.unknown-model-v1", {"prompt": "x"})
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    else:
        raise AssertionError("no error")
    line = last_bill()
    assert line["status"] == 400 and line["cost_pico_usd"] == 0 and line["input_tokens"] == 0


def test_anthropic_without_max_tokens_is_rejected_as_aws_does():
    try:
        invoke("anthropic.claude-3-haiku-20240307-v1:0",
               {"anthropic_version": "bedrock-2023-05-31", "messages": []})
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException"
        assert "max_tokens" in e.response["Error"]["Message"]
    else:
        raise AssertionError("no error")


def converse_expected(messages, system=None):
    doc = {"messages": messages}
    if system:
        doc["system"] = system
    return input_tokens(json.dumps(doc))


def test_converse():
    msgs = [{"role": "user", "content": [{"text": "What is TokenFence?"}]}]
    r = RT.converse(modelId="amazon.nova-lite-v1:0", messages=msgs,
                    inferenceConfig={"maxTokens": 9, "temperature": 0.1})
    inp = converse_expected(msgs)
    assert r["usage"] == {"inputTokens": inp, "outputTokens": 9, "totalTokens": inp + 9,
                          "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0} or \
        (r["usage"]["inputTokens"], r["usage"]["outputTokens"]) == (inp, 9)
    assert r["stopReason"] == "max_tokens"
    assert r["output"]["message"]["role"] == "assistant"
    check_bill(last_bill(), "Converse", "amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0", inp, 9)


def test_invoke_with_response_stream_anthropic():
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
            "messages": [{"role": "user", "content": "Tell me a long story."}]}
    raw = json.dumps(body).encode()
    r = RT.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                                             body=raw, contentType="application/json")
    events = [json.loads(ev["chunk"]["bytes"]) for ev in r["body"]]
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop", types
    assert types.count("content_block_delta") >= 1
    inp, out = input_tokens(raw), output_tokens(200)
    assert events[0]["message"]["usage"]["input_tokens"] == inp
    delta = [e for e in events if e["type"] == "message_delta"][0]
    assert delta["usage"]["output_tokens"] == out
    m = events[-1]["amazon-bedrock-invocationMetrics"]
    assert (m["inputTokenCount"], m["outputTokenCount"]) == (inp, out)
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert len(text.split()) == out
    check_bill(last_bill(), "InvokeModelWithResponseStream",
               "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
               inp, out, stream=True)


def test_invoke_with_response_stream_other_families():
    cases = [
        ("amazon.titan-text-express-v1", {"inputText": "Hi", "textGenerationConfig": {"maxTokenCount": 7}}, 7),
        ("meta.llama3-1-8b-instruct-v1:0", {"prompt": "Hi", "max_gen_len": 64}, 20),
        ("mistral.mistral-7b-instruct-v0:2", {"prompt": "Hi", "max_tokens": 5}, 5),
        ("amazon.nova-micro-v1:0", {"messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                                    "inferenceConfig": {"maxTokens": 4}}, 4),
    ]
    for model, body, out in cases:
        raw = json.dumps(body).encode()
        r = RT.invoke_model_with_response_stream(modelId=model, body=raw)
        events = [json.loads(ev["chunk"]["bytes"]) for ev in r["body"]]
        m = events[-1]["amazon-bedrock-invocationMetrics"]
        assert (m["inputTokenCount"], m["outputTokenCount"]) == (input_tokens(raw), out), (model, m)
        check_bill(last_bill(), "InvokeModelWithResponseStream", model, model, input_tokens(raw),
                   out, stream=True)


def test_converse_stream():
    msgs = [{"role": "user", "content": [{"text": "Stream me something."}]}]
    r = RT.converse_stream(modelId="us.amazon.nova-micro-v1:0", messages=msgs)
    events = list(r["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata", kinds
    assert "contentBlockDelta" in kinds and "messageStop" in kinds
    usage = events[-1]["metadata"]["usage"]
    inp = converse_expected(msgs)
    assert (usage["inputTokens"], usage["outputTokens"]) == (inp, 20)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert len(text.split()) == 20
    check_bill(last_bill(), "ConverseStream", "us.amazon.nova-micro-v1:0",
               "us.amazon.nova-micro-v1:0", inp, 20, stream=True)


def test_count_tokens():
    if "count_tokens" not in dir(RT):
        return
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                       "messages": [{"role": "user", "content": "count me"}]}).encode()
    r = RT.count_tokens(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                        input={"invokeModel": {"body": body}})
    assert r["inputTokens"] == input_tokens(body)
    line = last_bill()
    assert line["operation"] == "CountTokens" and line["cost_pico_usd"] == 0


def test_wrong_secret_is_invalid_signature():
    bad = boto3.client("bedrock-runtime", endpoint_url=EMU.url, region_name="us-east-1",
                       aws_access_key_id=AKID, aws_secret_access_key="not-the-secret",
                       config=CFG)
    try:
        bad.invoke_model(modelId="amazon.nova-micro-v1:0", body=b'{"messages":[]}')
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidSignatureException", e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert e.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].startswith(
            "InvalidSignatureException")
    else:
        raise AssertionError("no error")
    line = last_bill()
    assert line["status"] == 403 and line["input_tokens"] == 0 and line["cost_pico_usd"] == 0


def test_unknown_access_key():
    bad = boto3.client("bedrock-runtime", endpoint_url=EMU.url, region_name="us-east-1",
                       aws_access_key_id="AKIDUNKNOWN", aws_secret_access_key="x", config=CFG)
    try:
        bad.converse(modelId="amazon.nova-micro-v1:0",
                     messages=[{"role": "user", "content": [{"text": "x"}]}])
    except ClientError as e:
        assert e.response["Error"]["Code"] == "UnrecognizedClientException"
    else:
        raise AssertionError("no error")


def test_session_token_is_signed_and_accepted():
    c = boto3.client("bedrock-runtime", endpoint_url=EMU.url, region_name="us-east-1",
                     aws_access_key_id=AKID, aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                     aws_session_token="SESSIONTOKEN", config=CFG)
    r = c.converse(modelId="amazon.nova-micro-v1:0",
                   messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert r["usage"]["outputTokens"] == 20


def test_control_plane():
    cp = client("bedrock")
    r = cp.create_model_customization_job(
        jobName="tf-job", customModelName="tf-custom", roleArn="arn:aws:iam::123456789012:role/x",
        baseModelIdentifier="amazon.titan-text-express-v1",
        trainingDataConfig={"s3Uri": "s3://b/train.jsonl"},
        outputDataConfig={"s3Uri": "s3://b/out/"},
        hyperParameters={"epochCount": "1"})
    assert r["jobArn"].startswith("arn:aws:bedrock:us-east-1:123456789012:model-customization-job/")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    line = last_bill()
    assert line["operation"] == "CreateModelCustomizationJob"
    assert line["model"] == "amazon.titan-text-express-v1" and line["cost_pico_usd"] == 0
    p = cp.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="tf-pt",
                                               modelId="anthropic.claude-3-haiku-20240307-v1:0")
    arn = p["provisionedModelArn"]
    assert last_bill()["operation"] == "CreateProvisionedModelThroughput"
    cp.delete_provisioned_model_throughput(provisionedModelId=arn.rsplit("/", 1)[1])
    assert last_bill()["operation"] == "DeleteProvisionedModelThroughput"
    assert last_bill()["status"] == 200
    models = cp.list_foundation_models()["modelSummaries"]
    assert any(m["modelId"] == "anthropic.claude-3-haiku-20240307-v1:0" for m in models)


def test_agent_runtime():
    ar = client("bedrock-agent-runtime")
    r = ar.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "what is a fence"})
    assert len(r["retrievalResults"]) == 2
    assert last_bill()["operation"] == "Retrieve"
    model = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    r = ar.retrieve_and_generate(
        input={"text": "what is a fence"},
        retrieveAndGenerateConfiguration={
            "type": "KNOWLEDGE_BASE",
            "knowledgeBaseConfiguration": {"knowledgeBaseId": "KB12345678", "modelArn": model}})
    assert len(r["output"]["text"].split()) == 20
    line = last_bill()
    assert line["operation"] == "RetrieveAndGenerate" and line["model"] == model
    assert line["priced_model"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert line["output_tokens"] == 20 and line["cost_pico_usd"] > 0


def test_bill_has_every_request_and_no_secrets():
    lines = EMU.bill()
    assert [l["n"] for l in lines] == list(range(1, len(lines) + 1))
    blob = open(EMU.bill_path).read()
    for secret in ("wJalrXUtnFEMI", "SESSIONTOKEN", "not-the-secret", "Say hello in five words"):
        assert secret not in blob


def test_zz_clean_exit_on_sigterm():
    assert EMU.stop() == 0, EMU.log()


if __name__ == "__main__":
    try:
        run_tests(dict(globals()))
    finally:
        EMU.cleanup()
