/*
 * Unit tests: migrate/qmp.c against a fake QMP server (a thread on a unix
 * socket that plays a script), and migrate/driver.c + drv_qemu.c over the
 * same fake: status mapping, quit closing the socket, a vanished QEMU.
 *
 * A script is a list of steps: send bytes, receive one command (its
 * "execute" is checked and its "id" kept), reply with the kept id
 * substituted for "@ID@", sleep, close.  The server thread records the
 * first deviation; every test checks it after joining.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "migrate/driver.h"
#include "migrate/qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, " \
	"\"minor\": 2, \"major\": 7}}, \"capabilities\": [\"oob\"]}}\n"
#define CAPS_OK	{ S_RECV, "qmp_capabilities", 0 }, \
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 }

enum op { S_END = 0, S_SEND, S_RECV, S_REPLY, S_SLEEP, S_CLOSE, S_BIG,
	S_EVENTS };

struct step {
	enum op		 op;
	const char	*text;	/* bytes, expected command, reply */
	int		 n;	/* ms for S_SLEEP, count for S_BIG/S_EVENTS */
};

struct fake {
	char		 path[108];
	int		 lfd;
	pthread_t	 th;
	const struct step *script;
	char		 fail[200];	/* first deviation, "" if none */
	char		 last_id[32];
};

static struct fake F;

static void
fake_fail(const char *why)
{
	if (F.fail[0] == '\0')
		snprintf(F.fail, sizeof(F.fail), "%s", why);
}

static int
send_str(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one line (blocking, 5 s bound) from fd. */
static int
recv_line(int fd, char *buf, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	size_t n = 0;
	ssize_t r;
	char c;

	while (n + 1 < cap) {
		if (poll(&p, 1, 5000) <= 0)
			return -1;
		r = recv(fd, &c, 1, 0);
		if (r <= 0)
			return -1;
		if (c == '\n') {
			buf[n] = '\0';
			return 0;
		}
		buf[n++] = c;
	}
	return -1;
}

static void
do_recv(int fd, const char *want)
{
	char line[4096];
	struct json_object *o, *x;

	if (recv_line(fd, line, sizeof(line)) < 0) {
		fake_fail("no command received");
		return;
	}
	o = json_tokener_parse(line);
	if (o == NULL || !json_object_object_get_ex(o, "execute", &x) ||
	    strcmp(json_object_get_string(x), want) != 0) {
		char why[200];

		snprintf(why, sizeof(why), "wanted %s, got '%.100s'", want,
		    line);
		fake_fail(why);
	} else if (json_object_object_get_ex(o, "id", &x))
		snprintf(F.last_id, sizeof(F.last_id), "%s",
		    json_object_to_json_string(x));
	else
		fake_fail("command without id");
	json_object_put(o);
}

static void
do_reply(int fd, const char *tmpl)
{
	char out[8192];
	const char *at;
	size_t n = 0;

	while ((at = strstr(tmpl, "@ID@")) != NULL) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%.*s%s",
		    (int)(at - tmpl), tmpl, F.last_id);
		tmpl = at + 4;
	}
	snprintf(out + n, sizeof(out) - n, "%s", tmpl);
	if (send_str(fd, out, strlen(out)) < 0)
		fake_fail("reply not sent");
}

