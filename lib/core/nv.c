/*
 * Name-value pairs (spec 3.4): nameLength, valueLength, nameData, valueData,
 * each length 1 byte (0..127) or 4 bytes with bit 7 of the first set.
 */
#include <limits.h>
#include <string.h>

#include "core.h"

uint32_t fk__nv_read_length(const uint8_t *b) {
  if (!(b[0] & 0x80u))
    return b[0];
  return (uint32_t)(b[0] & 0x7fu) << 24 | (uint32_t)b[1] << 16 |
         (uint32_t)b[2] << 8 | b[3];
}

/* Lengths over 127 "are always encoded in four bytes" (3.4); shorter ones
 * use one byte, as every known sender does. */
static size_t write_length(uint8_t *out, size_t len) {
  if (len <= 127) {
    out[0] = (uint8_t)len;
    return 1;
  }
  out[0] = (uint8_t)(0x80u | (len >> 24));
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
  return 4;
}

static unsigned length_width(size_t len) { return len <= 127 ? 1u : 4u; }

size_t fk_nv_size(size_t name_len, size_t value_len) {
  uint64_t total;

  if (name_len > FK_MAX_PAIR_LENGTH || value_len > FK_MAX_PAIR_LENGTH)
    return 0;
  /* At most 8 + 2 * (2^31 - 1): exact in 64 bits, may not fit a 32-bit
   * size_t. */
  total = (uint64_t)length_width(name_len) + length_width(value_len) +
          name_len + value_len;
  return total > SIZE_MAX ? 0 : (size_t)total;
}

size_t fk_nv_encode(uint8_t *out, const void *name, size_t name_len,
                    const void *value, size_t value_len) {
  size_t size = fk_nv_size(name_len, value_len), pos;

  if (size == 0)
    return 0;
  pos = write_length(out, name_len);
  pos += write_length(out + pos, value_len);
  if (name_len)
    memcpy(out + pos, name, name_len);
  pos += name_len;
  if (value_len)
    memcpy(out + pos, value, value_len);
  return size;
}

long fk_nv_decode(const uint8_t *in, size_t len, fk_nv *pair) {
  size_t name_w, value_w;
  uint32_t name_len, value_len;
  uint64_t total;

  if (len < 1)
    return 0;
  name_w = FK__NV_WIDTH(in[0]);
  if (len < name_w + 1)
    return 0;
  value_w = FK__NV_WIDTH(in[name_w]);
  if (len < name_w + value_w)
    return 0;
  name_len = fk__nv_read_length(in);
  value_len = fk__nv_read_length(in + name_w);
  /* Each length is below 2^31, so the sum cannot wrap in 64 bits; it is
   * compared with the bytes really there before anything points past them.
   * (Past LONG_MAX only with a 32-bit long and over 2 GiB of input.) */
  total = (uint64_t)name_w + value_w + name_len + value_len;
  if (total > len || total > LONG_MAX)
    return 0;
  pair->name = in + name_w + value_w;
  pair->name_len = name_len;
  pair->value = pair->name + name_len;
  pair->value_len = value_len;
  return (long)total;
}
