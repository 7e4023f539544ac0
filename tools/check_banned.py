#!/usr/bin/env python3
"""The C library calls that STYLE.md bans (after curl): sprintf, strcpy, strcat,
gets, atoi, atol, alloca, strtok; use snprintf, length-checked memcpy and
checked strtol instead.

  tools/check_banned.py ROOT     list every call to one of them in the C files
                                 git tracks below ROOT (all of them outside a
                                 git checkout); exit 1 if there is any
  tools/check_banned.py --self-test

Comments and string literals are skipped, so prose may name them; a call
through a member (s.gets(...), p->atoi(...)) is not theirs and passes.
"""
import os
import re
import subprocess
import sys
import tempfile

BANNED = ("sprintf", "strcpy", "strcat", "gets", "atoi", "atol", "alloca", "strtok")
CALL = re.compile(r"(?<![\w.>])(" + "|".join(BANNED) + r")\s*\(")
SKIP = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def code_only(text):
    """text with comments and literals blanked, newlines kept (line numbers hold)."""
    return SKIP.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def calls(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = code_only(f.read())
    for m in CALL.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1)


def c_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "*.c", "*.h"],
                             capture_output=True, check=True).stdout
        return [os.path.join(root, p) for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        return [os.path.join(d, n) for d, _, names in os.walk(root)
                for n in names if n.endswith((".c", ".h"))]


def check(root):
    found = 0
    for path in sorted(c_files(root)):
        for line, name in calls(path):
            print(f"{os.path.relpath(path, root)}:{line}: {name}() is banned (STYLE.md)")
            found += 1
    return found


def self_test():
    cases = {
        "bad.c": ("int f(char *d, const char *s)\n{\n    strcpy(d, s);\n"
                  "    return atoi (s) + (int)atol(s);\n}\n", [(3, "strcpy"), (4, "atoi"),
                                                               (4, "atol")]),
        "good.c": ("/* sprintf( and gets( in a comment */\n// strcat(a, b)\n"
                   "static const char *t = \"strtok(x)\";\nint g(char *b)\n{\n"
                   "    return snprintf(b, 4, \"%c\", 'a') + my_atoi(b) + s.gets(b);\n}\n", []),
    }
    ok = True
    with tempfile.TemporaryDirectory() as d:
        for name, (text, want) in cases.items():
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            got = list(calls(path))
            if got != want:
                print(f"self-test {name}: found {got}, expected {want}")
                ok = False
        if check(d) != 3:
            print("self-test: check() did not count the three calls of bad.c")
            ok = False
    print("self-test passed" if ok else "self-test FAILED")
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    found = check(sys.argv[1])
    if found:
        print(f"{found} banned call(s)")
        return 1
    print("no banned calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
