/*
 * vouchctl - the vouch admin CLI: TPM keys and quotes, verification,
 * event logs, runtime measurement, policies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "tools/vouchctl/vouchctl.h"

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*help;
} commands[] = {
	{ "tpm", cmd_tpm, "TPM keys and quotes: init, quote, pcrread" },
	{ "verify", cmd_verify, "verify evidence (quote + logs) against an AK, nonce, policy" },
	{ "eventlog", cmd_eventlog, "show or replay a TCG firmware event log" },
	{ "measure", cmd_measure, "measure files into the runtime PCR and log" },
	{ "policy", cmd_policy, "check a policy; generate reference values" },
	{ "region", cmd_region, "create the region CA for mutual TLS" },
	{ "host", cmd_host_admin, "issue a host's mutual-TLS certificate; show a host's IVT record" },
	/* hidden (no help line): challenge a vouchd, see cmd_challenge.c */
	{ "challenge", cmd_challenge, NULL },
	{ "enrol", cmd_enrol, "bind an AK to its TPM: challenge, activate, check" },
	{ "status", cmd_admin, "vouch-tcbd: epoch and host counts per state" },
	{ "hosts", cmd_admin, "vouch-tcbd: hosts, states, verifiers" },
	{ "ivt", cmd_admin, "vouch-tcbd: the integrity validation table" },
	{ "rank", cmd_admin, "vouch-tcbd: TRUSTED migration destinations" },
	{ "watch", cmd_admin, "vouch-tcbd: follow state changes live" },
	{ "alerts", cmd_admin, "vouch-tcbd: guard findings hosts sent" },
	{ "pairs", cmd_migrations, "vouch-tcbd: protected target/guard pairs" },
	{ "protect", cmd_migrations, "vouch-tcbd: protect a target VM and its guard" },
	{ "unprotect", cmd_migrations, "vouch-tcbd: stop protecting a target VM" },
	{ "migrations", cmd_migrations, "vouch-tcbd: evacuations and migrations, progress" },
	{ "migrate", cmd_migrations, "vouch-tcbd: co-migrate a target and its guard now" },
	{ "guest", cmd_guest, "a guest read from outside (VMI): ps, info" },
	{ "guard", cmd_guard, "run a guard's checks: check (once), watch" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: vouchctl COMMAND [ARGS...]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].help != NULL)
			fprintf(f, "  %-10s %s\n", commands[i].name,
			    commands[i].help);
	fprintf(f, "\n'vouchctl COMMAND --help' describes a command.\n"
	    "Exit status: 0 success/PASS, 1 FAIL, 2 usage or input error.\n");
}

void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("vouchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
ctl_dispatch(const char *group, const struct ctl_sub *subs, size_t n,
    void (*usage_fn)(FILE *), int argc, char **argv)
{
	char names[256] = "";
	size_t i;

	if (argc < 2) {
		usage_fn(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_fn(stdout);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	for (i = 0; i < n; i++) {
		strncat(names, i ? ", " : "", sizeof(names) - strlen(names) - 1);
		strncat(names, subs[i].name, sizeof(names) - strlen(names) - 1);
	}
	ctl_err("%s: unknown subcommand '%s' (%s)", group, argv[1], names);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("vouchctl", LOG_LVL_WARN, LOG_TO_STDERR);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	ctl_err("unknown command '%s' (see vouchctl --help)", argv[1]);
	return EXIT_USAGE;
}
