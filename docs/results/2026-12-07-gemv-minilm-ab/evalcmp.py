import re, sys, glob, os
out = sys.argv[1]
def parse(p):
    rows = {}
    speed = False
    for line in open(p):
        if line.startswith('Speed:'): speed = True; continue
        if speed and ' s/s' in line:
            name = line.split('  ')[0].strip()
            vals = [float(x) for x in re.findall(r'([\d.]+) s/s', line)]
            rows[name] = vals
    return rows
runs = sorted(glob.glob(out + '/eval-*.txt'))
cells = ['t1 b1', 't1 b32', 't2 b1', 't2 b32']
print('| run | encoder | ' + ' | '.join(cells) + ' |')
print('|---|---|' + '---|' * len(cells))
for p in runs:
    r = parse(p)
    ref = r.get('onnxruntime fp32')
    if not ref: continue
    for name, vals in r.items():
        print(f"| {os.path.basename(p)[5:-4]} | {name} | " + ' | '.join(f"{v:.1f} ({v/b:.2f}×)" for v, b in zip(vals, ref)) + ' |')
