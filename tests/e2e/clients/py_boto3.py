"""boto3 bedrock-runtime InvokeModel against endpoint_url (dummy keys from
the environment, models from AWS_DATA_PATH): two calls on one client (the
second reuses the connection); print each response body's sha256.
Usage: py_boto3.py BASE_URL PAYLOAD_FILE N (N is ignored)"""
import hashlib
import sys

import boto3
from botocore.config import Config

base, payload = sys.argv[1], open(sys.argv[2], "rb").read()
client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=base,
                      config=Config(retries={"max_attempts": 1}, read_timeout=60))
for i in (1, 2):
    r = client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=payload,
                            contentType="application/json", accept="application/json")
    print("invoke%d" % i, hashlib.sha256(r["body"].read()).hexdigest())
