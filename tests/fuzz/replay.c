/*
 * replay: main() for a fuzz harness without libFuzzer (`make
 * fuzz-regress`, any compiler): runs every file named, and every file in
 * every directory named, through LLVMFuzzerTestOneInput once, in name
 * order. A crash or sanitizer report is the harness failing; exit 0
 * after all of them ran, 66 if an argument cannot be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "fuzz.h"
#include "../../lib/banned.h"

static int
run_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL;
	long n;
	int rc = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		(void)LLVMFuzzerTestOneInput(buf, (size_t)n);
		rc = 0;
	} else
		perror(path);
	free(buf);
	fclose(f);
	return rc;
}

static int
run_dir(const char *dir, int *count)
{
	struct dirent **names;
	char path[4096];
	int n, i, rc = 0;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		perror(dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && rc == 0) {
			if (snprintf(path, sizeof(path), "%s/%s", dir,
			    names[i]->d_name) >= (int)sizeof(path) ||
			    run_file(path) < 0)
				rc = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i, count = 0;

	(void)LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			perror(argv[i]);
			return EX_NOINPUT;
		}
		if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) < 0)
				return EX_NOINPUT;
		} else if (run_file(argv[i]) < 0)
			return EX_NOINPUT;
		else
			count++;
	}
	printf("%s: %d inputs replayed\n", argv[0], count);
	return 0;
}
