/*
 * vouchctl.h - the admin CLI's command table.  Each cmd_*.c file owns one
 * command group; main.c dispatches.  Exit codes everywhere:
 *	0 success / PASS, 1 FAIL (a verdict or a check that found a fault),
 *	2 usage or input error (bad option, unreadable or malformed file).
 * Every command accepts -h/--help.  Output meant for scripts has --json.
 */
#ifndef VOUCHCTL_H
#define VOUCHCTL_H

#include <stddef.h>

#define EXIT_PASS	0
#define EXIT_FAILV	1
#define EXIT_USAGE	2

int cmd_tpm(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_eventlog(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_region(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_challenge(int argc, char **argv);
int cmd_enrol(int argc, char **argv);
int cmd_admin(int argc, char **argv);		/* cmd_admin.c */
/* pairs, protect, unprotect, migrations, migrate (cmd_admin.c) */
int cmd_migrations(int argc, char **argv);
int cmd_host_admin(int argc, char **argv);	/* host show, else cmd_host */
int cmd_guest(int argc, char **argv);		/* cmd_guard.c */
int cmd_guard(int argc, char **argv);		/* cmd_guard.c */

#include <stdio.h>

/* A command group's subcommands, for ctl_dispatch. */
struct ctl_sub {
	const char	*name;
	int		(*fn)(int, char **);
};

/*
 * Run the subcommand argv[1] of group (argv[0] is the group): no argument
 * prints usage to stderr (exit 2); -h, --help or help print it to stdout
 * (exit 0); an unknown name is a usage error listing the known ones.
 */
int ctl_dispatch(const char *group, const struct ctl_sub *subs, size_t n,
    void (*usage)(FILE *), int argc, char **argv);

/* Print "vouchctl: msg" to stderr (for errors with struct vouch_err). */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
