/*
 * Error codes: messages and names generated from FK_ERRNO_MAP, so the enum,
 * the strings and the fatal range cannot drift apart.
 */
#include "fcgikit/error.h"

const char *fk_strerror(int code) {
  switch (code) {
#define FK__ERR_MSG(name, value, msg)                                          \
  case value: return msg;
    FK_ERRNO_MAP(FK__ERR_MSG)
#undef FK__ERR_MSG
  }
  return "unknown error";
}

const char *fk_errname(int code) {
  switch (code) {
#define FK__ERR_NAME(name, value, msg)                                         \
  case value: return #name;
    FK_ERRNO_MAP(FK__ERR_NAME)
#undef FK__ERR_NAME
  }
  return "FK_E_UNKNOWN";
}

/* Protocol violations (FK_E_VERSION .. FK_E_TRUNCATED_PAIR) mean the byte
 * stream can no longer be trusted; resource limits only end one request. */
int fk_error_is_fatal(int code) {
  return code <= FK_E_VERSION && code >= FK_E_TRUNCATED_PAIR;
}
