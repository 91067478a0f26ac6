/*
 * qmp.c - QMP client over a unix socket (qmp.h).
 *
 * QEMU's bytes are input like any other: every message is one line of at
 * most QMP_LINE_MAX bytes, parsed by json-c with a depth limit and strict
 * mode, and must be an object of one of four shapes:
 *
 *	{"QMP": {...}}				greeting (first line only)
 *	{"return": ..., "id": N}		answer to our command N
 *	{"error": {"class", "desc"}, "id": N}	failed command N
 *	{"event": "NAME", "data", "timestamp"}	asynchronous event
 *
 * Every command carries a fresh numeric id; an answer with another id is
 * a late answer to a command that timed out earlier and is dropped, so a
 * timeout does not desynchronise the connection.  A protocol fault (an
 * oversized line, bad JSON, an unknown shape, end of stream, an I/O
 * error) breaks the connection: later calls fail at once.
 *
 * The socket is non-blocking; every wait is a poll() against one
 * monotonic deadline per call.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "migrate/qmp.h"

#define QMP_JSON_DEPTH	32		/* QEMU's answers nest a few levels */
#define QMP_READ_CHUNK	65536

struct qmp {
	int		 fd;
	int		 broken;	/* protocol fault or EOF: no more I/O */
	char		 why[160];	/* ... and why */
	char		*buf;		/* received, not yet consumed bytes */
	size_t		 len;
	size_t		 cap;
	uint64_t	 next_id;
	struct json_object *ev[QMP_EVENTS_MAX];	/* ring of events */
	size_t		 ev_head;
	size_t		 ev_count;
};

/* --- time ------------------------------------------------------------------ */

static int
left_ms(int64_t deadline)
{
	int64_t l = deadline - mono_ms();

	if (l < 0)
		return 0;
	return l > INT32_MAX ? INT32_MAX : (int)l;
}

static int64_t
deadline_of(int timeout_ms)
{
	return mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
}

/* --- connection state ------------------------------------------------------ */

static int
qmp_break(struct qmp *q, struct vouch_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
qmp_break(struct qmp *q, struct vouch_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->why, sizeof(q->why), fmt, ap);
	va_end(ap);
	q->broken = code;
	return vouch_err_set(e, code, "qmp: %s", q->why);
}

static int
qmp_check(struct qmp *q, struct vouch_err *e)
{
	if (q == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "qmp: NULL handle");
	if (q->broken)
		return vouch_err_set(e, q->broken, "qmp: connection unusable "
		    "(%s)", q->why);
	return 0;
}

/* --- events ---------------------------------------------------------------- */

static void
ev_push(struct qmp *q, struct json_object *ev)
{
	size_t slot;

	if (q->ev_count == QMP_EVENTS_MAX) {	/* drop the oldest */
		json_object_put(q->ev[q->ev_head]);
		q->ev[q->ev_head] = NULL;
		q->ev_head = (q->ev_head + 1) % QMP_EVENTS_MAX;
		q->ev_count--;
	}
	slot = (q->ev_head + q->ev_count) % QMP_EVENTS_MAX;
	q->ev[slot] = ev;
	q->ev_count++;
}

/* Remove and return the first queued event named name (NULL: any). */
static struct json_object *
ev_take(struct qmp *q, const char *name)
{
	struct json_object *ev, *n;
	size_t i, j, slot, next;

	for (i = 0; i < q->ev_count; i++) {
		slot = (q->ev_head + i) % QMP_EVENTS_MAX;
		ev = q->ev[slot];
		if (name != NULL && (!json_object_object_get_ex(ev, "event",
		    &n) || strcmp(json_object_get_string(n), name) != 0))
			continue;
		/* Close the gap: shift the later ones down by one. */
		for (j = i; j + 1 < q->ev_count; j++) {
			slot = (q->ev_head + j) % QMP_EVENTS_MAX;
			next = (q->ev_head + j + 1) % QMP_EVENTS_MAX;
			q->ev[slot] = q->ev[next];
		}
		q->ev[(q->ev_head + q->ev_count - 1) % QMP_EVENTS_MAX] = NULL;
		q->ev_count--;
		return ev;
	}
	return NULL;
}

void
qmp_clear_events(struct qmp *q)
{
	struct json_object *ev;

	if (q == NULL)
		return;
	while ((ev = ev_take(q, NULL)) != NULL)
		json_object_put(ev);
	q->ev_head = 0;
}

