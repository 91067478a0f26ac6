#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char *log_tag = "vouch";
static enum log_level log_level = LOG_LVL_INFO;
static int log_where = LOG_TO_STDERR;

void
log_init(const char *tag, enum log_level level, int where)
{
	log_tag = tag;
	log_level = level;
	log_where = where;
	if (where & LOG_TO_SYSLOG)
		openlog(tag, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[2048];

	if (lvl > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_where & LOG_TO_STDERR)
		fprintf(stderr, "%s: %s: %s\n", log_tag, names[lvl], msg);
	if (log_where & LOG_TO_SYSLOG)
		syslog(prio[lvl], "%s", msg);
}

#define LOGFN(name, lvl)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(lvl, fmt, ap);				\
	va_end(ap);					\
}
LOGFN(log_err, LOG_LVL_ERR)
LOGFN(log_warn, LOG_LVL_WARN)
LOGFN(log_info, LOG_LVL_INFO)
LOGFN(log_debug, LOG_LVL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(2);
}
