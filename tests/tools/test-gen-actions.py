#!/usr/bin/env python3
"""Self-test of tools/gen-actions.py on synthetic service models: query
literals, greedy labels, the overlay, and the refusal of ambiguous tables.
Needs no ../shared (the real models are checked by `--check`)."""

import importlib.util
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    'gen_actions', os.path.join(HERE, '..', '..', 'tools', 'gen-actions.py'))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

failures = 0


def check(cond, what):
    global failures
    print(('ok - ' if cond else 'not ok - ') + what)
    if not cond:
        failures += 1


def model(ops):
    shapes = {'S': {'type': 'structure', 'members': {}},
              'Out': {'type': 'structure', 'members': {'stream': {'shape': 'ES'}}},
              'ES': {'type': 'structure', 'eventstream': True, 'members': {}}}
    operations = {}
    for name, (method, uri, *rest) in ops.items():
        op = {'name': name, 'http': {'method': method, 'requestUri': uri},
              'input': {'shape': 'S'}}
        if rest and rest[0] == 'stream':
            op['output'] = {'shape': 'Out'}
        operations[name] = op
    return {'metadata': {'signingName': 'bedrock'}, 'operations': operations, 'shapes': shapes}


def write(root, service, version, m):
    d = os.path.join(root, service, version)
    os.makedirs(d)
    with open(os.path.join(d, 'service-2.json'), 'w') as f:
        json.dump(m, f)


with tempfile.TemporaryDirectory() as root:
    write(root, 'bedrock-agent', '2020-01-01', model({'Old': ('GET', '/old')}))
    write(root, 'bedrock-agent', '2023-06-05', model({
        'ListThings': ('GET', '/things'),
        'ListThingsQ': ('GET', '/things?list'),
        'GetFile': ('GET', '/files/{key+}'),
        'Watch': ('POST', '/watch/{watchId}', 'stream'),
    }))
    text = gen.generate(root)
    check('"/things?list", "ListThingsQ"' in text, 'query literal kept in the template')
    check('"/files/{key+}", "GetFile", "GetFile", "key"' in text, 'greedy label is the resource')
    check('"Watch", "Watch", "watchId", TF_ACTION_STREAM }' in text, 'event-stream output -> STREAM')
    check('"Old"' not in text, 'only the newest model version is read')
    check('TF_BEDROCK_SVC_AGENT, "bedrock-agent/2023-06-05"' in text, 'service table row')
    check('bedrock-runtime' not in text, 'absent services are left out')
    check(gen.generate(root) == text, 'output is deterministic')

with tempfile.TemporaryDirectory() as root:
    write(root, 'bedrock-agent', '2023-06-05', model({
        'A': ('GET', '/x/{a}'),
        'B': ('GET', '/x/{b}/'),
    }))
    try:
        gen.generate(root)
        check(False, 'ambiguous templates are refused')
    except gen.GenError as e:
        check('match the same paths equally' in str(e), 'ambiguous templates are refused')

with tempfile.TemporaryDirectory() as root:
    write(root, 'bedrock-agent', '2023-06-05', model({
        'A': ('GET', '/x/{a}'),
        'B': ('GET', '/x/{b}?mode=1'),
        'C': ('GET', '/x/lit'),
    }))
    try:
        gen.generate(root)
        check(True, 'query-only and literal differences are not ambiguous')
    except gen.GenError as e:
        check(False, f'query-only and literal differences are not ambiguous: {e}')

with tempfile.TemporaryDirectory() as root:
    write(root, 'bedrock-runtime', '2023-09-30', model({'InvokeModel': ('POST', '/model/{modelId}/invoke')}))
    try:
        gen.generate(root)
        check(False, 'an overlay naming a missing operation is refused')
    except gen.GenError as e:
        check('not in the model' in str(e), 'an overlay naming a missing operation is refused')

sys.exit(1 if failures else 0)
