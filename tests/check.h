/* Minimal unit-test harness shared by tests/test_*.c.
 * Each test prints "testing NAME ... ok|FAILED"; t_summary() prints "RESULT passed failed",
 * which tests/run.sh sums into the closing "N passed, M failed" line of `make check`. */
#ifndef WL_TESTS_CHECK_H
#define WL_TESTS_CHECK_H
#include <stdio.h>

static int t_passed, t_failed, t_cur_failed;
static const char *t_cur = "";

static inline void t_begin(const char *name) { t_cur = name; t_cur_failed = 0; }

/* Records a failure (with a printf-style reason) without stopping the test. */
#define T_EXPECT(cond, ...)                                             \
  do {                                                                  \
    if (!(cond)) {                                                      \
      t_cur_failed++;                                                   \
      printf("  %s:%d: %s: ", __FILE__, __LINE__, t_cur);               \
      printf(__VA_ARGS__);                                              \
      printf("\n");                                                     \
    }                                                                   \
  } while (0)

static inline void t_end(void) {
  printf("testing %s ... %s\n", t_cur, t_cur_failed ? "FAILED" : "ok");
  if (t_cur_failed) t_failed++; else t_passed++;
  fflush(stdout);
}

static inline int t_summary(void) {
  printf("RESULT %d %d\n", t_passed, t_failed);
  return t_failed != 0;
}
#endif
