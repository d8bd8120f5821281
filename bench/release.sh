#!/usr/bin/env bash
# The whole release at scale: the real Case Maker (imported from ../shared/source/case-maker.md, about
# 19,000 words of stories) with a synthesised narration for every part (about 2 hours of audio), in a
# scratch copy of the project. Prints the wall time, CPU time, CPU busy (CPU time over wall time, out of
# 100% per core) and peak memory of `make -j2 release` from clean, the no-op rebuild, and the bare floor
# (one decode and one MP3 encode of the same audio, two at a time). Every pipeline command of the release
# is traced (bench/ruletrace.sh: start, end, CPU); WORK/trace.txt shows the rules over time, the cores
# kept busy and the CPU per stage (bench/ruletrace.py).
# Goals (issue 13): the full release within 90 s with the CPU busy at least 180% of 200% on 2 cores,
# peak memory under 1 GB; the no-op rebuild within 2 s.
#   [FLOOR=0] bench/release.sh [WORKDIR]   (the narrations are kept in WORKDIR and reused on later runs;
#                                          FLOOR=0 skips the floor)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/bench-release}
PY="$ROOT/.venv/bin/python"
# The source sits beside the repository (../shared); from a git worktree, beside the main checkout.
SOURCE=${CASE_MAKER_SOURCE:-$ROOT/../shared/source/case-maker.md}
if [ ! -f "$SOURCE" ] && COMMON=$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
  SOURCE="$(dirname "$COMMON")/../shared/source/case-maker.md"
fi
[ -f "$SOURCE" ] || { echo "the Case Maker source is not at $SOURCE" >&2; exit 1; }
[ -x "$PY" ] || make -C "$ROOT" venv

mkdir -p "$WORK/proj"
cd "$WORK/proj"
for f in Makefile pyproject.toml constraints.txt package.json package-lock.json; do cp -p "$ROOT/$f" .; done
for d in pipeline scripts .venv node_modules; do ln -sfn "$ROOT/$d" "$d"; done

if [ ! -d texts ]; then
  "$PY" -m pipeline import "$SOURCE" -o texts
fi
cp -p "$ROOT/texts/book.toml" texts/    # the book's settings as the repository has them now
if [ ! -d recordings ]; then
  echo "synthesising the narrations (flite; once, kept in $WORK/proj/recordings)..."
  "$PY" scripts/make_demo_recordings.py --texts texts --out recordings --truth "$WORK/truth"
fi
"$PY" - <<'PY'
import subprocess, glob
total = 0.0
for f in sorted(glob.glob("recordings/*")):
    r = subprocess.run(["ffmpeg", "-hide_banner", "-i", f], capture_output=True, text=True)
    d = [l for l in r.stderr.splitlines() if "Duration:" in l][0].split("Duration:")[1].split(",")[0].strip()
    h, m, s = d.split(":"); total += int(h) * 3600 + int(m) * 60 + float(s)
words = sum(len(open(f, encoding="utf-8").read().split()) for f in glob.glob("texts/*.md"))
print(f"book: {len(glob.glob('texts/*.md'))} parts, {words} words; narration {total / 60:.1f} min in "
      f"{len(glob.glob('recordings/*'))} recordings")
PY

if [ "${FLOOR:-1}" != 0 ]; then     # FLOOR=0 skips the floor
  rm -rf "$WORK/floor" && mkdir -p "$WORK/floor"
  "$PY" "$ROOT/bench/peakmem.py" "floor (1 decode + 1 MP3 encode per recording, 2 at a time)" -- \
    bash -c "ls recordings/* | xargs -P2 -I{} sh -c 'ffmpeg -nostdin -v error -y -i \"\$1\" -c:a libmp3lame -b:a 96k \"$WORK/floor/\$(basename \"\$1\").mp3\"' _ {}"
fi

make clean >/dev/null
rm -f "$WORK/trace.tsv"
export RULETRACE="$WORK/trace.tsv"
"$PY" "$ROOT/bench/peakmem.py" "make -j2 release from clean" -- \
  make -j2 release PIPELINE="$ROOT/bench/ruletrace.sh .venv/bin/python -m pipeline" >"$WORK/release.log" 2>&1 \
  || { tail -20 "$WORK/release.log"; exit 1; }
grep -E "^(make -j2|  ok|  FAIL)" "$WORK/release.log" || true
"$PY" "$ROOT/bench/ruletrace.py" "$WORK/trace.tsv" >"$WORK/trace.txt"
grep -E "^(wall|idle|busy cores)" "$WORK/trace.txt" | sed 's/^/  rules: /'
"$PY" "$ROOT/bench/peakmem.py" "no-op make release" -- make release
