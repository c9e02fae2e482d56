#!/bin/sh
# Installs a self-contained lra: `bazel run //:install -- PREFIX` puts the binary at
# PREFIX/bin/lra and the commit it was built from at PREFIX/share/lra/source_commit. The tier,
# model and suite configs are compiled into it (harness/paths.h), so it runs from any directory
# on a machine without the source tree; it still needs the Debian shared libraries it was
# linked against (README.md "Installing lra" lists them).
#
# Usage (the first argument is filled in by the //:install target):
#   install.sh <path of the built lra> PREFIX
# A relative PREFIX is taken from the directory `bazel run` was started in.
set -eu

if [ "$#" -ne 2 ]; then
  echo "usage: bazel run //:install -- PREFIX   (installs PREFIX/bin/lra)" >&2
  exit 2
fi
binary="$1"
prefix="$2"
case "$prefix" in
  /*) ;;
  *) prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix" ;;
esac
if [ ! -x "$binary" ]; then
  echo "install: no lra binary at $binary; build it with bazel run //:install -- PREFIX" >&2
  exit 1
fi

mkdir -p "$prefix/bin"
# Copy next to the target, then rename: running jobs keep the old file (overwriting a binary in
# use fails with "Text file busy"), and no job ever starts a half-written one.
tmp="$prefix/bin/.lra.install.$$"
trap 'rm -f "$tmp"' EXIT
cp "$binary" "$tmp"
chmod 755 "$tmp"
mv -f "$tmp" "$prefix/bin/lra"
trap - EXIT
# The commit the binary was built from, for the results it writes outside a source tree
# (harness/system_info.h SourceCommit). `bazel run` sets BUILD_WORKSPACE_DIRECTORY.
commit="unknown"
if [ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ] && command -v git >/dev/null 2>&1; then
  commit="$(git -C "$BUILD_WORKSPACE_DIRECTORY" describe --always --dirty 2>/dev/null || echo unknown)"
fi
mkdir -p "$prefix/share/lra"
ctmp="$prefix/share/lra/.source_commit.$$"
trap 'rm -f "$ctmp"' EXIT
echo "$commit" >"$ctmp"
mv -f "$ctmp" "$prefix/share/lra/source_commit"
trap - EXIT
echo "installed $prefix/bin/lra (source $commit)"

if command -v ldd >/dev/null 2>&1; then
  missing="$(ldd "$prefix/bin/lra" 2>/dev/null | grep 'not found' || true)"
  if [ -n "$missing" ]; then
    echo "warning: shared libraries missing on this machine (install the Debian packages that" \
      "tools/setup.sh installs):" >&2
    echo "$missing" >&2
  fi
fi
