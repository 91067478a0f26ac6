/*
 * vouchctl policy check FILE...
 * vouchctl policy refvals [--template FILE] [--eventlog FILE]
 *                         [--runtime-log FILE] [--measure] [-o OUT]
 *
 * refvals writes a complete policy: the template's attestation and measure
 * sections, plus reference values taken from a known-good host's firmware
 * event log (every extending event of a quoted, non-runtime PCR, in each
 * quoted bank), its runtime log, and/or a fresh hash of every file the
 * template's measure.files names (--measure).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"
#include "measure/eventlog.h"
#include "measure/imalog.h"
#include "attest/policy.h"
#include "tools/vouchctl/vouchctl.h"

static void
policy_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl policy check [--json] FILE...\n"
	    "       vouchctl policy refvals [--template FILE] [--eventlog FILE]\n"
	    "                               [--runtime-log FILE] [--measure] [-o OUT]\n"
	    "\n"
	    "check    validate policies completely; errors name file:line: field.\n"
	    "refvals  write a policy with reference values from a known-good host:\n"
	    "  --template FILE     policy whose attestation/measure sections are kept\n"
	    "                      (default: the built-in defaults, sha256:0-9,23)\n"
	    "  --eventlog FILE     firmware event log (binary_bios_measurements)\n"
	    "  --runtime-log FILE  runtime log (ima-ng ASCII, e.g. vouchctl measure's)\n"
	    "  --measure           hash the template's measure.files on this host now\n"
	    "  -o OUT              output file (default: standard output)\n");
}

static int
policy_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i, json = 0, bad = 0;
	json_object *arr;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': policy_usage(stdout); return 0;
		default: policy_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		policy_usage(stderr);
		return EXIT_USAGE;
	}
	arr = json_object_new_array();
	for (i = optind; i < argc; i++) {
		struct vouch_err e = VOUCH_ERR_INIT;
		struct policy *p = NULL;
		int r = policy_load(argv[i], &p, &e);

		if (json) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "file",
			    json_object_new_string(argv[i]));
			json_object_object_add(o, "ok",
			    json_object_new_boolean(r == 0));
			json_object_object_add(o, r == 0 ? "name" : "error",
			    json_object_new_string(r == 0 ? policy_name(p) : e.msg));
			json_object_array_add(arr, o);
		} else if (r == 0) {
			printf("%s: ok (policy '%s')\n", argv[i], policy_name(p));
		} else {
			fprintf(stderr, "%s\n", e.msg);
		}
		if (r < 0)
			bad++;
		policy_free(p);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return bad ? EXIT_FAILV : 0;
}


static void
emit_digest(FILE *f, uint16_t alg, const uint8_t *d)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);
	char hex[2 * PCR_DIGEST_MAX + 1];

	hex_encode(d, a->size, hex);
	fprintf(f, "%s:%s", a->name, hex);
}

/* Quote a string for libconfig: escape " and \, drop control bytes. */
static void
emit_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
			fputc(*s, f);
	}
	fputc('"', f);
}

static int
emit_boot(FILE *f, const struct policy *p, const char *path, int *first)
{
	const struct pcr_selection *sel = policy_pcrs(p);
	struct vouch_err e = VOUCH_ERR_INIT;
	struct eventlog *log = NULL;
	uint8_t *buf = NULL;
	size_t len, i, b, k;
	int r;

	if ((r = file_read(path, EVENTLOG_MAX_SIZE, &buf, &len, &e)) < 0 ||
	    (r = eventlog_parse(buf, len, &log, &e)) < 0) {
		ctl_err("%s: %s", path, e.msg);
		free(buf);
		return EXIT_USAGE;
	}
	for (i = 0; i < eventlog_count(log); i++) {
		const struct eventlog_event *ev = eventlog_get(log, i);
		char desc[160];
		const char *tn;

		if (ev->type == EV_NO_ACTION || ev->pcr >= PCR_NUM ||
		    ev->pcr == policy_runtime_pcr(p))
			continue;
		tn = eventlog_type_name(ev->type);
		eventlog_describe(ev, desc, sizeof(desc));
		for (b = 0; b < sel->nbanks; b++) {
			if (!(sel->bank[b].mask & (1u << ev->pcr)))
				continue;
			for (k = 0; k < ev->ndigests; k++) {
				if (ev->digests[k].alg != sel->bank[b].alg)
					continue;
				fprintf(f, "%s    { pcr = %u; digest = \"", *first ?
				    "" : ",\n", ev->pcr);
				emit_digest(f, ev->digests[k].alg, ev->digests[k].d);
				fprintf(f, "\";");
				if (tn != NULL)
					fprintf(f, " type = \"%s\";", tn);
				else
					fprintf(f, " type = \"0x%08x\";", ev->type);
				fprintf(f, " desc = ");
				emit_string(f, desc);
				fprintf(f, "; }");
				*first = 0;
			}
		}
	}
	eventlog_free(log);
	free(buf);
	return 0;
}

