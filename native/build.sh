#!/usr/bin/env bash
# Builds liblowbit.so from src/main/c with the machine's gcc: one object per source file and CPU tier,
# all linked into one library under target/classes, so that it lands in the jar.
#
#   *_generic.c  -O2 -march=x86-64 -mtune=generic          (also compiled as avx2 / avx512 when the family
#                                                            has no *_avx2.c / *_avx512.c of its own)
#   *_avx2.c     -O2 -mavx2 -mfma -mf16c -mbmi2
#   *_avx512.c   the avx2 flags + -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
#   other .c     the generic flags (caps.c)
#
# Headers are never compiled alone. *_impl.h files define exported functions and are included once by each
# tier's .c file, which stamps out that tier's variants; the other headers hold declarations and static inline
# helpers only.
#
# Each object gets -DLB_TIER=<tier>, which LB_FN(name) in lowbit.h pastes onto its exported names.
# Never -march=native: the library must run on any x86-64 and pick its tier at run time (lowbit_caps).
# -ffp-contract=off: C must not fuse a*b+c where the Java reference rounds twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/src/main/c"
out="$here/target/classes/dev/lowbit/native/linux-x86_64"
obj="$here/target/native-obj"
lib="$out/liblowbit.so"
CC=${CC:-gcc}

platform="$(uname -s)-$(uname -m)"
if [ "$platform" != "Linux-x86_64" ]; then
  echo "lowbit native: skipped, the C kernels build only on Linux-x86_64 (this is $platform); the Java kernels run instead."
  exit 0
fi
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "lowbit native: no C compiler '$CC' on the PATH; install gcc (apt-get install gcc) to build liblowbit.so." >&2
  exit 1
fi

if [ -f "$lib" ] && [ -z "$(find "$src" "$here/build.sh" -newer "$lib" -print -quit)" ]; then
  echo "lowbit native: $lib is up to date"
  exit 0
fi

common=(-O2 -fPIC -fno-strict-aliasing -ffp-contract=off -fno-fast-math -Wall -Wextra -Werror -std=c11 -I"$src")
flags_generic=(-march=x86-64 -mtune=generic)
flags_avx2=(-mavx2 -mfma -mf16c -mbmi2)
flags_avx512=(-mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni)

rm -rf "$obj"
mkdir -p "$obj" "$out"
objects=()

compile() {  # $1 = source, $2 = tier
  local o="$obj/$(basename "$1" .c).$2.o" flags
  case "$2" in
    generic) flags=("${flags_generic[@]}") ;;
    avx2) flags=("${flags_avx2[@]}") ;;
    avx512) flags=("${flags_avx512[@]}") ;;
  esac
  "$CC" "${common[@]}" "${flags[@]}" -DLB_TIER="$2" -c "$1" -o "$o"
  objects+=("$o")
}

for f in "$src"/*.c; do
  base=$(basename "$f" .c)
  case "$base" in
    *_generic)
      family=${base%_generic}
      compile "$f" generic
      [ -f "$src/${family}_avx2.c" ] || compile "$f" avx2
      [ -f "$src/${family}_avx512.c" ] || compile "$f" avx512
      ;;
    *_avx2) compile "$f" avx2 ;;
    *_avx512) compile "$f" avx512 ;;
    *) compile "$f" generic ;;
  esac
done

"$CC" -shared -Wl,-z,defs -Wl,-z,noexecstack -o "$lib.tmp" "${objects[@]}" -lm
mv "$lib.tmp" "$lib"
echo "lowbit native: built $lib from ${#objects[@]} objects"
