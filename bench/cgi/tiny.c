/*
 * The smallest useful CGI program: one response, no input. What a CGI
 * bridge costs shows best behind a program that costs nothing itself.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  const char *q = getenv("QUERY_STRING");
  printf("Content-Type: text/plain\r\n\r\nHello, %s!\n", q && *q ? q : "world");
  return 0;
}
