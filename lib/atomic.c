/*
 * atomic: see atomic.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "banned.h"

static int
errf(char *err, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fill err and return rc. */
static int
errf(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *
kind(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

int
atomic_check(const char *path, char *err, size_t len)
{
	struct stat st;

	if (path[0] == '\0')
		return errf(err, len, ATOMIC_CANTCREAT, "empty file name");
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return errf(err, len, ATOMIC_CANTCREAT, "'%s': %s", path,
		    strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return errf(err, len, ATOMIC_CANTCREAT, "'%s' is %s: refusing "
		    "to replace it (give a regular file or a new name)", path,
		    kind(st.st_mode));
	return 0;
}

/* The directory of path into dir (".", for a bare name). */
static int
dir_of(const char *path, char *dir, size_t len)
{
	char copy[PATH_MAX];

	if (strlcpy(copy, path, sizeof(copy)) >= sizeof(copy) ||
	    strlcpy(dir, dirname(copy), len) >= len)
		return -1;
	return 0;
}

int
atomic_open(struct atomic_file *af, const char *path, mode_t mode,
    char *err, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX];
	int fd, n, rc;

	memset(af, 0, sizeof(*af));
	if ((rc = atomic_check(path, err, len)) != 0)
		return rc;
	if (strlcpy(af->path, path, sizeof(af->path)) >= sizeof(af->path) ||
	    dir_of(path, dir, sizeof(dir)) < 0 ||
	    strlcpy(base, path, sizeof(base)) >= sizeof(base))
		return errf(err, len, ATOMIC_CANTCREAT, "'%s': path too long",
		    path);
	n = snprintf(af->tmp, sizeof(af->tmp), "%s/.%s.XXXXXX", dir,
	    basename(base));
	if (n < 0 || (size_t)n >= sizeof(af->tmp))
		return errf(err, len, ATOMIC_CANTCREAT, "'%s': path too long",
		    path);
	if ((fd = mkstemp(af->tmp)) < 0)
		return errf(err, len, ATOMIC_CANTCREAT, "create '%s': %s",
		    af->tmp, strerror(errno));
	if (fchmod(fd, mode) < 0 || (af->f = fdopen(fd, "w")) == NULL) {
		errf(err, len, ATOMIC_CANTCREAT, "create '%s': %s", af->tmp,
		    strerror(errno));
		close(fd);
		unlink(af->tmp);
		af->tmp[0] = '\0';
		return ATOMIC_CANTCREAT;
	}
	return 0;
}

void
atomic_abort(struct atomic_file *af)
{
	if (af->f != NULL)
		fclose(af->f);
	af->f = NULL;
	if (af->tmp[0] != '\0')
		unlink(af->tmp);
	af->tmp[0] = '\0';
}

static int
fsync_dir(const char *path, char *err, size_t len)
{
	char dir[PATH_MAX];
	int fd, rc;

	if (dir_of(path, dir, sizeof(dir)) < 0)
		return errf(err, len, ATOMIC_IO, "'%s': path too long", path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(err, len, ATOMIC_IO, "open '%s': %s", dir,
		    strerror(errno));
	rc = fsync(fd);
	close(fd);
	if (rc < 0)
		return errf(err, len, ATOMIC_IO, "fsync '%s': %s", dir,
		    strerror(errno));
	return 0;
}

int
atomic_replace(const char *tmp, const char *path, char *err, size_t len)
{
	int rc;

	if ((rc = atomic_check(path, err, len)) != 0)
		return rc;
	if (rename(tmp, path) < 0)
		return errf(err, len, ATOMIC_CANTCREAT, "rename '%s' to "
		    "'%s': %s", tmp, path, strerror(errno));
	return fsync_dir(path, err, len);
}

int
atomic_commit(struct atomic_file *af, char *err, size_t len)
{
	FILE *f = af->f;
	int rc;

	af->f = NULL;
	if (fflush(f) == EOF || ferror(f) || fsync(fileno(f)) < 0) {
		errf(err, len, ATOMIC_IO, "write '%s': %s", af->tmp,
		    errno != 0 ? strerror(errno) : "stream error");
		fclose(f);
		atomic_abort(af);
		return ATOMIC_IO;
	}
	if (fclose(f) == EOF) {
		errf(err, len, ATOMIC_IO, "write '%s': %s", af->tmp,
		    strerror(errno));
		atomic_abort(af);
		return ATOMIC_IO;
	}
	if ((rc = atomic_replace(af->tmp, af->path, err, len)) ==
	    ATOMIC_CANTCREAT) {
		atomic_abort(af);
		return rc;
	}
	af->tmp[0] = '\0';	/* renamed: nothing left to remove */
	return rc;
}