static void *
fake_main(void *arg)
{
	const struct step *s;
	char *big, ev[128];
	int fd, i;

	(void)arg;
	fd = accept(F.lfd, NULL, NULL);
	if (fd < 0) {
		fake_fail("accept");
		return NULL;
	}
	for (s = F.script; s->op != S_END; s++) {
		switch (s->op) {
		case S_SEND:	/* n: length, for bytes with a NUL */
			if (send_str(fd, s->text, s->n > 0 ? (size_t)s->n :
			    strlen(s->text)) < 0)
				fake_fail("send");
			break;
		case S_RECV:
			do_recv(fd, s->text);
			break;
		case S_REPLY:
			do_reply(fd, s->text);
			break;
		case S_SLEEP:
			usleep((useconds_t)s->n * 1000);
			break;
		case S_CLOSE:
			close(fd);
			fd = -1;
			goto done;
		case S_BIG:
			/* n bytes of a JSON string, then a newline. */
			big = malloc((size_t)s->n + 1);
			if (big == NULL)
				break;
			memset(big, 'a', (size_t)s->n);
			memcpy(big, "{\"return\": \"", 12);
			big[s->n - 1] = '\n';
			(void)send_str(fd, big, (size_t)s->n);
			free(big);
			break;
		case S_EVENTS:
			for (i = 0; i < s->n; i++) {
				snprintf(ev, sizeof(ev), "{\"event\": \"E\", "
				    "\"data\": {\"n\": %d}, \"timestamp\": "
				    "{\"seconds\": 1, \"microseconds\": 2}}\n",
				    i);
				if (send_str(fd, ev, strlen(ev)) < 0) {
					fake_fail("send event");
					break;
				}
			}
			break;
		case S_END:
			break;
		}
	}
	/* Hold the connection until the client hangs up. */
	{
		char c;
		struct pollfd p = { fd, POLLIN, 0 };

		while (poll(&p, 1, 5000) > 0 && recv(fd, &c, 1, 0) > 0)
			;
	}
done:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void
fake_start(const struct step *script)
{
	struct sockaddr_un sa;

	memset(&F, 0, sizeof(F));
	snprintf(F.path, sizeof(F.path), "/tmp/vouch-test-qmp.%ld.sock",
	    (long)getpid());
	unlink(F.path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, F.path, strlen(F.path) + 1);
	F.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(F.lfd >= 0);
	assert_int_equal(bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(F.lfd, 4), 0);
	F.script = script;
	assert_int_equal(pthread_create(&F.th, NULL, fake_main, NULL), 0);
}

/* Join the server (the client must have closed) and check its verdict. */
static void
fake_end(void)
{
	pthread_join(F.th, NULL);
	close(F.lfd);
	unlink(F.path);
	if (F.fail[0] != '\0')
		fail_msg("fake server: %s", F.fail);
}

static struct qmp *
connect_ok(void)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qmp *q = NULL;

	if (qmp_connect(F.path, 2000, &q, &e) != 0)
		fail_msg("qmp_connect: %s", e.msg);
	return q;
}

static const char *
ev_name(struct json_object *ev)
{
	struct json_object *n;

	assert_true(json_object_object_get_ex(ev, "event", &n));
	return json_object_get_string(n);
}

/* --- handshake, commands --------------------------------------------------- */

static void
test_exec_ok(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "query-status", 0 },
		{ S_REPLY, "{\"return\": {\"status\": \"running\", "
		    "\"singlestep\": false, \"running\": true}, "
		    "\"id\": @ID@}\r\n", 0 },
		{ S_RECV, "stop", 0 },
		{ S_REPLY, "\n{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct json_object *ret = NULL, *x;
	struct qmp *q;

	(void)state;
	fake_start(s);
	q = connect_ok();
	assert_int_equal(qmp_exec(q, "query-status", NULL, &ret, 2000, &e),
	    0);
	assert_true(json_object_object_get_ex(ret, "status", &x));
	assert_string_equal(json_object_get_string(x), "running");
	json_object_put(ret);
	/* a blank line before the answer is harmless; ret may be NULL */
	assert_int_equal(qmp_exec(q, "stop", NULL, NULL, 2000, &e), 0);
	qmp_close(q);
	qmp_close(NULL);
	fake_end();
}

static void
test_error_answer(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "frobnicate", 0 },
		{ S_REPLY, "{\"id\": @ID@, \"error\": {\"class\": "
		    "\"CommandNotFound\", \"desc\": \"The command frobnicate "
		    "has not been found\"}}\n", 0 },
		{ S_RECV, "cont", 0 },
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qmp *q;

	(void)state;
	fake_start(s);
	q = connect_ok();
	assert_int_equal(qmp_exec(q, "frobnicate", NULL, NULL, 2000, &e),
	    VOUCH_E_STATE);
	assert_string_equal(e.msg, "CommandNotFound: The command frobnicate "
	    "has not been found");
	/* an error answer leaves the connection usable */
	assert_int_equal(qmp_exec(q, "cont", NULL, NULL, 2000, &e), 0);
	qmp_close(q);
	fake_end();
}

