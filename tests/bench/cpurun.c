/*
 * cpurun: run a command and report what its whole process tree cost.
 *
 *   cpurun [-i ms] [-o FILE] [-t secs] CMD [ARG...]
 *
 * Runs CMD as a child and waits for it. While it runs, every -i ms
 * (default 10) it reads VmHWM of the child (e.g. dater-worker's
 * supervisor) and of the child's own children (its workers), finding new
 * grandchildren by a scan of /proc every 10th tick (this kernel may lack
 * /proc/PID/task/TID/children). VmHWM is a high-water mark, so sampling
 * only has to catch each process before it exits.
 *
 * When CMD exits, RUSAGE_CHILDREN holds the user and system time of the
 * child and of every descendant it waited for (dater-worker's supervisor
 * reaps its workers), and the largest peak RSS among them. With -t, CMD
 * gets SIGTERM after secs seconds and SIGKILL 5 s later (a hung run).
 *
 * Writes one line to FILE (default stdout, after CMD's output):
 *   "status elapsed_us user_us sys_us tree_maxrss_kb child_hwm_kb
 *    grandchild_hwm_kb grandchildren_seen voluntary_csw involuntary_csw"
 * status is CMD's exit status (128+N for signal N). cpurun's own CPU (the
 * sampling) is not in the figures. Exits with CMD's status.
 */
#include <ctype.h>
#include <signal.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_KIDS 1024

static pid_t kids[MAX_KIDS];
static long kid_hwm[MAX_KIDS];
static int nkids;

/* VmHWM of pid in kB, or -1 if it is gone. */
static long
hwm_kb(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmHWM:", 6) == 0) {
			v = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* The parent pid of pid, or -1. */
static pid_t
ppid_of(const char *pid)
{
	char path[300], buf[512], *p;
	FILE *f;
	long pp = -1;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		(void)sscanf(p + 1, " %*c %ld", &pp);
	fclose(f);
	return (pid_t)pp;
}

/* Add the children of parent not yet known. */
static void
scan(pid_t parent)
{
	struct dirent *e;
	DIR *d;
	pid_t pid;
	int i;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (ppid_of(e->d_name) != parent)
			continue;
		pid = (pid_t)strtol(e->d_name, NULL, 10);
		for (i = 0; i < nkids && kids[i] != pid; i++)
			;
		if (i == nkids && nkids < MAX_KIDS) {
			kids[nkids] = pid;
			kid_hwm[nkids++] = 0;
		}
	}
	closedir(d);
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
main(int argc, char *argv[])
{
	struct rusage ru;
	const char *outpath = NULL;
	FILE *out = stdout;
	long interval = 10, limit = 0, v, child_hwm = 0, kids_hwm = 0;
	int64_t t0, elapsed, now;
	int termed = 0;
	pid_t pid, w;
	int ch, i, st = 0, tick = 0, rc;

	while ((ch = getopt(argc, argv, "+i:o:t:")) != -1) {
		switch (ch) {
		case 'i':
			interval = bench_count(optarg, "-i");
			break;
		case 'o':
			outpath = optarg;
			break;
		case 't':
			limit = bench_count(optarg, "-t");
			break;
		default:
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	t0 = bench_mono_us();
	if ((pid = fork()) < 0)
		err(71, "fork");
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		err(127, "exec '%s'", argv[optind]);
	}
	for (;;) {
		if ((w = waitpid(pid, &st, WNOHANG)) == pid)
			break;
		if (w < 0 && errno != EINTR)
			err(71, "waitpid");
		now = bench_mono_us();
		if (limit > 0 && termed == 0 && now - t0 > limit * 1000000) {
			warnx("'%s' still running after %ld s: SIGTERM",
			    argv[optind], limit);
			kill(pid, SIGTERM);
			termed = 1;
		} else if (limit > 0 && termed == 1 &&
		    now - t0 > (limit + 5) * 1000000) {
			warnx("'%s' ignored SIGTERM: SIGKILL", argv[optind]);
			kill(pid, SIGKILL);
			termed = 2;
		}
		if (tick++ % 10 == 0)
			scan(pid);
		if ((v = hwm_kb(pid)) > child_hwm)
			child_hwm = v;
		for (i = 0; i < nkids; i++)
			if ((v = hwm_kb(kids[i])) > kid_hwm[i])
				kid_hwm[i] = v;
		nap_ms(interval);
	}
	elapsed = bench_mono_us() - t0;
	getrusage(RUSAGE_CHILDREN, &ru);
	for (i = 0; i < nkids; i++)
		if (kid_hwm[i] > kids_hwm)
			kids_hwm = kid_hwm[i];
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (outpath != NULL && (out = fopen(outpath, "we")) == NULL)
		err(73, "open '%s'", outpath);
	fprintf(out, "%d %lld %lld %lld %ld %ld %ld %d %ld %ld\n", rc,
	    (long long)elapsed,
	    (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
	    (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
	    ru.ru_maxrss, child_hwm, kids_hwm, nkids, ru.ru_nvcsw,
	    ru.ru_nivcsw);
	if (fclose(out) != 0)
		err(74, "write results");
	return rc;
usage:
	fprintf(stderr, "usage: cpurun [-i ms] [-o file] cmd [arg...]\n");
	return 64;
}
