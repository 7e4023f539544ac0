#!/bin/sh
# Format the C lines changed since BASE (default HEAD: the uncommitted change)
# with the repository's .clang-format (STYLE.md section 9), leaving lines the
# change does not touch as they are:
#
#   tools/format.sh [BASE]          rewrite those lines in place
#   tools/format.sh --check [BASE]  only show what would change; exit 1 if anything
set -eu
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
base=${1:-HEAD}
for tool in clang-format git-clang-format; do
    if ! command -v "$tool" >/dev/null; then
        echo "$0: $tool is missing (apt-get install clang-format)" >&2
        exit 2
    fi
done
if [ "$check" = 1 ]; then
    out=$(git clang-format --diff --extensions c,h "$base" -- . || true)
    case "$out" in
    "" | *"no modified files to format"* | *"did not modify any files"*) exit 0 ;;
    esac
    printf '%s\n' "$out"
    exit 1
fi
git clang-format --extensions c,h "$base" -- .
