#!/usr/bin/env bash
# The three configurations whose medians differed most in ab3: before and after alternate, 5 rounds
B=$1; A=$2; OUT=$3; mkdir -p $OUT
P="-p threads=1 -p cold=false -p rows=1024 -p k=1024 -p impl=native -f 1 -wi 2 -i 3 -w 1s -r 1s"
run() { (cd $1 && bin/java -jar bench/target/benchmarks.jar "^dev.lowbit.bench.GemvBench.gemm$" $P $3 -rf json -rff $OUT/$2.json > $OUT/$2.txt 2>&1); }
for i in 1 2 3 4 5; do
  for s in before after; do
    d=$B; [ $s = after ] && d=$A
    run $d $s-x8-$i "-p layout=x8 -p format=q8_0,q4_0 -p path=fp32,int8"
    run $d $s-plain-$i "-p layout=plain -p format=q8_0 -p path=int8"
  done
done
