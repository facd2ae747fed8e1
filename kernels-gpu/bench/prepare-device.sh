#!/usr/bin/env bash
# Builds what run-cuda-bench.sh needs and puts it under .device/ (git-ignored; copied to the GPU machine with the working tree):
# a jlinked JDK 25 runtime, the module jars with every test dependency, and the kernels-gpu test classes.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device/lib .device/test-classes
if [ ! -f .device/jre.txz ]; then
  if [ -d .git ] && [ -x ../shared/device/pack-jre ]; then
    ../shared/device/pack-jre
  else
    # A git worktree (.git is a file) or no shared folder: the same jlink as ../shared/device/pack-jre.
    jdk=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
    tmp=$(mktemp -d)
    "$jdk/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,java.xml,jdk.incubator.vector,jdk.management,jdk.unsupported \
      --strip-debug --no-man-pages --no-header-files --output "$tmp/jre"
    tar cJf .device/jre.txz -C "$tmp" jre
    rm -rf "$tmp"
  fi
fi
# Module jars and test dependencies (JUnit for GpuTestMain) in one reactor build, tests compiled but not run.
bin/mvn -B -ntp -o -q -pl kernels-gpu -am -DskipTests package dependency:copy-dependencies -DincludeScope=test \
    -DoutputDirectory="$PWD/.device/lib"
cp kernels-gpu/target/lowbit-kernels-gpu-*.jar .device/lib/
rm -f .device/lib/*-tests.jar .device/lib/*-sources.jar
rm -rf .device/test-classes && cp -r kernels-gpu/target/test-classes .device/test-classes
du -sh .device
