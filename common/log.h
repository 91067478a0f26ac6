/*
 * log.h - the one logging API.  A tag per process, stderr and/or syslog.
 * Only daemons and CLIs log; libraries return struct vouch_err.
 */
#ifndef VOUCH_LOG_H
#define VOUCH_LOG_H

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#define LOG_TO_STDERR	0x1
#define LOG_TO_SYSLOG	0x2

/* tag is kept by pointer: pass a string literal or argv[0]'s basename. */
void log_init(const char *tag, enum log_level level, int where);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at error level and exit(2). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
