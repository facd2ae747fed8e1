#!/usr/bin/env bash
# Focused A/B of GemvBench (warm weights, one thread), 3 forks per side, sides alternated twice
B=$1; A=$2; OUT=$3; mkdir -p $OUT
P="-p format=q8_0,q4_0 -p path=int8,fp32 -p threads=1 -p cold=false -f 3 -wi 2 -i 3 -w 1s -r 1s"
run() { (cd $1 && bin/java -jar bench/target/benchmarks.jar "^dev.lowbit.bench.GemvBench.gemm$" $P $3 -rf json -rff $OUT/$2.json > $OUT/$2.txt 2>&1); }
run $B before-plain "-p layout=plain -p impl=native,vector"
run $A after-plain "-p layout=plain -p impl=native,vector"
run $B before-x8 "-p layout=x8 -p impl=native"
run $A after-x8 "-p layout=x8 -p impl=native"
