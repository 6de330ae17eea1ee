/*
 * A minimal test harness: each test file is one program; CHECK() reports the
 * failing expression with its location and makes the program exit non-zero.
 * Exit status 77 tells ctest a test was skipped.
 */
#ifndef FK_TEST_H
#define FK_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fk_test_failures;

#define CHECK(expr)                                                        \
  do {                                                                     \
    if (!(expr)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,     \
              #expr);                                                      \
      fk_test_failures++;                                                  \
    }                                                                      \
  } while (0)

#define CHECK_EQ(a, b)                                                     \
  do {                                                                     \
    long long fk_a_ = (long long)(a), fk_b_ = (long long)(b);              \
    if (fk_a_ != fk_b_) {                                                  \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", \
              __FILE__, __LINE__, #a, #b, fk_a_, fk_b_);                   \
      fk_test_failures++;                                                  \
    }                                                                      \
  } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define RUN(fn)                                                            \
  do {                                                                     \
    int fk_before_ = fk_test_failures;                                     \
    fn();                                                                  \
    fprintf(stderr, "%s %s\n", fk_test_failures == fk_before_ ? "ok  " : "FAIL", #fn); \
  } while (0)

#define TEST_EXIT() return fk_test_failures ? 1 : 0

#endif
