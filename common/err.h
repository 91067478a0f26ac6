/*
 * err.h - the one error vocabulary of vouch.
 *
 * Library code returns 0 on success or a negative VOUCH_E_* code, and
 * fills a caller-supplied struct vouch_err with a human reason (file,
 * line, field, byte offset: whatever locates the fault).  Library code
 * never logs; daemons and CLIs decide what to print.
 *
 *	struct vouch_err e = VOUCH_ERR_INIT;
 *	if ((r = eventlog_parse(buf, len, &log, &e)) < 0)
 *		fprintf(stderr, "%s: %s\n", path, e.msg);
 *
 * A NULL struct vouch_err * is allowed everywhere: the reason is dropped.
 */
#ifndef VOUCH_ERR_H
#define VOUCH_ERR_H

#include <stddef.h>

#define VOUCH_OK		  0
#define VOUCH_E_INTERNAL	 -1	/* a bug: invariant broken */
#define VOUCH_E_NOMEM		 -2
#define VOUCH_E_INVAL		 -3	/* bad argument from the caller */
#define VOUCH_E_IO		 -4	/* open/read/write failed */
#define VOUCH_E_FORMAT		 -5	/* malformed input */
#define VOUCH_E_TRUNCATED	 -6	/* input ends early */
#define VOUCH_E_LIMIT		 -7	/* input exceeds a hard limit */
#define VOUCH_E_TPM		 -8	/* the TPM or the TSS refused */
#define VOUCH_E_CRYPTO		 -9	/* OpenSSL failed (not: bad signature) */
#define VOUCH_E_NOTFOUND	-10
#define VOUCH_E_CONFIG		-11	/* configuration/policy invalid */
#define VOUCH_E_UNSUPPORTED	-12	/* valid but not supported */
#define VOUCH_E_EXISTS		-13
#define VOUCH_E_STATE		-14	/* call made in the wrong state */
#define VOUCH_E_NOTPRESENT	-15	/* guest memory not backed/mapped */
#define VOUCH_E_MAX_		-15

#define VOUCH_ERR_MSG_MAX	512

struct vouch_err {
	int	code;
	char	msg[VOUCH_ERR_MSG_MAX];
};

#define VOUCH_ERR_INIT { 0, { 0 } }

/* Static description of a code; never NULL. */
const char *vouch_strerror(int code);

/*
 * Record code and a printf-style reason in *e (if e is non-NULL) and
 * return code, so callers can write `return vouch_err_set(e, ...)`.
 */
int vouch_err_set(struct vouch_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prefix the reason already in *e with "prefix: " (e.g. a file name).
 * Returns e->code (or VOUCH_E_INTERNAL if e is NULL).
 */
int vouch_err_prefix(struct vouch_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
