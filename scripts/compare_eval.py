"""Compare two `stemsight eval` JSONs field by field, ignoring timings; exit 1 on any difference.

Usage: python3 scripts/compare_eval.py BEFORE.json AFTER.json  (a refactor must print "identical")."""
import json, sys
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not any(t in k for t in ('timing', '_ms', 'seconds', 'elapsed'))}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
diffs = []
def walk(x, y, path):
    if type(x) != type(y): diffs.append((path, x, y)); return
    if isinstance(x, dict):
        for k in set(x) | set(y):
            if k not in x or k not in y: diffs.append((path + '/' + k, x.get(k), y.get(k)))
            else: walk(x[k], y[k], path + '/' + k)
    elif isinstance(x, list):
        if len(x) != len(y): diffs.append((path, len(x), len(y))); return
        for i, (p, q) in enumerate(zip(x, y)): walk(p, q, f'{path}[{i}]')
    elif x != y: diffs.append((path, x, y))
walk(a, b, '')
for d in diffs[:30]: print('DIFF', *d)
print('identical' if not diffs else f'{len(diffs)} differences')
sys.exit(1 if diffs else 0)
