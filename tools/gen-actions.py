#!/usr/bin/env python3
"""Generate policy/actions_bedrock.inc from the botocore service models.

The Bedrock route table is derived, not typed: every operation of every
service model found under MODELS/<service>/<version>/service-2.json (the
newest version of each known service) becomes one row with its HTTP method,
its requestUri template (with {label}, greedy {label+} segments and literal
query parts), the name it has in policy actions, the label that names the
resource it acts on, and its facts (TF_ACTION_* flags).

What cannot be read from the models is listed below in OVERLAY and in the
flag sets; everything else (routes, labels, event-stream responses) is read.

Usage:
  tools/gen-actions.py [--models DIR] [--output FILE]   write the include
  tools/gen-actions.py [--models DIR] --check FILE      exit 1 if FILE differs,
                                                        77 if DIR is missing
"""

import argparse
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS = os.path.normpath(
    os.path.join(HERE, '..', '..', 'shared', 'reference', 'aws-models'))

# Known services, in the order the C matcher tries them for a host whose
# service kind is unknown (runtime first: the common case, and the emulator).
SERVICES = [
    ('bedrock-runtime', 'TF_BEDROCK_SVC_RUNTIME'),
    ('bedrock-agent-runtime', 'TF_BEDROCK_SVC_AGENT_RUNTIME'),
    ('bedrock', 'TF_BEDROCK_SVC_CONTROL'),
    ('bedrock-agent', 'TF_BEDROCK_SVC_AGENT'),
]

BODY = object()  # the resource is the model the caller read from the body

# IAM action names equal operation names except these (reference/WIRE.md
# §1.2 and §3, quoting the model docs), plus resources not in the path.
OVERLAY = {
    ('bedrock-runtime', 'Converse'): {'action': 'InvokeModel'},
    ('bedrock-runtime', 'ConverseStream'): {'action': 'InvokeModelWithResponseStream'},
    ('bedrock-runtime', 'StartAsyncInvoke'): {'action': 'InvokeModel', 'resource': BODY},
    ('bedrock-agent-runtime', 'RetrieveAndGenerateStream'): {'action': 'RetrieveAndGenerate'},
    ('bedrock-agent-runtime', 'InvokeInlineAgent'): {'resource': BODY},
}

# Runs a model now and the response reports the tokens it cost.
INVOKE = {
    ('bedrock-runtime', 'InvokeModel'),
    ('bedrock-runtime', 'InvokeModelWithResponseStream'),
    ('bedrock-runtime', 'Converse'),
    ('bedrock-runtime', 'ConverseStream'),
    ('bedrock-runtime', 'InvokeModelWithBidirectionalStream'),
}

# The resource label is a model id the operation runs (or counts tokens for).
MODEL_LABEL = {
    ('bedrock-runtime', 'InvokeModel'),
    ('bedrock-runtime', 'InvokeModelWithResponseStream'),
    ('bedrock-runtime', 'Converse'),
    ('bedrock-runtime', 'ConverseStream'),
    ('bedrock-runtime', 'InvokeModelWithBidirectionalStream'),
    ('bedrock-runtime', 'CountTokens'),
}

# Makes the provider bill model usage, capacity or jobs (now or later) that
# the response does not report: a budget cannot settle these from the wire.
HIDDEN_COST = {
    ('bedrock-runtime', 'StartAsyncInvoke'),
    ('bedrock-agent-runtime', 'AgenticRetrieveStream'),
    ('bedrock-agent-runtime', 'GenerateQuery'),
    ('bedrock-agent-runtime', 'InvokeAgent'),
    ('bedrock-agent-runtime', 'InvokeFlow'),
    ('bedrock-agent-runtime', 'InvokeInlineAgent'),
    ('bedrock-agent-runtime', 'OptimizePrompt'),
    ('bedrock-agent-runtime', 'Rerank'),
    ('bedrock-agent-runtime', 'Retrieve'),
    ('bedrock-agent-runtime', 'RetrieveAndGenerate'),
    ('bedrock-agent-runtime', 'RetrieveAndGenerateStream'),
    ('bedrock-agent-runtime', 'StartFlowExecution'),
    ('bedrock', 'CreateAdvancedPromptOptimizationJob'),
    ('bedrock', 'CreateEvaluationJob'),
    ('bedrock', 'CreateMarketplaceModelEndpoint'),
    ('bedrock', 'CreateModelCustomizationJob'),
    ('bedrock', 'CreateModelInvocationJob'),
    ('bedrock', 'CreateProvisionedModelThroughput'),
    ('bedrock', 'UpdateProvisionedModelThroughput'),
}

