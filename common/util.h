/*
 * util.h - small utilities: hex and base64 codecs, whole-file I/O with a
 * hard size limit, atomic replacement of files, constant-time compare.
 */
#ifndef VOUCH_UTIL_H
#define VOUCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Value of one hex digit (either case), or -1. */
int hex_digit(char c);

/* Lower-case hex of len bytes into out, which must hold 2*len+1 bytes. */
void hex_encode(const uint8_t *in, size_t len, char *out);
/*
 * Decode an even-length hex string (either case, no prefix, no spaces)
 * into out (capacity cap).  *outlen gets the byte count.  Errors:
 * VOUCH_E_FORMAT for a bad digit or odd length, VOUCH_E_LIMIT if longer
 * than cap.  Nothing is written to *outlen on error.
 */
int hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen,
    struct vouch_err *e);

/* Length of the standard base64 (with padding) of len bytes, plus NUL. */
size_t b64_encoded_size(size_t len);
/* Encode into out (b64_encoded_size(len) bytes). */
void b64_encode(const uint8_t *in, size_t len, char *out);
/*
 * Decode standard base64 (padding required, no whitespace).  *out is
 * malloc'd (caller frees); max bounds the decoded size.
 */
int b64_decode(const char *in, size_t inlen, size_t max, uint8_t **out,
    size_t *outlen, struct vouch_err *e);

/*
 * Read a whole file (regular file or pipe) into a malloc'd buffer with a
 * NUL appended (not counted in *len).  Files larger than max fail with
 * VOUCH_E_LIMIT.  "-" reads standard input.
 */
int file_read(const char *path, size_t max, uint8_t **buf, size_t *len,
    struct vouch_err *e);
/*
 * Replace path atomically: write path.tmp.PID, fsync, rename, fsync the
 * directory.  mode applies to a newly created file.
 */
int file_write_atomic(const char *path, const void *buf, size_t len,
    unsigned mode, struct vouch_err *e);
/* Append and fsync (for logs that must survive a crash). */
int file_append_sync(const char *path, const void *buf, size_t len,
    struct vouch_err *e);
/* mkdir -p with mode for each created component. */
int dir_create(const char *path, unsigned mode, struct vouch_err *e);

/* Clocks: CLOCK_MONOTONIC in ms and ns, CLOCK_REALTIME in ms. */
int64_t mono_ms(void);
uint64_t mono_ns(void);
int64_t wall_ms(void);
/* Sleep ms milliseconds, resuming after signal interruptions. */
void sleep_ms(int64_t ms);

/* Constant-time equality of two equal-length buffers: 1 if equal. */
int ct_equal(const void *a, const void *b, size_t len);

/* Wipe and free (NULL is a no-op). */
void free_secret(void *p, size_t len);

#endif
