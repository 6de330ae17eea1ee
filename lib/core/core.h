/*
 * Internal declarations shared by the files of the protocol core.
 * Nothing here is part of the public API; names are fk__.
 */
#ifndef FK_CORE_CORE_H
#define FK_CORE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "fcgikit/protocol.h"

/* Name-value length prefixes (spec 3.4): a first byte with bit 7 clear is
 * the whole length (0..127); with bit 7 set the length takes 4 bytes,
 * big-endian, bit 31 masked off. */
#define FK__NV_WIDTH(first) (((first)&0x80u) ? 4u : 1u)

/* Reads one length prefix of FK__NV_WIDTH(b[0]) bytes. */
uint32_t fk__nv_read_length(const uint8_t *b);

#endif