MAX_TEMPLATE_SEGS = 16  # TF_ROUTE_MAX_TEMPLATE_SEGS in policy/routes.h


class GenError(Exception):
    pass


def newest_model(models, service):
    base = os.path.join(models, service)
    if not os.path.isdir(base):
        return None, None
    versions = sorted(v for v in os.listdir(base)
                      if os.path.isfile(os.path.join(base, v, 'service-2.json')))
    if not versions:
        return None, None
    return versions[-1], os.path.join(base, versions[-1], 'service-2.json')


def parse_uri(uri):
    """Splits a requestUri into (segments, query literals) as the C matcher
    does: empty segments vanish, so '/sessions/' equals '/sessions'."""
    path, _, query = uri.partition('?')
    segs = []
    for s in path.split('/'):
        if not s:
            continue
        if s.startswith('{') and s.endswith('}'):
            name = s[1:-1]
            if name.endswith('+'):
                segs.append(('greedy', name[:-1]))
            else:
                segs.append(('label', name))
        elif '{' in s or '}' in s:
            raise GenError(f'{uri}: a label must fill a whole segment')
        else:
            segs.append(('lit', s))
    if len(segs) > MAX_TEMPLATE_SEGS:
        raise GenError(f'{uri}: more than {MAX_TEMPLATE_SEGS} segments')
    if sum(1 for k, _ in segs if k == 'greedy') > 1:
        raise GenError(f'{uri}: more than one greedy label')
    q = [p for p in query.split('&') if p] if query else []
    return segs, q


def specificity(segs, q):
    return (sum(1 for k, _ in segs if k == 'lit'),
            -sum(1 for k, _ in segs if k == 'greedy'), len(q))


def may_overlap(a, b):
    """True if some path could match both templates (same method)."""
    sa, qa = a
    sb, qb = b
    if any(k == 'greedy' for k, _ in sa + sb):
        return True  # be conservative; decided by specificity below
    if len(sa) != len(sb):
        return False
    for (ka, va), (kb, vb) in zip(sa, sb):
        if ka == 'lit' and kb == 'lit' and va.lower() != vb.lower():
            return False
    return True


def check_ambiguity(service, rows):
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if a['method'] != b['method']:
                continue
            pa = parse_uri(a['uri'])
            pb = parse_uri(b['uri'])
            if may_overlap(pa, pb) and specificity(*pa) == specificity(*pb) \
                    and set(pa[1]) == set(pb[1]):
                raise GenError(f"{service}: {a['method']} {a['uri']} ({a['op']}) and "
                               f"{b['uri']} ({b['op']}) match the same paths equally")


def event_stream_output(model, op):
    out = op.get('output', {}).get('shape')
    if not out:
        return False
    shapes = model['shapes']
    for member in shapes[out].get('members', {}).values():
        if shapes[member['shape']].get('eventstream'):
            return True
    return False


