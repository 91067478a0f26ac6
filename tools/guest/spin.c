/*
 * spin - the lab guest's CPU loop for measuring how much a guard slows a
 * guest: counts iterations of a fixed arithmetic kernel for SECONDS of
 * the guest's monotonic clock and prints "iterations=N centiseconds=C".
 * Static, libc only; built into the initramfs by tools/guest/labguest.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	volatile unsigned long x = 1;
	unsigned long n = 0;
	double secs = argc > 1 ? atof(argv[1]) : 1, t0 = now(), t;
	int i;

	do {
		for (i = 0; i < 10000; i++)
			x = x * 6364136223846793005ul + 1442695040888963407ul;
		n += 10000;
		t = now();
	} while (t - t0 < secs);
	printf("iterations=%lu centiseconds=%.0f\n", n, (t - t0) * 100);
	return 0;
}
