/*
 * atomic: replace a named file as a whole. Used by dater-report -o and
 * by dater-migrate backup (through dbfile_backup).
 *
 * The name given by a user may be an existing regular file or a new
 * name, nothing else: a symbolic link, a device, a FIFO, a socket or a
 * directory there is refused (lstat, so a link is judged as itself, not
 * as what it points to), before anything is written and once more just
 * before the rename. The data goes to a temporary file in the same
 * directory (so the rename stays on one file system), created with
 * exactly the mode asked for whatever the umask, flushed and fsynced;
 * then it is renamed over the name and the directory is fsynced. A
 * reader sees the old file or the new one, never half of one; on any
 * failure the temporary file is removed and the name is untouched.
 *
 * What is not covered: someone who can write to the directory can still
 * swap the name between the last check and the rename; rename(2) then
 * replaces that entry itself (a link is replaced, never followed).
 *
 * Errors go to an err buffer (the callers put them in a log line or a
 * job's errors); nothing is logged here.
 */
#ifndef DATER_ATOMIC_H
#define DATER_ATOMIC_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

/* atomic_* results besides 0 */
enum atomic_result {
	ATOMIC_OK = 0,
	ATOMIC_IO = -1,		/* writing, flushing or fsyncing failed */
	ATOMIC_CANTCREAT = -2	/* refused target, or cannot create or
				 * rename in its directory */
};

struct atomic_file {
	char path[PATH_MAX];	/* the name to replace */
	char tmp[PATH_MAX];	/* the temporary file beside it */
	FILE *f;		/* open on tmp while in use; write here */
};

/*
 * Whether path may be replaced: 0 when nothing is there (ENOENT) or it
 * is a regular file; ATOMIC_CANTCREAT with the reason in err when it is
 * anything else or lstat fails otherwise (its parent missing is fine
 * here: creating the temporary file reports that).
 */
int atomic_check(const char *path, char *err, size_t len);

/*
 * Check path (atomic_check) and create a temporary file for it in its
 * directory, named ".BASENAME.XXXXXX", with exactly mode. Fills af (its
 * stream is then af->f). Returns 0, or ATOMIC_CANTCREAT with err (af
 * holds nothing to release).
 */
int atomic_open(struct atomic_file *af, const char *path, mode_t mode,
    char *err, size_t len);

/*
 * Flush, fsync and close af->f, check the target again, rename the
 * temporary file over it and fsync the directory. On every result af is
 * released (the temporary file closed, and removed unless renamed).
 * Returns ATOMIC_OK, ATOMIC_IO (a write, flush or fsync failed) or
 * ATOMIC_CANTCREAT (refused or cannot rename), with err.
 */
int atomic_commit(struct atomic_file *af, char *err, size_t len);

/* Give up: close and remove the temporary file. Safe on a zeroed or
 * already released af. */
void atomic_abort(struct atomic_file *af);

/*
 * Put the complete file tmp (already written and fsynced, in path's
 * directory) in place of path: check path, rename, fsync the directory.
 * tmp is left in place on failure (the caller removes it). Returns
 * ATOMIC_OK, ATOMIC_CANTCREAT or ATOMIC_IO (the directory fsync), with
 * err.
 */
int atomic_replace(const char *tmp, const char *path, char *err,
    size_t len);

#endif
