#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util.h"

void
hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen,
    struct vouch_err *e)
{
	size_t n = strlen(in), i;

	if (n % 2 != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "hex string has odd length %zu", n);
	if (n / 2 > cap)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "hex string decodes to %zu bytes, at most %zu allowed",
		    n / 2, cap);
	for (i = 0; i < n; i += 2) {
		int hi = hex_digit(in[i]), lo = hex_digit(in[i + 1]);
		if (hi < 0 || lo < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "bad hex digit at offset %zu", hi < 0 ? i : i + 1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*outlen = n / 2;
	return 0;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encoded_size(size_t len)
{
	return (len + 2) / 3 * 4 + 1;
}

void
b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = b64chars[v >> 6 & 63];
		out[o++] = b64chars[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = b64chars[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
b64_decode(const char *in, size_t inlen, size_t max, uint8_t **out,
    size_t *outlen, struct vouch_err *e)
{
	size_t i, o = 0, pad = 0, n;
	uint8_t *buf;

	if (inlen % 4 != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "base64 length %zu is not a multiple of 4", inlen);
	if (inlen > 0 && in[inlen - 1] == '=')
		pad++;
	if (inlen > 1 && in[inlen - 2] == '=')
		pad++;
	n = inlen / 4 * 3 - pad;
	if (n > max)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "base64 decodes to %zu bytes, at most %zu allowed", n, max);
	if ((buf = malloc(n + 1)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < inlen; i += 4) {
		int v[4], k;
		size_t last = (i + 4 == inlen);
		for (k = 0; k < 4; k++) {
			char c = in[i + (size_t)k];
			if (c == '=' && last && (size_t)k >= 4 - pad) {
				v[k] = 0;
				continue;
			}
			if ((v[k] = b64val(c)) < 0) {
				free(buf);
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "bad base64 character at offset %zu",
				    i + (size_t)k);
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if (o < n) buf[o++] = (uint8_t)(w >> 16);
		if (o < n) buf[o++] = (uint8_t)(w >> 8);
		if (o < n) buf[o++] = (uint8_t)w;
	}
	buf[n] = 0;
	*out = buf;
	*outlen = n;
	return 0;
}

int
file_read(const char *path, size_t max, uint8_t **bufp, size_t *lenp,
    struct vouch_err *e)
{
	int fd, close_fd = 1;
	size_t len = 0, cap = 4096;
	uint8_t *buf, *nb;
	ssize_t r;

	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
		close_fd = 0;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(errno));
	if ((buf = malloc(cap + 1)) == NULL) {
		if (close_fd)
			close(fd);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				free(buf);
				if (close_fd)
					close(fd);
				return vouch_err_set(e, VOUCH_E_LIMIT,
				    "%s: larger than the limit of %zu bytes",
				    path, max);
			}
			cap *= 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				if (close_fd)
					close(fd);
				return vouch_err_set(e, VOUCH_E_NOMEM,
				    "out of memory");
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			free(buf);
			if (close_fd)
				close(fd);
			return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
			    strerror(err));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (close_fd)
		close(fd);
	if (len > max) {
		free(buf);
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "%s: %zu bytes, larger than the limit of %zu bytes",
		    path, len, max);
	}
	buf[len] = 0;
	*bufp = buf;
	*lenp = len;
	return 0;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t r;

	while (len > 0) {
		r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static void
fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (copy == NULL)
		return;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int
file_write_atomic(const char *path, const void *buf, size_t len, unsigned mode,
    struct vouch_err *e)
{
	char tmp[4096];
	int fd, err;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return vouch_err_set(e, VOUCH_E_INVAL, "path too long: %s", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    (mode_t)mode)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", tmp,
		    strerror(errno));
	if (write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		err = errno;
		close(fd);
		unlink(tmp);
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", tmp, strerror(err));
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		err = errno;
		unlink(tmp);
		return vouch_err_set(e, VOUCH_E_IO, "rename to %s: %s", path,
		    strerror(err));
	}
	fsync_dir(path);
	return 0;
}

int
file_append_sync(const char *path, const void *buf, size_t len,
    struct vouch_err *e)
{
	int fd, err;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(errno));
	if (write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		err = errno;
		close(fd);
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(err));
	}
	close(fd);
	return 0;
}

int
dir_create(const char *path, unsigned mode, struct vouch_err *e)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return vouch_err_set(e, VOUCH_E_INVAL, "bad directory path");
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return vouch_err_set(e, VOUCH_E_IO, "mkdir %s: %s", buf,
			    strerror(errno));
		buf[i] = c;
	}
	return 0;
}

int
ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void
free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
