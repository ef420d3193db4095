#!/usr/bin/python3
"""make install and make uninstall, into temporary prefixes: every file in its place (DESTDIR
staging included), a C program built with `pkg-config --cflags --libs walloc` that codes an
image through the installed library, the installed program, the installed Python package
finding the installed library by itself, and uninstall leaving nothing behind. Run from make
check, the make it calls inherits the build's settings (B=, CC=) through MAKEFLAGS."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import TOP, finish, run, test  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-install-")
T = lambda *p: os.path.join(TMPDIR.name, *p)  # noqa: E731
PY = "python%d.%d" % sys.version_info[:2]
PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <walloc.h>
int main(void) {
  wl_model *m;
  wl_image img = {0}, out;
  uint8_t *enc;
  size_t len;
  if (wl_model_builtin(&m, "gray") || wl_image_alloc(&img, 1, 64, 64, 8, 0)) return 1;
  for (int i = 0; i < 64 * 64; i++) img.planes[i] = (float)((i % 64) * 4);
  wl_encode_opts o;
  if (wl_quality_opts(m, 75, &o) || wl_encode(m, &img, &o, &enc, &len) || wl_decode(m, enc, len, &out)) return 2;
  double se = 0;
  for (int i = 0; i < 64 * 64; i++) se += (out.planes[i] - img.planes[i]) * (out.planes[i] - img.planes[i]);
  printf("%s %zu %.1f\n", wl_version_string(), len, se / (64 * 64));
  free(enc);
  wl_image_release(&img);
  wl_image_release(&out);
  wl_model_free(m);
  return 0;
}
"""


def asan(lib):
    """The AddressSanitizer runtime a sanitizer build of lib needs loaded first, or None."""
    deps = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    return next((line.split("=>")[1].split()[0] for line in deps.splitlines() if "libasan" in line and "=>" in line),
                None)


def make(*args):
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", TOP, *args], capture_output=True, text=True)
    assert r.returncode == 0, "make %s: %s" % (" ".join(args), r.stderr[-2000:])


def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs) + \
        sorted(os.path.relpath(os.path.join(d, f), root) for d, fs, _ in os.walk(root) for f in fs
               if os.path.islink(os.path.join(d, f)))


def main():
    @test("install: DESTDIR staging puts every file under PREFIX there, and uninstall removes them all")
    def _():
        make("install", "DESTDIR=" + T("stage"), "PREFIX=/opt/walloc")
        got = set(files(T("stage")))
        want = {"opt/walloc/" + f for f in (
            "bin/walloc", "include/walloc.h", "include/walloc_train.h", "lib/libwalloc.a", "lib/libwalloc.so.0",
            "lib/libwalloc.so", "lib/pkgconfig/walloc.pc", "share/man/man1/walloc.1",
            "share/bash-completion/completions/walloc", "lib/%s/dist-packages/walloc/__init__.py" % PY,
            "lib/%s/dist-packages/walloc/dask.py" % PY, "lib/%s/dist-packages/walloc/_library.py" % PY)}
        assert want <= got, "missing: %s" % (want - got)
        assert os.readlink(T("stage", "opt/walloc/lib/libwalloc.so")) == "libwalloc.so.0"
        make("uninstall", "DESTDIR=" + T("stage"), "PREFIX=/opt/walloc")
        assert not [f for f in files(T("stage")) if not f.endswith("/")], files(T("stage"))

    @test("install: a C program built with pkg-config codes an image through the installed library")
    def _():
        make("install", "PREFIX=" + T("p"))
        env = dict(os.environ, PKG_CONFIG_PATH=T("p", "lib", "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "walloc"], env=env, capture_output=True,
                               text=True, check=True).stdout.split()
        open(T("prog.c"), "w").write(PROGRAM)
        san = ["-fsanitize=address,undefined"] if asan(T("p", "lib", "libwalloc.so.0")) else []  # make check SAN=...
        subprocess.run([os.environ.get("CC", "cc"), "-std=c11", *san, T("prog.c"), "-o", T("prog"), *flags], check=True)
        r = subprocess.run([T("prog")], env=dict(env, LD_LIBRARY_PATH=T("p", "lib"), ASAN_OPTIONS="detect_leaks=0"),
                           capture_output=True, text=True)
        assert r.returncode == 0 and len(r.stdout.split()) == 3, (r.returncode, r.stdout, r.stderr[-1500:])
        version, nbytes, mse = r.stdout.split()
        assert int(nbytes) > 0 and float(mse) < 20, r.stdout
        r = subprocess.run([T("p", "bin", "walloc"), "--version"], capture_output=True, text=True)
        assert r.returncode == 0 and version in r.stdout, (version, r.stdout)

    @test("install: the installed Python package loads the installed library with no environment set")
    def _():
        env = {k: v for k, v in os.environ.items() if k != "WALLOC_LIBRARY"}
        env["PYTHONPATH"] = T("p", "lib", PY, "dist-packages")
        runtime = asan(T("p", "lib", "libwalloc.so.0"))
        if runtime:  # a sanitizer build: its runtime first; Python itself leaks
            env.update(LD_PRELOAD=runtime, ASAN_OPTIONS="detect_leaks=0")
        r = subprocess.run(["/usr/bin/python3", "-c", "import walloc, ctypes; print(walloc.__file__); "
                            "print(walloc._lib._name); print(walloc.Model('rgb').K)"], env=env, cwd=T(),
                           capture_output=True, text=True)
        lines = r.stdout.split()
        assert r.returncode == 0 and lines[0].startswith(T("p")) and lines[1] == T("p", "lib", "libwalloc.so.0") \
            and lines[2] == "12", (r.stdout, r.stderr)
        make("uninstall", "PREFIX=" + T("p"))
        assert not files(T("p")), files(T("p"))

    @test("install: the bash completion offers the commands, the options and the files each command reads")
    def _():
        os.makedirs(T("c"))
        for f in ("a.png", "b.wlc", "c.txt"):
            open(T("c", f), "w").close()
        script = ("source %s; cd %s; complete_at() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _walloc; "
                  "echo \"${COMPREPLY[*]}\"; }; complete_at walloc s; complete_at walloc encode --sk; "
                  "complete_at walloc encode ''; complete_at walloc decode ''; complete_at walloc info --; "
                  "complete_at walloc decode --q" % (os.path.join(TOP, "cli", "completion", "walloc.bash"), T("c")))
        got = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.splitlines()
        assert got[:4] == ["show", "--skip-existing", "a.png", "b.wlc"], got
        # a command's own options only: info takes no -Q, decode no --quality
        assert sorted(got[4].split()) == ["--help", "--json", "--shard"] and got[5] == "", got
        # every coding option that --help names (the train options have their own list) is offered
        helptext = run("--help")[1].decode().split("Train options")[0]
        offered = set(re.findall(r"--[a-z][a-z-]*", open(os.path.join(TOP, "cli", "completion", "walloc.bash")).read()))
        missing = sorted({o.rstrip(",") for o in re.findall(r"(?<![\w-])--[a-z][a-z-]*,?", helptext)} - set(offered))
        assert not missing, "not completed: %s" % missing

    return finish()


if __name__ == "__main__":
    sys.exit(main())
