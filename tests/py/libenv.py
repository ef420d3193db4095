"""Imported first by the tests that load libwalloc.so into Python (test_python.py, test_dask.py),
before numpy: points WALLOC_LIBRARY at the build under test, and sets up what that build needs.
A clang build's libwalloc.so runs clang's libomp beside the libgomp of the shared OpenMP
OpenBLAS, whose threads then split GEMMs inside the library's parallel regions: its floats
depend on the thread count (README, "The library"). Compared with the program, it runs on one,
set before numpy, whose OpenBLAS may start libgomp first. An AddressSanitizer build needs its
runtime loaded first: the test runs again with it preloaded (children inherit it)."""
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("WALLOC_LIBRARY", os.path.join(os.path.dirname(os.environ.get("WALLOC", os.path.join(TOP, "walloc"))),
                                                     "libwalloc.so"))
DEPS = subprocess.run(["ldd", os.environ["WALLOC_LIBRARY"]], capture_output=True, text=True).stdout
if "libomp" in DEPS:
    os.environ["OMP_NUM_THREADS"] = "1"
ASAN = [line.split("=>")[1].split()[0] for line in DEPS.splitlines() if "libasan" in line and "=>" in line]
if ASAN and "LD_PRELOAD" not in os.environ:
    os.execve(sys.executable, [sys.executable] + sys.argv,
              dict(os.environ, LD_PRELOAD=ASAN[0], ASAN_OPTIONS="detect_leaks=0"))  # Python itself leaks
