/*
 * rbuf.h - a bounded, overflow-safe reader over untrusted bytes.
 *
 * Every parser of outside bytes (event logs, TPM structures, wire frames)
 * reads through an rbuf: each get checks the remaining length first, so a
 * parser can never step past the end, whatever lengths the input claims.
 *
 *	p          off                     len
 *	|==========|-----------------------|
 *	 consumed   remaining = len - off
 *
 * Getters return 0, or -1 (leaving off unchanged) if fewer bytes remain
 * than asked for.  Integers come in little (le) and big (be) endian:
 * TCG event logs are little endian, TPM structures big endian.
 */
#ifndef VOUCH_RBUF_H
#define VOUCH_RBUF_H

#include <stddef.h>
#include <stdint.h>

struct rbuf {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
};

static inline void
rbuf_init(struct rbuf *b, const void *p, size_t len)
{
	b->p = p;
	b->len = len;
	b->off = 0;
}

static inline size_t
rbuf_left(const struct rbuf *b)
{
	return b->len - b->off;
}

int rbuf_get_u8(struct rbuf *b, uint8_t *v);
int rbuf_get_u16le(struct rbuf *b, uint16_t *v);
int rbuf_get_u32le(struct rbuf *b, uint32_t *v);
int rbuf_get_u64le(struct rbuf *b, uint64_t *v);
int rbuf_get_u16be(struct rbuf *b, uint16_t *v);
int rbuf_get_u32be(struct rbuf *b, uint32_t *v);
int rbuf_get_u64be(struct rbuf *b, uint64_t *v);
/* Copy n bytes out. */
int rbuf_get_bytes(struct rbuf *b, void *out, size_t n);
/* Point *p at the next n bytes (no copy) and skip them. */
int rbuf_get_ptr(struct rbuf *b, const uint8_t **p, size_t n);
int rbuf_skip(struct rbuf *b, size_t n);

#endif
