/*
 * Command-line values the programs read the same way: numbers of seconds
 * and counts.
 */
#ifndef FK_OPT_H
#define FK_OPT_H

#include <stdint.h>

/* A number of seconds ("2", "0.5", at most 4,000,000) into milliseconds.
 * Returns 0, or -1 when s is not such a number. */
int opt_seconds(const char *s, unsigned *ms);

/* A decimal count from min to max, no sign, nothing after it. Returns 0,
 * or -1 when s is not such a number. */
int opt_number(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
