#!/usr/bin/env python3
"""The stream terminators of shim/streamuse.h make the real SDK stream
readers raise an error that names TokenFence.

Usage: test-terminators.py STREAMUSE_CUT FIXTURE_DIR

A captured stream is cut at a boundary partway through by streamuse-cut,
which appends the terminator; the result goes to:
  - botocore's own EventStream reader (InvokeModelWithResponseStream and
    ConverseStream): must raise EventStreamError (modelStreamErrorException)
    after yielding the events before the cut;
  - openai-node's Stream.fromSSEResponse (chat completions and Responses),
    from tests/e2e/node/node_modules or $NODE_PATH: must raise APIError with
    the TokenFence message. Skipped without node or the package.
Prints TAP.
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

REASON = "daily budget of $5.00 exceeded"
MESSAGE = "TokenFence: " + REASON

NODE_READER = r"""
const { Stream } = require('openai/core/streaming');
const body = require('fs').readFileSync(0);
(async () => {
  const resp = new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  let events = 0;
  try {
    for await (const ev of Stream.fromSSEResponse(resp, new AbortController())) events++;
    console.log(JSON.stringify({ events, raised: null }));
  } catch (e) {
    console.log(JSON.stringify({ events, raised: e.constructor.name, message: e.message,
                                 code: e.code, type: e.type }));
  }
})();
"""


def cut(tool, op, path, percent=60):
    return subprocess.run([tool, op, path, str(percent), REASON], capture_output=True,
                          check=True).stdout


class Raw:
    def __init__(self, data):
        self.data = data

    def stream(self):
        yield self.data

    def close(self):
        pass


def botocore_reader():
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.parsers import EventStreamJSONParser

    session = botocore.session.get_session()
    if "bedrock-runtime" not in session.get_available_services():
        from emu import aws_data_path
        os.environ["AWS_DATA_PATH"] = aws_data_path()
        session = botocore.session.get_session()
    client = session.create_client("bedrock-runtime", region_name="us-east-1",
                                   aws_access_key_id="x", aws_secret_access_key="y")

    def read(op, data):
        om = client.meta.service_model.operation_model(op)
        name = [k for k, v in om.output_shape.members.items()
                if v.serialization.get("eventstream")][0]
        es = EventStream(Raw(data), om.output_shape.members[name], EventStreamJSONParser(), op)
        events = 0
        try:
            for _ in es:
                events += 1
        except Exception as e:  # noqa: BLE001 -- the type is what is checked
            return events, e
        return events, None
    return read


def node_cmd():
    node = os.environ.get("TF_NODE", "node")
    if not shutil.which(node):
        return None, "no node"
    env = dict(os.environ)
    env["NODE_PATH"] = os.pathsep.join(
        [os.path.join(REPO, "tests", "e2e", "node", "node_modules")] +
        ([env["NODE_PATH"]] if env.get("NODE_PATH") else []))
    probe = subprocess.run([node, "-e", "require('openai/core/streaming')"], env=env,
                           capture_output=True)
    if probe.returncode != 0:
        return None, "node cannot load npm openai (run tools/setup)"
    return (lambda data: json.loads(subprocess.run(
        [node, "-e", NODE_READER], input=data, env=env, capture_output=True,
        check=True).stdout)), None


def main():
    tool, fixtures = sys.argv[1], sys.argv[2]
    read = botocore_reader()
    node, why = node_cmd()
    cases = [
        ("botocore", "InvokeModelWithResponseStream", "bedrock-anthropic.es"),
        ("botocore", "InvokeModelWithResponseStream", "bedrock-llama.es"),
        ("botocore", "ConverseStream", "converse.es"),
        ("node", "ChatCompletions", "azure-chat-plain.sse"),
        ("node", "Completions", "azure-completions-usage.sse"),
        ("node", "Responses", "azure-responses.sse"),
    ]
    print("1..%d" % len(cases))
    failed = 0
    for i, (reader, op, name) in enumerate(cases, 1):
        data = cut(tool, op, os.path.join(fixtures, name))
        label = "%s raises on the %s terminator (%s)" % (reader, op, name)
        if reader == "node" and node is None:
            print("ok %d - %s # SKIP %s" % (i, label, why))
            continue
        if reader == "botocore":
            events, e = read(op, data)
            ok = (events > 0 and type(e).__name__ == "EventStreamError" and
                  e.response["Error"]["Code"] == "modelStreamErrorException" and
                  e.response["Error"]["Message"] == MESSAGE and MESSAGE in str(e))
            detail = "%d events, %s: %s" % (events, type(e).__name__, e)
        else:
            got = node(data)
            ok = (got["events"] > 0 and got["raised"] == "APIError" and
                  got["message"] == MESSAGE and got["code"] == "budget_exceeded" and
                  got["type"] == "tokenfence")
            detail = json.dumps(got)
        print("%s %d - %s" % ("ok" if ok else "not ok", i, label))
        print("# " + detail)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
