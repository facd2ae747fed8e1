#!/usr/bin/env bash
# The MiniLM eval, before and after alternating, 2 rounds each
B=$1; A=$2; OUT=$3; mkdir -p $OUT
for i in 1 2; do
  for s in before after; do
    d=$B; [ $s = after ] && d=$A
    (cd $d && bin/lowbit eval --method rtn-sym,gptq --bits 8,4 --group row,32 --sentences 200 --speed-sentences 64 --rounds 3 > $OUT/eval-$s-$i.txt 2> $OUT/eval-$s-$i.err)
  done
done
