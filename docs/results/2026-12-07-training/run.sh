#!/usr/bin/env bash
# Every training run behind docs/training.md, one thread each (bit-for-bit repeatable).
# Each run writes its checkpoint and log under $RUNS (default runs/) and resumes from the checkpoint when
# started again, so this script can be stopped at any point and run again; a finished run is skipped.
# On 2 cores run both lanes at once: `bash run.sh 0 & bash run.sh 1`. Lane 0 trains the fp32 network, then
# AdaQAT fine-tuning at λ = 2 and half the baselines; lane 1 (once fp32 is done) AdaQAT fine-tuning at λ = 4,
# the other baselines, then AdaQAT from scratch.
set -eu
cd "$(dirname "$0")/../../.."
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
lane=${1:-all}
# `bin/lowbit train` on a copy of the jar, so that rebuilding lowbit does not disturb a run under way.
jar=$RUNS/lowbit.jar
[ -f "$jar" ] || cp cli/target/lowbit.jar "$jar"
train() { # name, then the flags
  local name=$1; shift
  [ -f "$RUNS/$name.done" ] && return 0
  echo "== $name: bin/lowbit train $* --out $RUNS/$name.safetensors" >&2
  bin/java --enable-native-access=ALL-UNNAMED -jar "$jar" train --threads 1 "$@" --out "$RUNS/$name.safetensors" \
    >>"$RUNS/$name.out" 2>>"$RUNS/$name.log"
  touch "$RUNS/$name.done"
}
wait_for() { while [ ! -f "$RUNS/$1.done" ]; do sleep 60; done; }

FP32="--model resnet20 --method fp32 --epochs 30 --lr 0.1"
SCRATCH="--model resnet20 --method adaqat --epochs 30 --lr 0.1 --lambda 2"
# Fine-tuning from the fp32 network: the same 10 epochs, learning rate and data for every method. AdaQAT learns
# its widths in the first epochs (η_N = 0.05) and freezes them after 2 stable epochs, so that the weights have the
# rest of the run to settle at the widths it chose.
FT="--model resnet20 --init $RUNS/resnet20-fp32.safetensors --epochs 10 --lr 0.01"
ft() { echo "resnet20-$1-w$2a$2|$FT --method $1 --widths W$2A$2"; }
adaqat() { echo "resnet20-adaqat-ft-l$1|$FT --method adaqat --lambda $1 --bit-rate 0.05 --stable-epochs 2"; }
lane0=("$(adaqat 2)" "$(ft lsq 3)" "$(ft lsq 4)" "$(ft lsq 8)" "$(ft dorefa-pact 8)")
lane1=("$(adaqat 4)" "$(ft lsq 2)" "$(ft dorefa-pact 4)" "$(ft dorefa-pact 3)" "$(ft dorefa-pact 2)")
run_lane() {
  for j in "$@"; do
    # shellcheck disable=SC2086
    train "${j%%|*}" ${j#*|}
  done
}
case $lane in
  0) train resnet20-fp32 $FP32; run_lane "${lane0[@]}" ;;
  1) wait_for resnet20-fp32; run_lane "${lane1[@]}"; train resnet20-adaqat-scratch $SCRATCH ;;
  *) train resnet20-fp32 $FP32; run_lane "${lane0[@]}" "${lane1[@]}"; train resnet20-adaqat-scratch $SCRATCH ;;
esac
