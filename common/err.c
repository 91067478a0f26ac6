#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static const char *const err_names[] = {
	[0] = "success",
	[1] = "internal error",
	[2] = "out of memory",
	[3] = "invalid argument",
	[4] = "input/output error",
	[5] = "malformed input",
	[6] = "truncated input",
	[7] = "limit exceeded",
	[8] = "TPM error",
	[9] = "cryptographic library error",
	[10] = "not found",
	[11] = "invalid configuration",
	[12] = "unsupported",
	[13] = "already exists",
	[14] = "invalid state",
	[15] = "not present in guest memory",
};

const char *
vouch_strerror(int code)
{
	if (code > 0 || code < VOUCH_E_MAX_)
		return "unknown error";
	return err_names[-code];
}

int
vouch_err_set(struct vouch_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
vouch_err_prefix(struct vouch_err *e, const char *fmt, ...)
{
	char pre[VOUCH_ERR_MSG_MAX], old[VOUCH_ERR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return VOUCH_E_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", pre, old);
	return e->code;
}
