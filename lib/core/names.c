/*
 * Printable names for the protocol's numbers, as the spec spells them
 * (section 8 and appendix A); for logs and traces.
 */
#include "fcgikit/protocol.h"

static const char *const type_names[FK_MAXTYPE + 1] = {
    NULL,
    "FCGI_BEGIN_REQUEST",
    "FCGI_ABORT_REQUEST",
    "FCGI_END_REQUEST",
    "FCGI_PARAMS",
    "FCGI_STDIN",
    "FCGI_STDOUT",
    "FCGI_STDERR",
    "FCGI_DATA",
    "FCGI_GET_VALUES",
    "FCGI_GET_VALUES_RESULT",
    "FCGI_UNKNOWN_TYPE",
};

/* The role names are the values of the FCGI_ROLE parameter. */
static const char *const role_names[] = {
    NULL,
    "RESPONDER",
    "AUTHORIZER",
    "FILTER",
};

static const char *const status_names[] = {
    "FCGI_REQUEST_COMPLETE",
    "FCGI_CANT_MPX_CONN",
    "FCGI_OVERLOADED",
    "FCGI_UNKNOWN_ROLE",
};

#define FK__COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *lookup(const char *const *table, size_t n, unsigned i) {
  return i < n && table[i] ? table[i] : "UNKNOWN";
}

const char *fk_type_name(unsigned type) {
  return lookup(type_names, FK__COUNT(type_names), type);
}

const char *fk_role_name(unsigned role) {
  return lookup(role_names, FK__COUNT(role_names), role);
}

const char *fk_protocol_status_name(unsigned status) {
  return lookup(status_names, FK__COUNT(status_names), status);
}