def rows_for(service, model):
    rows = []
    for name, op in model['operations'].items():
        http = op['http']
        uri = http['requestUri']
        segs, _ = parse_uri(uri)
        key = (service, name)
        over = OVERLAY.get(key, {})
        labels = [v for k, v in segs if k != 'lit']
        # The resource is the first label: in every route of these models it
        # names the thing acted on (modelId, knowledgeBaseId, jobIdentifier,
        # policyArn, agentId, flowIdentifier, sessionIdentifier...); the
        # labels after it name parts of it (versions, aliases, sessions).
        resource = over.get('resource', labels[0] if labels else None)
        flags = []
        if key in INVOKE:
            flags.append('TF_ACTION_INVOKE')
        if event_stream_output(model, op):
            flags.append('TF_ACTION_STREAM')
        if key in MODEL_LABEL:
            if resource != 'modelId':
                raise GenError(f'{name}: expected a modelId label, found {resource}')
            flags.append('TF_ACTION_MODEL_IN_PATH')
        if resource is BODY:
            flags.append('TF_ACTION_BODY_MODEL')
            resource = None
        if key in HIDDEN_COST:
            flags.append('TF_ACTION_HIDDEN_COST')
        rows.append({
            'method': http['method'].upper(),
            'uri': uri,
            'op': name,
            'action': over.get('action', name),
            'resource': resource,
            'flags': ' | '.join(flags) if flags else '0',
        })
    for key in list(OVERLAY) + list(INVOKE) + list(MODEL_LABEL) + list(HIDDEN_COST):
        if key[0] == service and key[1] not in model['operations']:
            raise GenError(f'{service}: {key[1]} is listed in the generator but not in the model')
    rows.sort(key=lambda r: r['op'])
    check_ambiguity(service, rows)
    return rows


def c_str(s):
    if s is None:
        return 'NULL'
    if any(c in s for c in '"\\') or not s.isprintable():
        raise GenError(f'unexpected character in {s!r}')
    return '"' + s + '"'


def generate(models):
    found = []
    for service, enum in SERVICES:
        version, path = newest_model(models, service)
        if path is None:
            continue
        with open(path, 'rb') as f:
            raw = f.read()
        model = json.loads(raw)
        found.append((service, enum, version, hashlib.sha256(raw).hexdigest(),
                      rows_for(service, model)))
    if not found:
        raise GenError(f'no service model under {models}')

    out = []
    w = out.append
    w('/* Generated by tools/gen-actions.py from the botocore service models; do not edit.')
    w(' * Regenerate: tools/gen-actions.py --output policy/actions_bedrock.inc')
    w(' * (tests/meson.build checks that this file equals the generator\'s output).')
    for service, _, version, digest, rows in found:
        w(f' *   {service}/{version}/service-2.json  sha256 {digest}  {len(rows)} operations')
    w(' * Columns: method, requestUri, operation, action name, resource label, facts. */')
    w('')
    for service, _, _, _, rows in found:
        ident = service.replace('-', '_')
        w(f'static const tf_route tf_routes_{ident}[] = {{')
        for r in rows:
            w(f"\t{{ {c_str(r['method'])}, {c_str(r['uri'])}, {c_str(r['op'])}, "
              f"{c_str(r['action'])}, {c_str(r['resource'])}, {r['flags']} }},")
        w('};')
        w('')
    w('static const struct bedrock_table {')
    w('\ttf_bedrock_service service;')
    w('\tconst char *model;')
    w('\tconst tf_route *routes;')
    w('\tsize_t n;')
    w('} tf_bedrock_tables[] = {')
    for service, enum, version, _, _ in found:
        ident = service.replace('-', '_')
        w(f'\t{{ {enum}, "{service}/{version}", tf_routes_{ident}, '
          f'sizeof(tf_routes_{ident}) / sizeof(tf_routes_{ident}[0]) }},')
    w('};')
    return '\n'.join(out) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', default=DEFAULT_MODELS)
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--output', help='write the include here (default: stdout)')
    g.add_argument('--check', help='compare with this file instead of writing')
    args = ap.parse_args()

    if not os.path.isdir(args.models):
        print(f'gen-actions: {args.models}: no service models here', file=sys.stderr)
        return 77 if args.check else 2
    try:
        text = generate(args.models)
    except GenError as e:
        print(f'gen-actions: {e}', file=sys.stderr)
        return 2
    if args.check:
        with open(args.check, encoding='utf-8') as f:
            have = f.read()
        if have != text:
            print(f'gen-actions: {args.check} is stale; regenerate it with '
                  f'tools/gen-actions.py --output {args.check}', file=sys.stderr)
            return 1
        print(f'gen-actions: {args.check} matches {args.models}')
        return 0
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