/* --- lines ----------------------------------------------------------------- */

/*
 * Read one line (without "\n", a trailing "\r" dropped) into a malloc'd
 * NUL-terminated string.  VOUCH_E_NOTFOUND: deadline passed (the
 * connection stays usable); other errors break it.
 */
static int
read_line(struct qmp *q, int64_t deadline, char **out, struct vouch_err *e)
{
	struct pollfd pfd;
	char *nl, *line, *nb;
	size_t n, want;
	ssize_t got;
	int pr;

	for (;;) {
		nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		if (nl != NULL) {
			n = (size_t)(nl - q->buf);
			if (n > QMP_LINE_MAX)
				return qmp_break(q, e, VOUCH_E_LIMIT,
				    "line of %zu bytes (max %u)", n,
				    QMP_LINE_MAX);
			if (memchr(q->buf, '\0', n) != NULL)
				return qmp_break(q, e, VOUCH_E_FORMAT,
				    "NUL byte in a message");
			if ((line = malloc(n + 1)) == NULL)
				return vouch_err_set(e, VOUCH_E_NOMEM,
				    "qmp: out of memory");
			memcpy(line, q->buf, n);
			line[n] = '\0';
			if (n > 0 && line[n - 1] == '\r')
				line[n - 1] = '\0';
			q->len -= n + 1;
			memmove(q->buf, nl + 1, q->len);
			*out = line;
			return 0;
		}
		if (q->len > QMP_LINE_MAX)
			return qmp_break(q, e, VOUCH_E_LIMIT,
			    "line longer than %u bytes", QMP_LINE_MAX);
		/* Room for one chunk, never beyond QMP_LINE_MAX + 2. */
		want = q->len + QMP_READ_CHUNK;
		if (want > QMP_LINE_MAX + 2)
			want = QMP_LINE_MAX + 2;
		if (want > q->cap) {
			if ((nb = realloc(q->buf, want)) == NULL)
				return vouch_err_set(e, VOUCH_E_NOMEM,
				    "qmp: out of memory");
			q->buf = nb;
			q->cap = want;
		}
		pfd.fd = q->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		pr = poll(&pfd, 1, left_ms(deadline));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return qmp_break(q, e, VOUCH_E_IO, "poll: %s",
			    strerror(errno));
		}
		if (pr == 0)
			return vouch_err_set(e, VOUCH_E_NOTFOUND,
			    "qmp: timed out");
		got = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return qmp_break(q, e, VOUCH_E_IO, "recv: %s",
			    strerror(errno));
		}
		if (got == 0)
			return qmp_break(q, e, VOUCH_E_IO,
			    q->len ? "connection closed mid-message" :
			    "connection closed");
		q->len += (size_t)got;
	}
}

static int
send_all(struct qmp *q, const char *s, size_t n, int64_t deadline,
    struct vouch_err *e)
{
	struct pollfd pfd;
	ssize_t w;
	int pr;

	while (n > 0) {
		w = send(q->fd, s, n, MSG_NOSIGNAL);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return qmp_break(q, e, VOUCH_E_IO, "send: %s",
			    strerror(errno));
		pfd.fd = q->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		pr = poll(&pfd, 1, left_ms(deadline));
		if (pr < 0 && errno != EINTR)
			return qmp_break(q, e, VOUCH_E_IO, "poll: %s",
			    strerror(errno));
		if (pr == 0)
			/* A partial command may be on the wire now. */
			return qmp_break(q, e, VOUCH_E_IO,
			    "timed out sending a command");
	}
	return 0;
}

/* --- messages -------------------------------------------------------------- */

enum msg_kind { MSG_GREETING, MSG_RETURN, MSG_ERROR, MSG_EVENT };

/*
 * Read and classify one message.  *msg gets the object (caller puts it).
 */
