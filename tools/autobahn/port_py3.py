"""Port the pip-installed autobahntestsuite (Python 2 code) to Python 3 in place.

Usage: python port_py3.py SITE_PACKAGES_DIR

Run with the venv's own python (lib2to3 is still in CPython 3.11).  Steps:

  1. normalise CRLF line endings of autobahntestsuite/**/*.py to LF (the sdist
     ships CRLF files; LF keeps our patch file plain text);
  2. run lib2to3 (all default fixers) over autobahntestsuite/;
  3. apply py3port.patch (next to this script) with `patch -p1 --fuzz=0`: our
     hand-made fixes to autobahntestsuite and autobahn 0.10.9 for what 2to3
     cannot know (str vs bytes payloads, integer division, old-style classes...);
  4. byte-compile both packages so that any syntax error shows up now.

It must run on pristine installs of autobahntestsuite==25.10.1 and
autobahn==0.10.9 (install.sh force-reinstalls them first).  Any failure exits
non-zero.
"""

import compileall
import io
import os
import re
import shutil
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
PATCH = os.path.join(HERE, "py3port.patch")


def die(msg):
    sys.stderr.write("port_py3: %s\n" % msg)
    sys.exit(1)


def python_files(top):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(root, name)


def normalise_newlines(pkg):
    for path in python_files(pkg):
        with open(path, "rb") as f:
            data = f.read()
        if b"\r\n" in data:
            with open(path, "wb") as f:
                f.write(data.replace(b"\r\n", b"\n"))


def run_2to3(pkg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lib2to3.main import main as lib2to3_main
    # lib2to3 logs every refactored file; keep it quiet unless it fails
    out = io.StringIO()
    old_stdout, old_stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rc = lib2to3_main("lib2to3.fixes", ["-w", "-n", "--no-diffs", pkg])
    finally:
        sys.stdout, sys.stderr = old_stdout, old_stderr
    log = out.getvalue()
    if rc != 0 or "Can't parse" in log or "RefactoringTool: There was" in log:
        sys.stderr.write(log)
        die("lib2to3 failed (rc=%s)" % rc)


def apply_patch(site):
    if shutil.which("patch") is None:
        die("the 'patch' program is missing (apt-get install patch)")
    proc = subprocess.run(
        ["patch", "-p1", "--forward", "--batch", "--fuzz=0", "--no-backup-if-mismatch",
         "-r", "-", "-d", site, "-i", PATCH],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        die("py3port.patch did not apply cleanly (are the installed versions the pinned ones?)")


def main():
    if len(sys.argv) != 2:
        die("usage: port_py3.py SITE_PACKAGES_DIR")
    site = os.path.abspath(sys.argv[1])
    pkg = os.path.join(site, "autobahntestsuite")
    for d in (pkg, os.path.join(site, "autobahn")):
        if not os.path.isdir(d):
            die("%s not found" % d)
    for d in (pkg, os.path.join(site, "autobahn")):
        for root, dirs, _ in os.walk(d):
            if "__pycache__" in dirs:
                shutil.rmtree(os.path.join(root, "__pycache__"))
    normalise_newlines(pkg)
    run_2to3(pkg)
    apply_patch(site)
    # autobahn/asyncio uses `asyncio.async` (a syntax error since 3.7); the
    # testsuite only uses the Twisted flavour, so it is not checked
    skip = re.compile(r"[/\\]autobahn[/\\]asyncio[/\\]")
    ok = True
    for d in (pkg, os.path.join(site, "autobahn")):
        ok = compileall.compile_dir(d, quiet=1, rx=skip) and ok
    if not ok:
        die("byte-compiling the ported packages failed")


if __name__ == "__main__":
    main()
