/* PLACEHOLDER: replaced by the module owner before commit. */
#include <stdio.h>
#include "tools/vouchctl/vouchctl.h"
int
cmd_verify(int argc, char **argv)
{
	(void)argc; (void)argv;
	ctl_err("verify: not built yet");
	return EXIT_USAGE;
}