static int
read_msg(struct qmp *q, int64_t deadline, struct json_object **msg,
    enum msg_kind *kind, struct vouch_err *e)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	char *line = NULL;
	size_t n;
	int r;

	for (;;) {
		if ((r = read_line(q, deadline, &line, e)) < 0)
			return r;
		n = strlen(line);
		if (n > 0)
			break;
		free(line);	/* blank lines are harmless */
	}
	if ((tok = json_tokener_new_ex(QMP_JSON_DEPTH)) == NULL) {
		free(line);
		return vouch_err_set(e, VOUCH_E_NOMEM, "qmp: out of memory");
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT
#ifdef JSON_TOKENER_VALIDATE_UTF8
	    | JSON_TOKENER_VALIDATE_UTF8
#endif
	    );
	o = json_tokener_parse_ex(tok, line, (int)n);
	if (o == NULL || json_tokener_get_parse_end(tok) != n) {
		json_tokener_free(tok);
		json_object_put(o);
		r = qmp_break(q, e, VOUCH_E_FORMAT, "not one JSON value: "
		    "'%.40s'", line);
		free(line);
		return r;
	}
	json_tokener_free(tok);
	free(line);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return qmp_break(q, e, VOUCH_E_FORMAT,
		    "message is not a JSON object");
	}
	if (json_object_object_get_ex(o, "return", NULL))
		*kind = MSG_RETURN;
	else if (json_object_object_get_ex(o, "error", &v)) {
		struct json_object *c, *d;

		if (!json_object_is_type(v, json_type_object) ||
		    !json_object_object_get_ex(v, "class", &c) ||
		    !json_object_is_type(c, json_type_string) ||
		    !json_object_object_get_ex(v, "desc", &d) ||
		    !json_object_is_type(d, json_type_string)) {
			json_object_put(o);
			return qmp_break(q, e, VOUCH_E_FORMAT,
			    "malformed error answer");
		}
		*kind = MSG_ERROR;
	} else if (json_object_object_get_ex(o, "event", &v)) {
		if (!json_object_is_type(v, json_type_string)) {
			json_object_put(o);
			return qmp_break(q, e, VOUCH_E_FORMAT,
			    "event name is not a string");
		}
		*kind = MSG_EVENT;
	} else if (json_object_object_get_ex(o, "QMP", &v) &&
	    json_object_is_type(v, json_type_object))
		*kind = MSG_GREETING;
	else {
		json_object_put(o);
		return qmp_break(q, e, VOUCH_E_FORMAT,
		    "message of unknown shape");
	}
	*msg = o;
	return 0;
}

/* The numeric id of an answer, or 0 (we never send id 0). */
static uint64_t
msg_id(struct json_object *o)
{
	struct json_object *id;
	int64_t v;

	if (!json_object_object_get_ex(o, "id", &id) ||
	    !json_object_is_type(id, json_type_int))
		return 0;
	v = json_object_get_int64(id);
	return v > 0 ? (uint64_t)v : 0;
}

int
qmp_exec(struct qmp *q, const char *cmd, struct json_object *args,
    struct json_object **ret, int timeout_ms, struct vouch_err *e)
{
	struct json_object *req, *msg = NULL, *v, *c, *d;
	enum msg_kind kind;
	const char *txt;
	char *line;
	size_t n;
	int64_t deadline = deadline_of(timeout_ms);
	uint64_t id;
	int r;

	if ((r = qmp_check(q, e)) < 0)
		return r;
	if (cmd == NULL || *cmd == '\0' || (args != NULL &&
	    !json_object_is_type(args, json_type_object)))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "qmp: bad command or arguments");
	if ((req = json_object_new_object()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "qmp: out of memory");
	id = ++q->next_id;
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args != NULL)
		json_object_object_add(req, "arguments",
		    json_object_get(args));
	json_object_object_add(req, "id", json_object_new_int64((int64_t)id));
	txt = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	n = txt ? strlen(txt) : 0;
	if (n == 0 || (line = malloc(n + 2)) == NULL) {
		json_object_put(req);
		return vouch_err_set(e, VOUCH_E_NOMEM, "qmp: out of memory");
	}
	memcpy(line, txt, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	json_object_put(req);
	r = send_all(q, line, n + 1, deadline, e);
	free(line);
	if (r < 0)
		return r;

	for (;;) {
		if ((r = read_msg(q, deadline, &msg, &kind, e)) < 0) {
			if (r == VOUCH_E_NOTFOUND)
				return vouch_err_set(e, VOUCH_E_IO,
				    "qmp: %s: no answer within %d ms", cmd,
				    timeout_ms);
			if (e != NULL)
				vouch_err_prefix(e, "%s", cmd);
			return r;
		}
		if (kind == MSG_EVENT) {
			ev_push(q, msg);
			continue;
		}
		if (kind == MSG_GREETING) {
			json_object_put(msg);
			return qmp_break(q, e, VOUCH_E_FORMAT,
			    "unexpected greeting");
		}
		if (msg_id(msg) != id) {	/* a late answer: drop it */
			json_object_put(msg);
			continue;
		}
		break;
	}
	if (kind == MSG_ERROR) {
		json_object_object_get_ex(msg, "error", &v);
		json_object_object_get_ex(v, "class", &c);
		json_object_object_get_ex(v, "desc", &d);
		r = vouch_err_set(e, VOUCH_E_STATE, "%.60s: %.300s",
		    json_object_get_string(c), json_object_get_string(d));
		json_object_put(msg);
		return r;
	}
	if (ret != NULL) {
		json_object_object_get_ex(msg, "return", &v);
		*ret = json_object_get(v);
	}
	json_object_put(msg);
	return 0;
}