static int
emit_runtime_log(FILE *f, const char *path, int *first)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ima_log *log = NULL;
	uint8_t *buf = NULL;
	size_t len, i;

	if (file_read(path, IMALOG_MAX_SIZE, &buf, &len, &e) < 0 ||
	    imalog_parse((const char *)buf, len, &log, &e) < 0) {
		ctl_err("%s: %s", path, e.msg);
		free(buf);
		return EXIT_USAGE;
	}
	for (i = 0; i < imalog_count(log); i++) {
		const struct ima_entry *ent = imalog_get(log, i);

		if (ima_entry_is_violation(ent))
			continue;
		fprintf(f, "%s    { path = ", *first ? "" : ",\n");
		emit_string(f, ent->path);
		fprintf(f, "; digest = \"");
		emit_digest(f, ent->file_alg, ent->file_digest);
		fprintf(f, "\"; }");
		*first = 0;
	}
	imalog_free(log);
	free(buf);
	return 0;
}

static int
emit_measured(FILE *f, const struct policy *p, int *first)
{
	const char *const *files;
	size_t n = policy_files(p, &files), i;

	for (i = 0; i < n; i++) {
		struct vouch_err e = VOUCH_ERR_INIT;
		uint8_t d[PCR_DIGEST_MAX];

		if (measure_file(files[i], PCR_ALG_SHA256, d, &e) < 0) {
			ctl_err("%s", e.msg);
			return EXIT_USAGE;
		}
		fprintf(f, "%s    { path = ", *first ? "" : ",\n");
		emit_string(f, files[i]);
		fprintf(f, "; digest = \"");
		emit_digest(f, PCR_ALG_SHA256, d);
		fprintf(f, "\"; }");
		*first = 0;
	}
	return 0;
}

static int
policy_refvals(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "eventlog", required_argument, NULL, 'e' },
		{ "runtime-log", required_argument, NULL, 'r' },
		{ "measure", no_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmpl = NULL, *evlog = NULL, *rtlog = NULL, *outpath = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct policy *p = NULL;
	const char *const *files;
	char sel[256], *text = NULL;
	size_t textlen = 0, i, n;
	int c, measure = 0, first, r = 0;
	FILE *f;

	optind = 1;
	while ((c = getopt_long(argc, argv, "t:e:r:mo:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': tmpl = optarg; break;
		case 'e': evlog = optarg; break;
		case 'r': rtlog = optarg; break;
		case 'm': measure = 1; break;
		case 'o': outpath = optarg; break;
		case 'h': policy_usage(stdout); return 0;
		default: policy_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (!evlog && !rtlog && !measure)) {
		ctl_err("policy refvals: give --eventlog, --runtime-log and/or --measure");
		return EXIT_USAGE;
	}
	r = tmpl ? policy_load(tmpl, &p, &e) :
	    policy_load_string("defaults", "version = 1;", &p, &e);
	if (r < 0) {
		ctl_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if ((f = open_memstream(&text, &textlen)) == NULL) {
		policy_free(p);
		ctl_err("out of memory");
		return EXIT_USAGE;
	}
	pcr_selection_format(policy_pcrs(p), sel, sizeof(sel));
	fprintf(f, "# Generated by 'vouchctl policy refvals'%s%s.\n"
	    "# Reference values come from a host assumed good at generation "
	    "time:\n# review them before deploying this policy.\n",
	    tmpl ? " from template " : "", tmpl ? tmpl : "");
	fprintf(f, "version = 1;\nname = ");
	emit_string(f, policy_name(p));
	fprintf(f, ";\n\nattestation = {\n  pcrs = \"%s\";\n  runtime_pcr = %u;\n"
	    "  ak = \"%s\";\n", sel, policy_runtime_pcr(p),
	    policy_ak_type(p) ? "rsa" : "ecc");
	if (policy_ignore_mask(p) != 0) {
		int k, any = 0;
		fprintf(f, "  ignore_pcrs = [");
		for (k = 0; k < PCR_NUM; k++)
			if (policy_ignore_mask(p) & (1u << k))
				fprintf(f, "%s %d", any++ ? "," : "", k);
		fprintf(f, " ];\n");
	}
	fprintf(f, "};\n\nmeasure = {\n  interval = %u;\n  files = [",
	    policy_measure_interval(p));
	n = policy_files(p, &files);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		emit_string(f, files[i]);
	}
	fprintf(f, "%s];\n};\n\nreference = {\n  boot = (\n", n ? "\n  " : " ");
	first = 1;
	if (evlog != NULL)
		r = emit_boot(f, p, evlog, &first);
	fprintf(f, "%s  );\n  runtime = (\n", first ? "" : "\n");
	first = 1;
	if (r == 0 && rtlog != NULL)
		r = emit_runtime_log(f, rtlog, &first);
	if (r == 0 && measure)
		r = emit_measured(f, p, &first);
	fprintf(f, "%s  );\n};\n", first ? "" : "\n");
	fclose(f);
	policy_free(p);
	p = NULL;

	/* Check our own output before handing it out. */
	if (r == 0 && policy_load_string(outpath ? outpath : "output", text, &p,
	    &e) < 0) {
		ctl_err("internal error: generated policy does not load: %s", e.msg);
		r = EXIT_USAGE;
	}
	policy_free(p);
	if (r == 0) {
		if (outpath == NULL || strcmp(outpath, "-") == 0) {
			fwrite(text, 1, textlen, stdout);
		} else if (file_write_atomic(outpath, text, textlen, 0644, &e) < 0) {
			ctl_err("%s", e.msg);
			r = EXIT_USAGE;
		} else
			fprintf(stderr, "wrote %s\n", outpath);
	}
	free(text);
	return r;
}

int
cmd_policy(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "check", policy_check },
		{ "refvals", policy_refvals },
	};

	return ctl_dispatch("policy", subs, ARRAY_SIZE(subs), policy_usage, argc, argv);
}
