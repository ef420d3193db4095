"""The Python side of tests/check.h: "testing NAME ... ok|FAILED" lines and a closing
"RESULT passed failed" line, which tests/run.sh sums into the make check total."""
import sys

passed = failed = 0


def report(name, ok, why=""):
    global passed, failed
    if not ok and why:
        print("  " + why)
    print("testing %s ... %s" % (name, "ok" if ok else "FAILED"))
    sys.stdout.flush()
    passed, failed = passed + bool(ok), failed + (not ok)


def test(name):
    """Decorator: runs the function at once; an AssertionError is a failure with its message."""
    def wrap(fn):
        try:
            fn()
            report(name, True)
        except AssertionError as e:
            report(name, False, str(e))
        return fn
    return wrap


def finish():
    """Prints the RESULT line; returns the exit status."""
    print("RESULT %d %d" % (passed, failed))
    return 1 if failed else 0