int
qmp_wait_event(struct qmp *q, const char *name, int timeout_ms,
    struct json_object **ev, struct vouch_err *e)
{
	struct json_object *msg, *n;
	enum msg_kind kind;
	int64_t deadline = deadline_of(timeout_ms);
	int r;

	if (q == NULL || ev == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "qmp: NULL argument");
	/* Queued events first, even on a broken connection. */
	if ((msg = ev_take(q, name)) != NULL) {
		*ev = msg;
		return 0;
	}
	if ((r = qmp_check(q, e)) < 0)
		return r;
	for (;;) {
		if ((r = read_msg(q, deadline, &msg, &kind, e)) < 0) {
			if (r == VOUCH_E_NOTFOUND)
				return vouch_err_set(e, VOUCH_E_NOTFOUND,
				    "qmp: no %s event within %d ms",
				    name ? name : "", timeout_ms);
			return r;
		}
		if (kind == MSG_EVENT) {
			json_object_object_get_ex(msg, "event", &n);
			if (name == NULL ||
			    strcmp(json_object_get_string(n), name) == 0) {
				*ev = msg;
				return 0;
			}
			ev_push(q, msg);
			continue;
		}
		/* An answer nobody waits for (a late one): drop it. */
		json_object_put(msg);
		if (kind == MSG_GREETING)
			return qmp_break(q, e, VOUCH_E_FORMAT,
			    "unexpected greeting");
	}
}

/* --- connect --------------------------------------------------------------- */

int
qmp_connect(const char *path, int timeout_ms, struct qmp **out,
    struct vouch_err *e)
{
	struct sockaddr_un sa;
	struct json_object *msg = NULL;
	enum msg_kind kind;
	struct qmp *q;
	int64_t deadline = deadline_of(timeout_ms);
	int fd, r, err;

	if (path == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "qmp_connect: NULL");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "%s: path too long for a unix socket", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vouch_err_set(e, VOUCH_E_IO, "socket: %s",
		    strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		/* No QEMU behind the path: NOTFOUND, so callers can say
		 * "gone"; a full backlog (EAGAIN) is I/O trouble. */
		if (err == ENOENT || err == ECONNREFUSED)
			return vouch_err_set(e, VOUCH_E_NOTFOUND,
			    "%s: %s", path, strerror(err));
		return vouch_err_set(e, VOUCH_E_IO, "%s: connect: %s", path,
		    strerror(err));
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_NOMEM, "qmp: out of memory");
	}
	q->fd = fd;

	r = read_msg(q, deadline, &msg, &kind, e);
	if (r == VOUCH_E_NOTFOUND)
		/* QEMU serves one client at a time: the others wait in the
		 * listen backlog without a greeting. */
		r = vouch_err_set(e, VOUCH_E_IO, "%s: no QMP greeting within "
		    "%d ms (another client connected?)", path, timeout_ms);
	else if (r == 0 && kind != MSG_GREETING)
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: first message is not a QMP greeting", path);
	json_object_put(msg);
	if (r == 0)
		r = qmp_exec(q, "qmp_capabilities", NULL, NULL,
		    left_ms(deadline), e);
	if (r < 0) {
		qmp_close(q);
		if (e != NULL && strncmp(e->msg, path, strlen(path)) != 0)
			vouch_err_prefix(e, "%s", path);
		return r;
	}
	*out = q;
	return 0;
}

void
qmp_close(struct qmp *q)
{
	if (q == NULL)
		return;
	qmp_clear_events(q);
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
}