static void
test_args_sent(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "migrate", 0 },
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct json_object *a;
	struct qmp *q;

	(void)state;
	fake_start(s);
	q = connect_ok();
	/* args must be an object */
	a = json_object_new_array();
	assert_int_equal(qmp_exec(q, "migrate", a, NULL, 2000, &e),
	    VOUCH_E_INVAL);
	json_object_put(a);
	assert_int_equal(qmp_exec(q, "", NULL, NULL, 2000, &e),
	    VOUCH_E_INVAL);
	a = json_object_new_object();
	json_object_object_add(a, "uri", json_object_new_string("tcp:x:1"));
	assert_int_equal(qmp_exec(q, "migrate", a, NULL, 2000, &e), 0);
	json_object_put(a);	/* not consumed */
	qmp_close(q);
	fake_end();
}

/* --- events ------------------------------------------------------------------ */

static void
test_events_interleaved(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 },
		{ S_RECV, "qmp_capabilities", 0 },
		/* an event may even come before the first answer */
		{ S_SEND, "{\"event\": \"A\", \"data\": {}, \"timestamp\": "
		    "{\"seconds\": 1, \"microseconds\": 0}}\n", 0 },
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_RECV, "migrate", 0 },
		{ S_SEND, "{\"event\": \"B\", \"timestamp\": {\"seconds\": 2, "
		    "\"microseconds\": 0}}\n{\"event\": \"C\"}\n", 0 },
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_SLEEP, NULL, 100 },
		{ S_SEND, "{\"event\": \"D\"}\n", 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct json_object *ev = NULL;
	struct qmp *q;
	int64_t t0;

	(void)state;
	fake_start(s);
	q = connect_ok();
	assert_int_equal(qmp_exec(q, "migrate", NULL, NULL, 2000, &e), 0);
	/* by name: C first, others stay queued in order */
	assert_int_equal(qmp_wait_event(q, "C", 0, &ev, &e), 0);
	assert_string_equal(ev_name(ev), "C");
	json_object_put(ev);
	assert_int_equal(qmp_wait_event(q, NULL, 0, &ev, &e), 0);
	assert_string_equal(ev_name(ev), "A");
	json_object_put(ev);
	/* D arrives later; B stays queued while we wait for D */
	assert_int_equal(qmp_wait_event(q, "D", 2000, &ev, &e), 0);
	assert_string_equal(ev_name(ev), "D");
	json_object_put(ev);
	assert_int_equal(qmp_wait_event(q, NULL, 0, &ev, &e), 0);
	assert_string_equal(ev_name(ev), "B");
	json_object_put(ev);
	/* nothing more: a bounded wait ends with NOTFOUND */
	t0 = mono_ms();
	assert_int_equal(qmp_wait_event(q, "X", 150, &ev, &e),
	    VOUCH_E_NOTFOUND);
	assert_true(mono_ms() - t0 >= 140 && mono_ms() - t0 < 1500);
	qmp_close(q);
	fake_end();
}

static void
test_events_overflow(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "x", 0 },
		{ S_EVENTS, NULL, QMP_EVENTS_MAX + 5 },
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct json_object *ev = NULL, *d, *n;
	struct qmp *q;
	int i;

	(void)state;
	fake_start(s);
	q = connect_ok();
	assert_int_equal(qmp_exec(q, "x", NULL, NULL, 5000, &e), 0);
	/* the 5 oldest were dropped; the rest come in order */
	for (i = 5; i < 8; i++) {
		assert_int_equal(qmp_wait_event(q, "E", 0, &ev, &e), 0);
		assert_true(json_object_object_get_ex(ev, "data", &d));
		assert_true(json_object_object_get_ex(d, "n", &n));
		assert_int_equal(json_object_get_int(n), i);
		json_object_put(ev);
	}
	qmp_clear_events(q);
	assert_int_equal(qmp_wait_event(q, NULL, 0, &ev, &e),
	    VOUCH_E_NOTFOUND);
	qmp_close(q);
	fake_end();
}

/* --- hostile or broken servers ------------------------------------------------ */

