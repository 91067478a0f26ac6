/*
 * cmd_eventlog.c - vouchctl eventlog show|replay: read a TCG firmware
 * event log (binary_bios_measurements), list its events or print the PCR
 * values it replays to.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"
#include "measure/eventlog.h"
#include "tools/vouchctl/vouchctl.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl eventlog show FILE [--json]\n"
	    "       vouchctl eventlog replay FILE [--json] [--pcrs SEL]\n"
	    "\n"
	    "FILE is a TCG PC Client crypto-agile event log, e.g.\n"
	    "/sys/kernel/security/tpm0/binary_bios_measurements ('-' = stdin).\n"
	    "\n"
	    "show     one line per event: index, PCR, type, digest per bank,\n"
	    "         description; --json prints an array of objects.\n"
	    "replay   the PCR values the log replays to, per bank.  Without\n"
	    "         --pcrs: the PCRs some event extended (and PCR 0 when the\n"
	    "         log has a StartupLocality event).  --pcrs sha256:0-7\n"
	    "         prints exactly those (initial values where no event\n"
	    "         extended one).  --json: {\"sha256\": {\"0\": \"hex\", ...}}.\n"
	    "\n"
	    "Exit status: 0 ok, 2 usage or malformed log.\n");
}

static void
usage_show(FILE *f)
{
	fprintf(f, "usage: vouchctl eventlog show FILE [--json]\n"
	    "List every event of a firmware event log.\n");
}

static void
usage_replay(FILE *f)
{
	fprintf(f, "usage: vouchctl eventlog replay FILE [--json] [--pcrs SEL]\n"
	    "Replay a firmware event log; SEL like sha256:0-7+sha1:0.\n");
}

/* Read and parse path; on error print "vouchctl: PATH: reason". */
static int
load(const char *path, uint8_t **buf, struct eventlog **log)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	size_t len;

	if (file_read(path, EVENTLOG_MAX_SIZE, buf, &len, &e) < 0) {
		ctl_err("%s", e.msg);
		return -1;
	}
	if (eventlog_parse(*buf, len, log, &e) < 0) {
		ctl_err("%s: %s", path, e.msg);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

static const char *
alg_name(uint16_t alg)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);

	return a ? a->name : "?";
}

static int
json_print(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (s == NULL)
		return -1;
	printf("%s\n", s);
	return 0;
}

/* Parse "SUBCMD FILE [opts]"; returns 1 for --help, -1 on error. */
static int
parse_args(int argc, char **argv, int allow_pcrs, const char **file,
    int *json, const char **pcrs, void (*sub_usage)(FILE *))
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			sub_usage(stdout);
			return 1;
		case 'j':
			*json = 1;
			break;
		case 'p':
			if (!allow_pcrs) {
				ctl_err("eventlog %s: --pcrs is for replay",
				    argv[0]);
				return -1;
			}
			*pcrs = optarg;
			break;
		default:
			ctl_err("eventlog %s: unknown option '%s'", argv[0],
			    argv[optind - 1]);
			sub_usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		ctl_err("eventlog %s: expected one FILE", argv[0]);
		sub_usage(stderr);
		return -1;
	}
	*file = argv[optind];
	return 0;
}

