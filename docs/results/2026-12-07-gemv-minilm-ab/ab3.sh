#!/usr/bin/env bash
# A/B of GemvBench on cache-resident weights (1024 x 1024, one thread): before and after alternate, 3 rounds
B=$1; A=$2; OUT=$3; mkdir -p $OUT
P="-p format=q8_0,q4_0 -p path=int8,fp32 -p threads=1 -p cold=false -p rows=1024 -p k=1024 -f 1 -wi 2 -i 3 -w 1s -r 1s"
run() { (cd $1 && bin/java -jar bench/target/benchmarks.jar "^dev.lowbit.bench.GemvBench.gemm$" $P $3 -rf json -rff $OUT/$2.json > $OUT/$2.txt 2>&1); }
for i in 1 2 3; do
  for s in before after; do
    d=$B; [ $s = after ] && d=$A
    run $d $s-plain-$i "-p layout=plain -p impl=native,vector"
    run $d $s-x8-$i "-p layout=x8 -p impl=native"
  done
done
