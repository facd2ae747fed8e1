#!/usr/bin/env bash
# After run.sh: every finished quantized run under $RUNS (default runs/) exported with `lowbit export-image` and
# run integer-only on all 10,000 test images with `lowbit eval-image` (1 thread), whose output $RUNS/<run>.eval
# puts the integer accuracy beside the fake-quant accuracy training measured; then one `lowbit train-report` page
# of every run, $RUNS/report.html. A run already evaluated is skipped, so this can run while run.sh goes on.
set -eu
cd "$(dirname "$0")/../../.."
RUNS=${RUNS:-runs}
for done in "$RUNS"/*.done; do
  [ -e "$done" ] || continue
  name=$(basename "$done" .done)
  case $name in *fp32*) continue ;; esac
  [ -f "$RUNS/$name.eval" ] && continue
  bin/lowbit export-image --force --run "$RUNS/$name.safetensors" --out "$RUNS/$name-int.safetensors"
  part="$RUNS/$name.eval.part"
  trap 'rm -f "$part"' EXIT # an interrupted evaluation leaves no partial file
  bin/lowbit eval-image --model "$RUNS/$name-int.safetensors" --threads 1 > "$part"
  mv "$part" "$RUNS/$name.eval"
  trap - EXIT
  cat "$RUNS/$name.eval"
done
runs=()
for f in "$RUNS"/resnet20-*.safetensors; do
  log=${f%.safetensors}.log
  # a run under way joins the page once it has finished an epoch (its log holds the epoch's summary line)
  case $f in *-int.safetensors) ;; *) grep -q '^epoch [0-9]*/[0-9]*:' "$log" 2>/dev/null && runs+=("$f") ;; esac
done
bin/lowbit train-report --out "$RUNS/report.html" "${runs[@]}"
