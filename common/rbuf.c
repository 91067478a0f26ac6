#include <string.h>

#include "rbuf.h"

int
rbuf_get_ptr(struct rbuf *b, const uint8_t **p, size_t n)
{
	if (n > rbuf_left(b))
		return -1;
	*p = b->p + b->off;
	b->off += n;
	return 0;
}

int
rbuf_skip(struct rbuf *b, size_t n)
{
	const uint8_t *p;

	return rbuf_get_ptr(b, &p, n);
}

int
rbuf_get_bytes(struct rbuf *b, void *out, size_t n)
{
	const uint8_t *p;

	if (rbuf_get_ptr(b, &p, n) < 0)
		return -1;
	if (n > 0)
		memcpy(out, p, n);
	return 0;
}

int
rbuf_get_u8(struct rbuf *b, uint8_t *v)
{
	return rbuf_get_bytes(b, v, 1);
}

#define GET_LE(name, type, n)					\
int								\
name(struct rbuf *b, type *v)					\
{								\
	const uint8_t *p;					\
	type x = 0;						\
	size_t i;						\
	if (rbuf_get_ptr(b, &p, n) < 0)				\
		return -1;					\
	for (i = n; i > 0; i--)					\
		x = (type)(x << 8 | p[i - 1]);			\
	*v = x;							\
	return 0;						\
}
#define GET_BE(name, type, n)					\
int								\
name(struct rbuf *b, type *v)					\
{								\
	const uint8_t *p;					\
	type x = 0;						\
	size_t i;						\
	if (rbuf_get_ptr(b, &p, n) < 0)				\
		return -1;					\
	for (i = 0; i < n; i++)					\
		x = (type)(x << 8 | p[i]);			\
	*v = x;							\
	return 0;						\
}
GET_LE(rbuf_get_u16le, uint16_t, 2)
GET_LE(rbuf_get_u32le, uint32_t, 4)
GET_LE(rbuf_get_u64le, uint64_t, 8)
GET_BE(rbuf_get_u16be, uint16_t, 2)
GET_BE(rbuf_get_u32be, uint32_t, 4)
GET_BE(rbuf_get_u64be, uint64_t, 8)
