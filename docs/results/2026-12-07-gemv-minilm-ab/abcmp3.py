import json, sys, statistics as st, glob, os
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(out + '/*.json')):
    side = os.path.basename(f).split('-')[0]
    try:
        data = json.load(open(f))
    except Exception:
        continue
    for r in data:
        p = r['params']
        key = (p['format'], p['path'], p['impl'], p['layout'])
        rows.setdefault(key, {}).setdefault(side, []).append(r['primaryMetric']['score'])
print(f"| format | path | impl | layout | before µs (rounds) | after µs (rounds) | after/before, medians |")
print("|---|---|---|---|---|---|---|")
for k, v in rows.items():
    if 'before' in v and 'after' in v:
        b, a = st.median(v['before']), st.median(v['after'])
        fb = ", ".join(f"{x:.0f}" for x in v['before']); fa = ", ".join(f"{x:.0f}" for x in v['after'])
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {fb} | {fa} | {a/b:.2f} |")
