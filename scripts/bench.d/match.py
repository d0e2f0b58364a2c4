"""match: every /regex/ match value of a rules file against one value of 1 KiB, 40 KiB and
1 MiB, timing the matching alone (no HTTP, no database).

An alert's name or label value is untrusted and may be as large as the body (1 MiB): with RE2
the whole file's regexes must take milliseconds on it, and the same on a second run. Without
--rules it uses scripts/bench.d/match_rules.yaml: the regexes operators write, plus the ones
that crashed or hung a backtracking matcher. Three values per size: 'a' repeated (no match for
most, so each regex reads all of it), random printable text, and a value that ends in a match.
"cold" is the first pass after loading (RE2 builds its automaton then), "warm" the median of
the next passes. The driver (scripts/bench.d/bench_match.cpp) links build/release's
libtocsin_rules.a and libtocsin_core.a and is compiled into build/bench-match/.
"""
import os
import subprocess

import benchlib as b


def run(ctx):
    release = os.path.join(b.ROOT, "build", "release")
    libs = [os.path.join(release, "libtocsin_rules.a"), os.path.join(release, "libtocsin_core.a")]
    if not all(os.path.exists(lib) for lib in libs):
        raise b.Failure("match needs build/release's libraries: scripts/build release")
    out = os.path.join(b.ROOT, "build", "bench-match")
    os.makedirs(out, exist_ok=True)
    driver = os.path.join(out, "bench_match")
    re2 = subprocess.run(["pkg-config", "--libs", "re2"], capture_output=True, text=True,
                         check=True).stdout.split()
    # Only the loader's objects are pulled from the archives: yaml-cpp, RE2 and OpenSSL's SHA-256.
    compiled = subprocess.run(["g++", "-std=c++20", "-O2", f"-I{b.ROOT}",
                               os.path.join(b.HERE, "bench_match.cpp"), *libs, "-o", driver,
                               "-lyaml-cpp", *re2, "-lcrypto"], capture_output=True, text=True)
    if compiled.returncode != 0:
        raise b.Failure("compiling bench_match.cpp failed:\n" + compiled.stderr[-3000:])
    rules = os.path.abspath(ctx.args.rules) if ctx.args.rules else os.path.join(b.HERE, "match_rules.yaml")
    proc = subprocess.run([driver, rules, "5" if ctx.quick else "20"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise b.Failure(f"bench_match failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    b.log(proc.stdout)
    return {"text": proc.stdout}
