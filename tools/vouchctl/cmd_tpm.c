/* PLACEHOLDER: replaced by the module owner before commit. */
#include <stdio.h>
#include "tools/vouchctl/vouchctl.h"
int
cmd_tpm(int argc, char **argv)
{
	(void)argc; (void)argv;
	ctl_err("tpm: not built yet");
	return EXIT_USAGE;
}