static void
test_oversized_line(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "query-status", 0 },
		{ S_BIG, NULL, (int)QMP_LINE_MAX + 100 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qmp *q;

	(void)state;
	fake_start(s);
	q = connect_ok();
	assert_int_equal(qmp_exec(q, "query-status", NULL, NULL, 5000, &e),
	    VOUCH_E_LIMIT);
	assert_non_null(strstr(e.msg, "line"));
	/* the connection is broken: no more I/O */
	assert_int_equal(qmp_exec(q, "query-status", NULL, NULL, 5000, &e),
	    VOUCH_E_LIMIT);
	assert_non_null(strstr(e.msg, "unusable"));
	qmp_close(q);
	fake_end();
}

static void
garbage_len(const char *bad, int len, int want)
{
	const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "query-status", 0 },
		{ S_SEND, bad, len },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qmp *q;

	fake_start(s);
	q = connect_ok();
	if (qmp_exec(q, "query-status", NULL, NULL, 2000, &e) != want)
		fail_msg("'%s': want %d, got '%s'", bad, want, e.msg);
	qmp_close(q);
	fake_end();
}

static void
garbage_case(const char *bad, int want)
{
	garbage_len(bad, 0, want);
}

static void
test_garbage(void **state)
{
	(void)state;
	garbage_case("{not json\n", VOUCH_E_FORMAT);
	garbage_case("[1, 2]\n", VOUCH_E_FORMAT);
	garbage_case("\"return\"\n", VOUCH_E_FORMAT);
	garbage_case("{\"return\": {}} trailing\n", VOUCH_E_FORMAT);
	garbage_case("{\"return\": {}}{\"return\": {}}\n", VOUCH_E_FORMAT);
	garbage_case("{\"hello\": 1}\n", VOUCH_E_FORMAT);
	garbage_case("{\"error\": \"x\"}\n", VOUCH_E_FORMAT);
	garbage_case("{\"error\": {\"class\": 1, \"desc\": \"d\"}}\n",
	    VOUCH_E_FORMAT);
	garbage_case("{\"event\": 7}\n", VOUCH_E_FORMAT);
	garbage_len("{\"return\": \"a\0b\"}\n", 18, VOUCH_E_FORMAT);
	garbage_case("{\"return\": \"\xff\xfe\"}\n", VOUCH_E_FORMAT);
	garbage_case("{\"return\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]}\n", VOUCH_E_FORMAT);
	garbage_case(GREETING, VOUCH_E_FORMAT);	/* a second greeting */
}

static void
test_close_mid_answer(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "query-status", 0 },
		{ S_SEND, "{\"return\": {\"sta", 0 },
		{ S_CLOSE, NULL, 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qmp *q;

	(void)state;
	fake_start(s);
	q = connect_ok();
	assert_int_equal(qmp_exec(q, "query-status", NULL, NULL, 2000, &e),
	    VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "closed mid-message"));
	assert_int_equal(qmp_exec(q, "query-status", NULL, NULL, 2000, &e),
	    VOUCH_E_IO);
	qmp_close(q);
	fake_end();
}

static void
test_timeout_late_answer(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "slow", 0 },
		{ S_SLEEP, NULL, 400 },
		/* the late answer to "slow", then the next command's */
		{ S_REPLY, "{\"return\": {\"late\": true}, \"id\": @ID@}\n",
		    0 },
		{ S_RECV, "query-status", 0 },
		{ S_REPLY, "{\"return\": {\"status\": \"paused\"}, "
		    "\"id\": @ID@}\n", 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct json_object *ret = NULL, *x;
	struct qmp *q;
	int64_t t0;

	(void)state;
	fake_start(s);
	q = connect_ok();
	t0 = mono_ms();
	assert_int_equal(qmp_exec(q, "slow", NULL, &ret, 150, &e),
	    VOUCH_E_IO);
	assert_true(mono_ms() - t0 < 390);
	assert_non_null(strstr(e.msg, "no answer"));
	assert_null(ret);
	/* still usable; the late answer is not taken for this one */
	assert_int_equal(qmp_exec(q, "query-status", NULL, &ret, 2000, &e),
	    0);
	assert_false(json_object_object_get_ex(ret, "late", NULL));
	assert_true(json_object_object_get_ex(ret, "status", &x));
	assert_string_equal(json_object_get_string(x), "paused");
	json_object_put(ret);
	qmp_close(q);
	fake_end();
}

