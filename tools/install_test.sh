#!/usr/bin/env bash
# //:install_test: `bazel run //:install -- PREFIX` gives a lra that works from any directory on
# a machine without the source tree (configs embedded, harness/paths.h), and inside a source
# tree the tree's configs win over the embedded copies.
set -euo pipefail
repo="$TEST_SRCDIR/lra"
prefix="$TEST_TMPDIR/prefix"
elsewhere="$TEST_TMPDIR/elsewhere"
mkdir -p "$elsewhere"

fail() { echo "FAIL: $*" >&2; exit 1; }

# Install as `bazel run //:install -- PREFIX` does: from the runfiles root, the binary's path
# first (the target's args), then the prefix. A relative prefix is taken from
# BUILD_WORKING_DIRECTORY.
# BUILD_WORKSPACE_DIRECTORY names the checkout `bazel run` started in: a stand-in git repository
# here, whose commit the install records for the installed binary's results.
src="$TEST_TMPDIR/src"
want_commit="unknown"
if command -v git >/dev/null 2>&1; then
  git init -q "$src"
  git -C "$src" -c user.name=t -c user.email=t@t commit -q --allow-empty -m built
  want_commit="$(git -C "$src" describe --always --dirty)"
  # The directory the installed lra later runs in is another git repository: its commit must
  # not be taken for lra's (the old binary described the working directory's repository).
  git init -q "$elsewhere"
  git -C "$elsewhere" -c user.name=t -c user.email=t@t commit -q --allow-empty -m other
fi
(cd "$repo" && BUILD_WORKING_DIRECTORY="$TEST_TMPDIR" BUILD_WORKSPACE_DIRECTORY="$src" \
  ./install harness/lra prefix) || fail "install"
[[ "$(cat "$prefix/share/lra/source_commit")" == "$want_commit" ]] \
  || fail "source_commit holds '$(cat "$prefix/share/lra/source_commit")', not '$want_commit'"
lra="$prefix/bin/lra"
[[ -x "$lra" ]] || fail "no executable $lra"
cmp -s "$lra" "$repo/harness/lra" || fail "$lra differs from the built binary"
# Reinstalling over an existing copy works (the copy is renamed into place).
(cd "$repo" && BUILD_WORKSPACE_DIRECTORY="$src" ./install harness/lra "$prefix") >/dev/null \
  || fail "reinstall"
rc=0
(cd "$repo" && ./install harness/lra) 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "install without a prefix: exit $rc, expected 2"

# The installed lra, started in a directory with no source tree and none of Bazel's variables.
run() { (cd "$elsewhere" && env -u TEST_SRCDIR -u BUILD_WORKSPACE_DIRECTORY -u RUNFILES_DIR \
  -u BUILD_WORKING_DIRECTORY "$lra" "$@"); }

run --help >"$TEST_TMPDIR/help" 2>&1 || true
grep -q -- "--tier" "$TEST_TMPDIR/help" || fail "lra --help lists no --tier"
run tasks >"$TEST_TMPDIR/tasks" || fail "lra tasks"
grep -q "listops" "$TEST_TMPDIR/tasks" || fail "lra tasks lists no listops"
run models >"$TEST_TMPDIR/models" || fail "lra models"
grep -q "s4d" "$TEST_TMPDIR/models" || fail "lra models lists no s4d"

# A smoke run resolves its tier and model configs from the embedded copies (the old binary
# failed here: "unknown tier 'smoke': no harness/tiers/smoke.textproto").
run prepare --task=listops --generate --size=200 --threads=1 >/dev/null || fail "prepare"
run train --task=listops --model=bag --tier=smoke --threads=1 >"$TEST_TMPDIR/train" 2>&1 \
  || { cat "$TEST_TMPDIR/train"; fail "lra train --tier=smoke outside the source tree"; }
grep -q "COMPLETED after 20 steps" "$TEST_TMPDIR/train" \
  || { cat "$TEST_TMPDIR/train"; fail "the smoke run did not use bag's smoke config"; }
[[ -d "$elsewhere/results/runs/listops-bag-smoke-s1" ]] || fail "no run folder under ./results"
grep -qF "\"commit\": \"$want_commit\"" "$elsewhere/results/runs/listops-bag-smoke-s1/result.json" \
  || { grep commit "$elsewhere/results/runs/listops-bag-smoke-s1/result.json";
       fail "the run did not record the installed build's commit $want_commit"; }

