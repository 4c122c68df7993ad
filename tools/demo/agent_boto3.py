"""A small Bedrock agent for the demo: plain boto3, no TokenFence code.

Usage: agent_boto3.py SCENE   (SCENE: tour | budget | loop | policy)
Prints one line per call: "ok MODEL in=N out=M" or "error CODE: message".
"""
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["TF_EMULATOR_URL_IP"]
CFG = Config(retries={"max_attempts": 3, "mode": "standard"})
rt = boto3.client("bedrock-runtime", endpoint_url=URL, region_name="us-east-1", config=CFG)
ctl = boto3.client("bedrock", endpoint_url=URL, region_name="us-east-1", config=CFG)


def claude(model, text, max_tokens=60):
    return model, {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
                   "messages": [{"role": "user", "content": text}]}


def invoke(model, body):
    try:
        r = rt.invoke_model(modelId=model, body=json.dumps(body))
        r["body"].read()
        h = r["ResponseMetadata"]["HTTPHeaders"]
        print("ok %s in=%s out=%s" % (model, h.get("x-amzn-bedrock-input-token-count"),
                                      h.get("x-amzn-bedrock-output-token-count")), flush=True)
    except ClientError as e:
        err = e.response["Error"]
        print("error %s: %s (attempts: %d)" % (err["Code"], err["Message"],
              e.response["ResponseMetadata"]["RetryAttempts"] + 1), flush=True)


def converse(model, text):
    try:
        r = rt.converse(modelId=model, messages=[{"role": "user", "content": [{"text": text}]}],
                        inferenceConfig={"maxTokens": 40})
        u = r["usage"]
        print("ok %s in=%d out=%d" % (model, u["inputTokens"], u["outputTokens"]), flush=True)
    except ClientError as e:
        print("error %s: %s" % (e.response["Error"]["Code"], e.response["Error"]["Message"]),
              flush=True)


def main(scene):
    if scene == "tour":
        invoke(*claude("anthropic.claude-3-haiku-20240307-v1:0", "Summarise TokenFence."))
        invoke(*claude("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "And in one line?"))
        invoke("amazon.titan-text-premier-v1:0",
               {"inputText": "Write a haiku about budgets.",
                "textGenerationConfig": {"maxTokenCount": 50}})
        invoke("meta.llama3-1-70b-instruct-v1:0", {"prompt": "Say hi", "max_gen_len": 30})
        converse("amazon.nova-lite-v1:0", "What is a kill switch?")
    elif scene == "budget":
        for i in range(12):
            invoke(*claude("anthropic.claude-3-5-sonnet-20240620-v1:0", "Step %d of my plan" % i, 100))
    elif scene == "loop":
        for i in range(5):
            invoke(*claude("anthropic.claude-3-haiku-20240307-v1:0", "Retry attempt %d" % i))
    elif scene == "policy":
        try:
            ctl.create_model_customization_job(
                jobName="tune", customModelName="mine",
                roleArn="arn:aws:iam::123456789012:role/tune",
                baseModelIdentifier="amazon.titan-text-lite-v1",
                trainingDataConfig={"s3Uri": "s3://bucket/train.jsonl"},
                outputDataConfig={"s3Uri": "s3://bucket/out/"}, hyperParameters={})
            print("ok fine-tuning job created", flush=True)
        except ClientError as e:
            print("error %s: %s" % (e.response["Error"]["Code"], e.response["Error"]["Message"]),
                  flush=True)
        invoke(*claude("anthropic.claude-3-5-sonnet-20240620-v1:0", "Plan the quarter"))
        invoke(*claude("anthropic.claude-3-haiku-20240307-v1:0", "And the week"))


if __name__ == "__main__":
    main(sys.argv[1])
