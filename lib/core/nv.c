/*
 * Name-value pairs (spec 3.4): nameLength, valueLength, nameData, valueData,
 * each length 1 byte (0..127) or 4 bytes with bit 7 of the first set.
 */
#include <limits.h>
#include <string.h>

#include "core.h"

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
  uint32_t name_len, value_len;
  unsigned w = fk__nv_frame(in, len, &name_len, &value_len);
  uint64_t total = (uint64_t)w + name_len + value_len;

  /* fk__nv_frame compared the sum with the bytes really there before
   * anything points past them. (Past LONG_MAX only with a 32-bit long and
   * over 2 GiB of input.) */
  if (w == 0 || total > LONG_MAX)
    return 0;
  pair->name = in + w;
  pair->name_len = name_len;
  pair->value = pair->name + name_len;
  pair->value_len = value_len;
  return (long)total;
}
