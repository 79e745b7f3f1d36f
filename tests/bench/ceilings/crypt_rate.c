/*
 * tests/bench/ceilings/crypt_rate.c: the login ceiling of `make bench`.
 *
 *   ceil-crypt PROCS COST SECONDS [NICE]
 *
 * Forks PROCS processes; each checks one password against one real bcrypt
 * hash ("$2b$", cost COST, its setting from crypt_gensalt_rn) with crypt_rn,
 * in a loop, for SECONDS (and at most 100 000 times), then reports how many
 * it did in how long. With NICE (0 to 19), each process first runs at the
 * CPU priority latch's login processes give their hashing: a session of
 * its own, so an autogroup of its own on Linux, with that nice value for
 * itself and for the autogroup (run.sh passes the login processes' own),
 * and SCHED_IDLE.
 * Prints one line:
 *
 *   procs=P cost=C nice=N seconds=S hashes=H rate=R
 *
 * with R the sum of every process's hashes per second of its own run.
 *
 * Why it is a fair ceiling: a correct login costs latch one such check (the
 * verification of the stored hash), and nothing can make it cheaper at
 * that cost, so bcrypt alone on as many processes as latch gives logins,
 * on the same machine in the same run, is the most logins per second
 * latch could answer. Everything else a login does (the limiter's SQL,
 * the session insert, two tokens) is what the 0.90 target leaves room for.
 * libxcrypt only; nothing of latch's code.
 */
#include <crypt.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 64
#define MAX_HASHES 100000L

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Parses a whole number in [lo, hi] from s; -1 when it is not one. */
static long
number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

/* This process at nice n, in an autogroup of its own at nice n (where the
 * system has autogroups; elsewhere nice alone), as SCHED_IDLE: the
 * priority of latch's hashing thread (lib/server.c). */
static void
lower_priority(int n)
{
	struct sched_param none = { 0 };
	char v[8];
	int fd, len;

	(void)setsid();
	if (setpriority(PRIO_PROCESS, 0, n) != 0)
		perror("ceil-crypt: setpriority");
	if (sched_setscheduler(0, SCHED_IDLE, &none) != 0)
		perror("ceil-crypt: sched_setscheduler");
	if ((fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC)) < 0)
		return;
	len = snprintf(v, sizeof v, "%d", n);
	/* Linux takes one such write per 100 ms from unprivileged processes
	 * (EAGAIN): retry for a second at most. */
	for (int i = 0; i < 20 && write(fd, v, (size_t)len) != (ssize_t)len;
	    i++) {
		if (errno != EAGAIN || i == 19) {
			perror("ceil-crypt: /proc/self/autogroup");
			break;
		}
		nanosleep(&(struct timespec){ 0, 50000000L }, NULL);
	}
	close(fd);
}

/* One process's loop: writes "hashes seconds\n" to fd; 0 on success. */
static int
hash_loop(int cost, double seconds, int fd)
{
	static const char password[] = "bench-password-1";
	struct crypt_data *cd = calloc(1, sizeof *cd);
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], hash[CRYPT_OUTPUT_SIZE];
	const char *out;
	double start, elapsed;
	long n = 0;
	char line[64];
	int len;

	if (cd == NULL)
		return -1;
	if (crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, setting,
	    sizeof setting) == NULL || setting[0] == '*') {
		fprintf(stderr, "ceil-crypt: crypt_gensalt_rn failed\n");
		free(cd);
		return -1;
	}
	/* The stored hash a login checks against. */
	out = crypt_rn(password, setting, cd, sizeof *cd);
	if (out == NULL || out[0] == '*' || strlen(out) >= sizeof hash) {
		fprintf(stderr, "ceil-crypt: crypt_rn failed\n");
		free(cd);
		return -1;
	}
	memcpy(hash, out, strlen(out) + 1);
	start = now_s();
	do {
		out = crypt_rn(password, hash, cd, sizeof *cd);
		if (out == NULL || strcmp(out, hash) != 0) {
			fprintf(stderr, "ceil-crypt: the check failed\n");
			free(cd);
			return -1;
		}
		n++;
		elapsed = now_s() - start;
	} while (elapsed < seconds && n < MAX_HASHES);
	free(cd);
	len = snprintf(line, sizeof line, "%ld %.6f\n", n, elapsed);
	return len > 0 && write(fd, line, (size_t)len) == (ssize_t)len ? 0 : -1;
}

int
main(int argc, char **argv)
{
	long procs, cost, secs, nice = 0, hashes = 0, n;
	double rate = 0, elapsed, longest = 0;
	pid_t pids[MAX_PROCS];
	int fds[2], i, status, failed = 0;
	FILE *in;

	if ((argc != 4 && argc != 5) ||
	    (procs = number(argv[1], 1, MAX_PROCS)) < 0 ||
	    (cost = number(argv[2], 4, 31)) < 0 ||
	    (secs = number(argv[3], 1, 3600)) < 0 ||
	    (argc == 5 && (nice = number(argv[4], 0, 19)) < 0)) {
		fprintf(stderr, "usage: ceil-crypt PROCS(1-%d) COST(4-31) "
		    "SECONDS(1-3600) [NICE(0-19)]\n", MAX_PROCS);
		return 2;
	}
	if (pipe(fds) != 0) {
		perror("ceil-crypt: pipe");
		return 1;
	}
	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("ceil-crypt: fork");
			procs = i;
			failed = 1;
			break;
		}
		if (pids[i] == 0) {
			close(fds[0]);
			if (argc == 5)
				lower_priority((int)nice);
			_exit(hash_loop((int)cost, (double)secs, fds[1]) == 0 ?
			    0 : 1);
		}
	}
	close(fds[1]);
	/* Lines of at most 64 bytes are written whole (PIPE_BUF). */
	if ((in = fdopen(fds[0], "r")) == NULL) {
		perror("ceil-crypt: fdopen");
		return 1;
	}
	while (fscanf(in, "%ld %lf", &n, &elapsed) == 2) {
		hashes += n;
		if (elapsed > 0)
			rate += (double)n / elapsed;
		if (elapsed > longest)
			longest = elapsed;
	}
	fclose(in);
	for (i = 0; i < procs; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed)
		return 1;
	printf("procs=%ld cost=%ld nice=%ld seconds=%.3f hashes=%ld rate=%.2f\n",
	    procs, cost, nice, longest, hashes, rate);
	return 0;
}
