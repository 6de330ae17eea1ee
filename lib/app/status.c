/*
 * CGI response helpers: status line, headers, reason phrases.
 */
#include <stdio.h>
#include <string.h>

#include "app/internal.h"

const char *fk_status_reason(int code) {
  switch (code) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Unknown";
  }
}

int fk_status(fk_request *req, int code, const char *reason) {
  if (code < 100 || code > 999 ||
      (reason != NULL && reason[strcspn(reason, "\r\n")] != '\0'))
    return FK_E_INVAL;
  return fk_printf(req, "Status: %d %s\r\n", code,
                   reason ? reason : fk_status_reason(code));
}

int fk_add_header(fk_request *req, const char *name, const char *value) {
  /* A CR or LF would let a value start a header of its own. */
  if (name == NULL || value == NULL || *name == '\0' ||
      name[strcspn(name, "\r\n:")] != '\0' ||
      value[strcspn(value, "\r\n")] != '\0')
    return FK_E_INVAL;
  return fk_printf(req, "%s: %s\r\n", name, value);
}

int fk_end_headers(fk_request *req) { return fk_write(req, "\r\n", 2); }