# An unknown tier still lists the tiers, and says where the configs came from.
rc=0
run train --task=listops --model=bag --tier=huge 2>"$TEST_TMPDIR/err" >/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "unknown tier: exit $rc, expected 2"
grep -qF "unknown tier 'huge'" "$TEST_TMPDIR/err" || { cat "$TEST_TMPDIR/err"; fail "unclear"; }
grep -qF "Tiers: paper, small, smoke" "$TEST_TMPDIR/err" || { cat "$TEST_TMPDIR/err"; fail "tiers"; }
grep -qF "embedded in this binary" "$TEST_TMPDIR/err" || { cat "$TEST_TMPDIR/err"; fail "origin"; }

# A suite by name, from the embedded suites; an unknown one lists them.
run suite --suite=smoke --only=listops --threads=1 --data_dir="$TEST_TMPDIR/suite_data" \
  --runs_dir="$TEST_TMPDIR/suite_runs" --results_dir="$TEST_TMPDIR/suite_results" \
  >"$TEST_TMPDIR/suite" 2>&1 || { cat "$TEST_TMPDIR/suite"; fail "lra suite --suite=smoke"; }
[[ -s "$TEST_TMPDIR/suite_results/lra_table.md" ]] || fail "the suite wrote no table"
rc=0
run suite --suite=nosuch 2>"$TEST_TMPDIR/err" >/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "unknown suite: exit $rc, expected 2"
grep -qF "Suites: paper, quick, smoke" "$TEST_TMPDIR/err" || { cat "$TEST_TMPDIR/err"; fail "suites"; }

# A suite given as a path is read from that file, outside any source tree.
cat >"$TEST_TMPDIR/mine.textproto" <<'SUITE'
name: "mine"
run { task: "listops" model: "bag" tier: "nosuchtier" }
SUITE
rc=0
run suite --suite="$TEST_TMPDIR/mine.textproto" --threads=1 >"$TEST_TMPDIR/out" 2>&1 || rc=$?
grep -qF "unknown tier 'nosuchtier'" "$TEST_TMPDIR/out" \
  || { cat "$TEST_TMPDIR/out"; fail "--suite=<path> was not read from the file"; }

# Inside a source tree (a directory holding harness/tiers) the tree's files are the configs:
# an edited model config takes effect, and a tier removed from the tree is gone, although the
# binary embeds both.
tree="$TEST_TMPDIR/tree"
mkdir -p "$tree/harness" "$tree/models"
cp -rL "$repo/harness/tiers" "$repo/harness/suites" "$tree/harness/"
for m in bag s4 transformer; do
  mkdir -p "$tree/models/$m"
  cp -rL "$repo/models/$m/configs" "$tree/models/$m/"
done
chmod -R u+w "$tree"
sed -i 's/steps: 20/steps: 3/' "$tree/models/bag/configs/smoke.textproto"
rm "$tree/harness/tiers/paper.textproto"
(cd "$tree" && env -u TEST_SRCDIR -u BUILD_WORKSPACE_DIRECTORY "$lra" prepare --task=listops \
  --generate --size=200 --threads=1 >/dev/null) || fail "prepare in the tree"
(cd "$tree" && env -u TEST_SRCDIR -u BUILD_WORKSPACE_DIRECTORY "$lra" train --task=listops \
  --model=bag --tier=smoke --threads=1 >"$TEST_TMPDIR/train_tree" 2>&1) \
  || { cat "$TEST_TMPDIR/train_tree"; fail "train in the tree"; }
grep -q "COMPLETED after 3 steps" "$TEST_TMPDIR/train_tree" \
  || { cat "$TEST_TMPDIR/train_tree"; fail "the tree's edited config was not read"; }
rc=0
(cd "$tree" && env -u TEST_SRCDIR -u BUILD_WORKSPACE_DIRECTORY "$lra" train --task=listops \
  --model=bag --tier=paper >/dev/null 2>"$TEST_TMPDIR/err") || rc=$?
grep -qF "Tiers: small, smoke;" "$TEST_TMPDIR/err" \
  || { cat "$TEST_TMPDIR/err"; fail "the tree's tiers were not the ones listed"; }
grep -qF "the source tree $tree" "$TEST_TMPDIR/err" || { cat "$TEST_TMPDIR/err"; fail "origin"; }

echo "PASS"