static int
do_show(int argc, char **argv)
{
	const char *file, *pcrs = NULL;
	struct eventlog *log = NULL;
	uint8_t *buf = NULL;
	json_object *arr = NULL;
	char desc[256], hex[2 * PCR_DIGEST_MAX + 1];
	size_t i, d;
	int json = 0, r;

	if ((r = parse_args(argc, argv, 0, &file, &json, &pcrs,
	    usage_show)) != 0)
		return r > 0 ? EXIT_PASS : EXIT_USAGE;
	if (load(file, &buf, &log) < 0)
		return EXIT_USAGE;
	if (json && (arr = json_object_new_array()) == NULL)
		goto nomem;
	for (i = 0; i < eventlog_count(log); i++) {
		const struct eventlog_event *ev = eventlog_get(log, i);
		const char *tn = eventlog_type_name(ev->type);
		char tbuf[16];

		if (tn == NULL) {
			snprintf(tbuf, sizeof(tbuf), "0x%08x", ev->type);
			tn = tbuf;
		}
		eventlog_describe(ev, desc, sizeof(desc));
		if (json) {
			json_object *o = json_object_new_object(), *dg;

			if (o == NULL || json_object_array_add(arr, o) != 0)
				goto nomem;
			dg = json_object_new_object();
			if (dg == NULL ||
			    json_object_object_add(o, "index",
			    json_object_new_int64((int64_t)ev->index)) ||
			    json_object_object_add(o, "offset",
			    json_object_new_int64((int64_t)ev->offset)) ||
			    json_object_object_add(o, "pcr",
			    json_object_new_int64(ev->pcr)) ||
			    json_object_object_add(o, "type",
			    json_object_new_string(tn)) ||
			    json_object_object_add(o, "type_id",
			    json_object_new_int64(ev->type)) ||
			    json_object_object_add(o, "digests", dg) ||
			    json_object_object_add(o, "data_len",
			    json_object_new_int64(ev->data_len)) ||
			    json_object_object_add(o, "description",
			    json_object_new_string(desc)))
				goto nomem;
			for (d = 0; d < ev->ndigests; d++) {
				const struct pcr_alg *a =
				    pcr_alg_by_id(ev->digests[d].alg);
				hex_encode(ev->digests[d].d, a->size, hex);
				if (json_object_object_add(dg, a->name,
				    json_object_new_string(hex)))
					goto nomem;
			}
			continue;
		}
		printf("%4zu  pcr %2u  %-32s", ev->index, ev->pcr, tn);
		for (d = 0; d < ev->ndigests; d++) {
			const struct pcr_alg *a =
			    pcr_alg_by_id(ev->digests[d].alg);
			hex_encode(ev->digests[d].d, a->size, hex);
			printf(" %s:%s", a->name, hex);
		}
		printf("  %s\n", desc);
	}
	if (json && json_print(arr) < 0)
		goto nomem;
	json_object_put(arr);
	eventlog_free(log);
	free(buf);
	return EXIT_PASS;
nomem:
	ctl_err("out of memory");
	json_object_put(arr);
	eventlog_free(log);
	free(buf);
	return EXIT_USAGE;
}

static int
do_replay(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *file, *pcrs = NULL;
	struct eventlog *log = NULL;
	struct pcr_selection sel;
	struct pcr_set set;
	uint8_t *buf = NULL;
	json_object *root = NULL;
	char hex[2 * PCR_DIGEST_MAX + 1], key[8];
	size_t b, k;
	int json = 0, r, rc = EXIT_USAGE;

	if ((r = parse_args(argc, argv, 1, &file, &json, &pcrs,
	    usage_replay)) != 0)
		return r > 0 ? EXIT_PASS : EXIT_USAGE;
	if (pcrs != NULL && pcr_selection_parse(pcrs, &sel, &e) < 0) {
		ctl_err("--pcrs: %s", e.msg);
		return EXIT_USAGE;
	}
	if (load(file, &buf, &log) < 0)
		return EXIT_USAGE;
	if (eventlog_replay(log, &set, &e) < 0) {
		ctl_err("%s: %s", file, e.msg);
		goto out;
	}
	if (pcrs != NULL)
		for (b = 0; b < sel.nbanks; b++)
			if (pcr_set_bank_const(&set, sel.bank[b].alg) == NULL) {
				ctl_err("%s: bank %s is not in the log", file,
				    alg_name(sel.bank[b].alg));
				goto out;
			}
	if (json && (root = json_object_new_object()) == NULL)
		goto nomem;
	for (b = 0; b < set.nbanks; b++) {
		const struct pcr_bank *bank = &set.bank[b];
		const struct pcr_alg *a = pcr_alg_by_id(bank->alg);
		uint32_t mask = pcrs ? pcr_selection_mask(&sel, bank->alg) :
		    bank->set;
		json_object *jb = NULL;

		if (mask == 0)
			continue;
		if (json) {
			if ((jb = json_object_new_object()) == NULL ||
			    json_object_object_add(root, a->name, jb))
				goto nomem;
		} else
			printf("%s:\n", a->name);
		for (k = 0; k < PCR_NUM; k++) {
			if (!(mask & (1u << k)))
				continue;
			hex_encode(bank->v[k], a->size, hex);
			if (json) {
				snprintf(key, sizeof(key), "%zu", k);
				if (json_object_object_add(jb, key,
				    json_object_new_string(hex)))
					goto nomem;
			} else
				printf("  %2zu: %s\n", k, hex);
		}
	}
	if (json && json_print(root) < 0)
		goto nomem;
	rc = EXIT_PASS;
	goto out;
nomem:
	ctl_err("out of memory");
out:
	json_object_put(root);
	eventlog_free(log);
	free(buf);
	return rc;
}

int
cmd_eventlog(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "show", do_show },
		{ "replay", do_replay },
	};

	return ctl_dispatch("eventlog", subs, ARRAY_SIZE(subs), usage, argc, argv);
}
