"""The npm `openai` AzureOpenAI client (tests/e2e/node/openai-azure.js)
against the emulator, no shim: chat, streaming with include_usage,
embeddings; results and bill checked against the formula.

Node binary: $TF_NODE (default `node`; tools/node18 runs Debian's node 18).
The `openai` package: tests/e2e/node/node_modules (tools/setup runs npm ci
there) or any directory on $NODE_PATH. Without node or the package the test
exits 77, which meson reports as skipped."""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from emu import Emulator, cost_pico, input_tokens  # noqa: E402

NODE_DIR = os.path.join(HERE, "node")
SKIP = 77


def node_env(base):
    env = dict(base)
    paths = [os.path.join(NODE_DIR, "node_modules")]
    if os.environ.get("NODE_PATH"):
        paths.append(os.environ["NODE_PATH"])
    env["NODE_PATH"] = os.pathsep.join(paths)
    return env


def main():
    node = os.environ.get("TF_NODE", "node")
    if not (os.path.isabs(node) and os.access(node, os.X_OK)) and not shutil.which(node):
        print("1..0 # SKIP no node (%s)" % node)
        return SKIP
    probe = subprocess.run([node, "-e", "require('openai')"], cwd=NODE_DIR,
                           env=node_env(os.environ), capture_output=True, text=True)
    if probe.returncode != 0:
        why = [l for l in probe.stderr.splitlines() if "Cannot find" in l or "node18:" in l]
        print("1..0 # SKIP node cannot load npm openai (run tools/setup): %s"
              % (why[0].strip() if why else "exit %d" % probe.returncode))
        return SKIP

    with Emulator("--deployment", "my-gpt4o=gpt-4o",
                  "--deployment", "my-embed=text-embedding-3-small") as emu:
        env = node_env(emu.env())
        p = subprocess.run([node, os.path.join(NODE_DIR, "openai-azure.js")], cwd=NODE_DIR,
                           env=env, capture_output=True, text=True, timeout=120)
        print("1..4")
        if p.returncode != 0:
            print("not ok 1 - node client ran\n# " + p.stderr.replace("\n", "\n# "))
            print("# emulator: " + emu.log().replace("\n", "\n# "))
            return 1
        out = json.loads(p.stdout)
        print("ok 1 - node client ran (%s)" % out["node"])
        bill = emu.bill(3)
        failures = 0

        def check(n, name, cond, detail):
            nonlocal failures
            if cond:
                print("ok %d - %s" % (n, name))
            else:
                failures += 1
                print("not ok %d - %s\n# %s" % (n, name, detail))

        c = out["chat"]
        inp = input_tokens(c["body"])
        check(2, "chat usage and bill",
              c["usage"]["prompt_tokens"] == inp and c["usage"]["completion_tokens"] == 6
              and c["model"] == "gpt-4o-2024-11-20" and c["finish"] == "length"
              and bill[0]["operation"] == "ChatCompletions" and bill[0]["model"] == "my-gpt4o"
              and bill[0]["input_tokens"] == inp and bill[0]["output_tokens"] == 6
              and bill[0]["cost_pico_usd"] == cost_pico("gpt-4o", inp, 6), (c, bill[0]))
        s = out["stream"]
        inp = input_tokens(s["body"])
        check(3, "stream with include_usage",
              s["firstChoices"] == 0 and s["usage"] is not None
              and s["usage"]["prompt_tokens"] == inp and s["usage"]["completion_tokens"] == 20
              and len(s["text"].split()) == 20 and s["finish"] == "stop"
              and bill[1]["stream"] is True and bill[1]["output_tokens"] == 20
              and bill[1]["cost_pico_usd"] == cost_pico("gpt-4o", inp, 20), (s, bill[1]))
        e = out["embeddings"]
        inp = input_tokens(e["body"])
        check(4, "embeddings",
              e["n"] == 2 and e["dims"] == 1536 and e["usage"]["prompt_tokens"] == inp
              and bill[2]["operation"] == "Embeddings" and bill[2]["output_tokens"] == 0
              and bill[2]["cost_pico_usd"] == cost_pico("text-embedding-3-small", inp, 0),
              (e, bill[2]))
        if emu.stop() != 0:
            print("# emulator did not exit cleanly: " + emu.log())
            failures += 1
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
