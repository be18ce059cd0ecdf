/*
 * trusted.h - opening the files fhirpam trusts: the configuration, its key
 * sets, the modules and the isolation worker (design §3).
 *
 * A trusted file is named by an absolute path and opened once, by a walk from
 * "/" that opens every directory on the way with O_NOFOLLOW and checks it on
 * its descriptor, then opens the file itself the same way. Everything after
 * that uses the descriptor, so nothing can be swapped between the check and
 * the use.
 */
#ifndef FHIRPAM_CORE_TRUSTED_H
#define FHIRPAM_CORE_TRUSTED_H

#include <stddef.h>

/*
 * Open the file at `path` read-only, requiring OpenPAM's rule
 * (openpam_check_path_owner_perms) of the file and of every directory from
 * "/" down to it: owned by root or by the effective user, not writable by
 * group or others (a sticky world-writable directory such as /tmp included),
 * no symbolic link anywhere, the file a regular file. `path` must be
 * absolute; "." and ".." segments are resolved by name (no symbolic link is
 * followed, so that is where the walk goes anyway). Returns the descriptor
 * (O_CLOEXEC), or -1 with a sentence in why ("is world-writable (mode
 * 0757)", "lies under /srv/mods, which is group-writable (mode 0775)", ...).
 * Thread-safe.
 */
int trusted_open(const char *path, char *why, size_t whylen);

/* The file checks of trusted_open() on a descriptor already open (for
 * writing, say: the audit file): a regular file, owned by root or the
 * effective user, not group- or world-writable. 0, or -1 with why filled. */
int trusted_check_fd(int fd, char *why, size_t whylen);

/* Read a trusted file whole, refusing more than max_bytes. Returns a
 * NUL-terminated buffer the caller frees, or NULL with why filled. */
char *trusted_read(const char *path, size_t max_bytes, size_t *len, char *why, size_t whylen);

/* Read an open descriptor whole (from its current offset), refusing more
 * than max_bytes. The same contract as trusted_read; fd stays open. */
char *read_whole(int fd, size_t max_bytes, size_t *len, char *why, size_t whylen);

/*
 * `path` made absolute against the working directory, for paths a host or a
 * command line gives relative: taken once, at fhirpam_open(), so that a
 * reload reads the same files wherever the host has moved since. A copy the
 * caller frees; NULL when out of memory or the working directory is gone.
 */
char *path_absolute(const char *path);

#endif
