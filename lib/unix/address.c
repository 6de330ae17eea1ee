/*
 * Address strings and the FCGI_WEB_SERVER_ADDRS list.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "fcgikit/error.h"
#include "unix/unix.h"

static int copy_str(char *dst, size_t cap, const char *src, size_t len) {
  if (len >= cap)
    return FK_E_ADDRESS;
  memcpy(dst, src, len);
  dst[len] = '\0';
  return FK_OK;
}

int fk__addr_split(const char *spec, char *host, size_t hostcap, char *port,
                   size_t portcap, const char **path) {
  if (spec == NULL || *spec == '\0')
    return FK_E_ADDRESS;
  if (strncmp(spec, "unix:", 5) == 0) {
    *path = spec + 5;
    return **path ? FK__ADDR_UNIX : FK_E_ADDRESS;
  }
  if (spec[0] == '@') {
    *path = spec + 1;
    return **path ? FK__ADDR_ABSTRACT : FK_E_ADDRESS;
  }
  if (strchr(spec, '/') != NULL) {
    *path = spec;
    return FK__ADDR_UNIX;
  }
  const char *colon;
  const char *h = spec;
  size_t hlen;
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (close == NULL || close[1] != ':')
      return FK_E_ADDRESS;
    h = spec + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(spec, ':');
    if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)) != NULL)
      return FK_E_ADDRESS; /* no port, or a bare IPv6 literal */
    hlen = (size_t)(colon - spec);
  }
  const char *p = colon + 1;
  if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 ||
      atoi(p) > 65535)
    return FK_E_ADDRESS;
  if (hlen == 1 && h[0] == '*')
    hlen = 0;
  if (copy_str(host, hostcap, h, hlen) != FK_OK ||
      copy_str(port, portcap, p, strlen(p)) != FK_OK)
    return FK_E_ADDRESS;
  return FK__ADDR_TCP;
}

int fk__addr_unix(fk__sockaddr *out, const char *path, int abstract) {
  struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
  size_t len = strlen(path);
  memset(out, 0, sizeof *out);
  sun->sun_family = AF_UNIX;
  if (abstract) {
    /* Abstract names start with a NUL byte and are not NUL-terminated. */
    if (len + 1 > sizeof sun->sun_path)
      return FK_E_ADDRESS;
    memcpy(sun->sun_path + 1, path, len);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
  } else {
    if (len + 1 > sizeof sun->sun_path)
      return FK_E_ADDRESS;
    memcpy(sun->sun_path, path, len + 1);
    out->len = (socklen_t)sizeof *sun;
  }
  return FK_OK;
}

int fk__addr_list_parse(fk__addr_list *list, const char *value) {
  list->ips = NULL;
  list->count = 0;
  size_t n = 1;
  for (const char *c = value; *c; c++)
    n += (*c == ',');
  list->ips = calloc(n, sizeof *list->ips);
  if (list->ips == NULL)
    return FK_E_NOMEM;
  const char *c = value;
  while (*c) {
    while (isspace((unsigned char)*c))
      c++;
    size_t len = strcspn(c, ",");
    size_t end = len;
    while (end > 0 && isspace((unsigned char)c[end - 1]))
      end--;
    char buf[INET6_ADDRSTRLEN];
    if (end > 0) {
      struct fk__ip *ip = &list->ips[list->count];
      if (end >= sizeof buf)
        goto bad;
      memcpy(buf, c, end);
      buf[end] = '\0';
      if (inet_pton(AF_INET, buf, ip->bytes) == 1)
        ip->family = AF_INET;
      else if (inet_pton(AF_INET6, buf, ip->bytes) == 1)
        ip->family = AF_INET6;
      else
        goto bad;
      list->count++;
    }
    c += len;
    if (*c == ',')
      c++;
  }
  return FK_OK;
bad:
  fk__addr_list_free(list);
  return FK_E_WEB_SERVER_ADDRS;
}

void fk__addr_list_free(fk__addr_list *list) {
  free(list->ips);
  list->ips = NULL;
  list->count = 0;
}

static int list_has(const fk__addr_list *list, int family, const void *addr) {
  size_t len = family == AF_INET ? 4 : 16;
  for (size_t i = 0; i < list->count; i++)
    if (list->ips[i].family == family &&
        memcmp(list->ips[i].bytes, addr, len) == 0)
      return 1;
  return 0;
}

int fk__addr_list_allows(const fk__addr_list *list, const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return list_has(list, AF_INET, &in->sin_addr);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
        list_has(list, AF_INET, in6->sin6_addr.s6_addr + 12))
      return 1;
    return list_has(list, AF_INET6, &in6->sin6_addr);
  }
  return 0; /* spec 3.2: not TCP/IP, so not a listed web server */
}