static void
test_connect_failures(void **state)
{
	static const struct step silent[] = {
		{ S_SLEEP, NULL, 600 }, { S_END, NULL, 0 } };
	static const struct step notqmp[] = {
		{ S_SEND, "{\"return\": {}}\n", 0 }, { S_END, NULL, 0 } };
	static const struct step capsbad[] = {
		{ S_SEND, GREETING, 0 },
		{ S_RECV, "qmp_capabilities", 0 },
		{ S_REPLY, "{\"id\": @ID@, \"error\": {\"class\": "
		    "\"GenericError\", \"desc\": \"no\"}}\n", 0 },
		{ S_END, NULL, 0 } };
	static const struct step closes[] = {
		{ S_CLOSE, NULL, 0 }, { S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qmp *q = NULL;
	int64_t t0;

	(void)state;
	assert_int_equal(qmp_connect("/tmp/vouch-test-qmp-none.sock", 500,
	    &q, &e), VOUCH_E_NOTFOUND);
	assert_null(q);

	fake_start(silent);	/* another client holds QEMU's monitor */
	t0 = mono_ms();
	assert_int_equal(qmp_connect(F.path, 200, &q, &e), VOUCH_E_IO);
	assert_true(mono_ms() - t0 < 550);
	assert_non_null(strstr(e.msg, "greeting"));
	assert_null(q);
	fake_end();

	fake_start(notqmp);
	assert_int_equal(qmp_connect(F.path, 1000, &q, &e), VOUCH_E_FORMAT);
	assert_null(q);
	fake_end();

	fake_start(capsbad);
	assert_int_equal(qmp_connect(F.path, 1000, &q, &e), VOUCH_E_STATE);
	assert_non_null(strstr(e.msg, "GenericError: no"));
	assert_null(q);
	fake_end();

	fake_start(closes);
	assert_int_equal(qmp_connect(F.path, 1000, &q, &e), VOUCH_E_IO);
	assert_null(q);
	fake_end();

	assert_int_equal(qmp_connect(NULL, 1000, &q, NULL), VOUCH_E_INVAL);
}

/* --- the QEMU driver over the fake ------------------------------------------- */

static void
test_driver_qemu(void **state)
{
	static const struct step s[] = {
		{ S_SEND, GREETING, 0 }, CAPS_OK,
		{ S_RECV, "query-status", 0 },
		{ S_REPLY, "{\"return\": {\"status\": \"postmigrate\", "
		    "\"running\": false}, \"id\": @ID@}\n", 0 },
		{ S_RECV, "query-status", 0 },
		{ S_REPLY, "{\"return\": {\"status\": \"colo-new\"}, "
		    "\"id\": @ID@}\n", 0 },
		{ S_RECV, "query-migrate", 0 },
		{ S_REPLY, "{\"return\": {\"status\": \"completed\", "
		    "\"total-time\": 0}, \"id\": @ID@}\n", 0 },
		{ S_RECV, "query-migrate", 0 },
		{ S_REPLY, "{\"return\": {\"status\": \"completed\", "
		    "\"total-time\": 512, \"downtime\": 7, \"ram\": "
		    "{\"transferred\": 1000, \"remaining\": 0, \"total\": "
		    "134217728, \"mbps\": 1087.5}}, \"id\": @ID@}\n", 0 },
		{ S_RECV, "stop", 0 },
		{ S_REPLY, "{\"id\": @ID@, \"error\": {\"class\": "
		    "\"GenericError\", \"desc\": \"nope\"}}\n", 0 },
		{ S_RECV, "quit", 0 },
		{ S_REPLY, "{\"return\": {}, \"id\": @ID@}\n", 0 },
		{ S_SEND, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": "
		    "false, \"reason\": \"host-qmp-quit\"}}\n", 0 },
		{ S_CLOSE, NULL, 0 },
		{ S_END, NULL, 0 } };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_progress p;
	enum mig_run_state st;
	struct mig_vm *vm = NULL;

	(void)state;
	fake_start(s);
	assert_int_equal(mig_qemu_open(F.path, "web1", &vm, &e), 0);
	assert_int_equal(mig_state(vm, &st, &e), 0);
	assert_int_equal(st, MIG_VM_POSTMIGRATE);
	assert_string_equal(mig_run_state_name(st), "postmigrate");
	assert_int_equal(mig_state(vm, &st, &e), 0);
	assert_int_equal(st, MIG_VM_UNKNOWN);
	/* "completed" with total-time 0 is asked again */
	assert_int_equal(mig_progress(vm, &p, &e), 0);
	assert_int_equal(p.status, MIG_STREAM_COMPLETED);
	assert_int_equal(p.total_time_ms, 512);
	assert_int_equal(p.downtime_ms, 7);
	assert_int_equal(p.transferred, 1000);
	assert_int_equal(p.total, 134217728);
	assert_true(p.mbps > 1087.0 && p.mbps < 1088.0);
	assert_int_equal(mig_pause(vm, &e), VOUCH_E_STATE);
	assert_string_equal(e.msg, "vm web1: pause: GenericError: nope");
	/* quit: answer, then the socket closes - not an error */
	assert_int_equal(mig_destroy(vm, &e), 0);
	fake_end();
	/* nobody listens any more: gone */
	assert_int_equal(mig_state(vm, &st, &e), 0);
	assert_int_equal(st, MIG_VM_GONE);
	mig_close(vm);
	mig_close(NULL);
}

static int
fake_state(struct mig_vm *vm, enum mig_run_state *st, struct vouch_err *e)
{
	(void)vm;
	(void)st;
	return vouch_err_set(e, VOUCH_E_IO, "boom");
}

static void
test_driver_wrappers(void **state)
{
	static const struct mig_driver_ops ops = { .name = "fake",
	    .state = fake_state };
	struct mig_vm vm = { &ops, NULL, "t1" };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_progress p;
	enum mig_run_state st;

	(void)state;
	assert_int_equal(mig_state(&vm, &st, &e), VOUCH_E_IO);
	assert_string_equal(e.msg, "vm t1: state: boom");
	assert_int_equal(mig_state(&vm, &st, NULL), VOUCH_E_IO);
	assert_int_equal(mig_pause(&vm, &e), VOUCH_E_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "vm t1: pause"));
	assert_int_equal(mig_resume(&vm, &e), VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_destroy(&vm, &e), VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_cancel(&vm, &e), VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_incoming(&vm, "tcp:h:1", NULL, &e),
	    VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_migrate(&vm, "tcp:h:1", NULL, 0, &e),
	    VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_progress(&vm, &p, &e), VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_window_detach(&vm, "w", &e),
	    VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_window_attach(&vm, "w", "/m", &e),
	    VOUCH_E_UNSUPPORTED);
	assert_int_equal(mig_state(NULL, &st, &e), VOUCH_E_INVAL);
	assert_int_equal(mig_pause(NULL, &e), VOUCH_E_INVAL);
	mig_close(&vm);		/* no close op: nothing happens */
	assert_string_equal(mig_run_state_name(MIG_VM_GONE), "gone");
	assert_string_equal(mig_run_state_name((enum mig_run_state)99),
	    "unknown");
}

static void
test_driver_args(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_tls tls = { "/nonexistent", NULL };
	struct mig_vm *vm = NULL;

	(void)state;
	assert_int_equal(mig_qemu_open("/tmp/vouch-test-qmp-none.sock", "v",
	    &vm, &e), 0);
	/* a sender with TLS must name the attested peer */
	assert_int_equal(mig_migrate(vm, "tcp:h:1", &tls, 0, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(mig_migrate(vm, "", NULL, 0, &e), VOUCH_E_INVAL);
	assert_int_equal(mig_window_attach(vm, "w", "", &e), VOUCH_E_INVAL);
	/* no QEMU behind the path */
	assert_int_equal(mig_pause(vm, &e), VOUCH_E_NOTFOUND);
	assert_non_null(strstr(e.msg, "vm v: pause: "));
	mig_close(vm);
	assert_int_equal(mig_qemu_open("/x", "a-name-much-longer-than-sixty-"
	    "four-bytes-is-refused-because-it-would-not-fit", &vm, &e),
	    VOUCH_E_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_ok),
		cmocka_unit_test(test_error_answer),
		cmocka_unit_test(test_args_sent),
		cmocka_unit_test(test_events_interleaved),
		cmocka_unit_test(test_events_overflow),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_close_mid_answer),
		cmocka_unit_test(test_timeout_late_answer),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_driver_qemu),
		cmocka_unit_test(test_driver_wrappers),
		cmocka_unit_test(test_driver_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
