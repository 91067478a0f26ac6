/*
 * rtlog.c - crash-safe appends to the runtime measurement log; the
 * order and the locking are explained in rtlog.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"
#include "measure/imalog.h"
#include "measure/rtlog.h"

#define RTLOG_LINE_MAX	(IMALOG_MAX_PATH + 256)

int
rtlog_lock(const char *log, int shared, int *fdp, struct vouch_err *e)
{
	char *copy, *dir;
	int fd, r;

	if ((copy = strdup(log)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	dir = dirname(copy);
	r = dir_create(dir, 0755, e);
	free(copy);
	if (r < 0)
		return r;
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", log,
		    strerror(errno));
	while (flock(fd, shared ? LOCK_SH : LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		r = vouch_err_set(e, VOUCH_E_IO, "lock %s: %s", log,
		    strerror(errno));
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

int
rtlog_measure(const char *log, uint32_t pcr, uint16_t file_alg,
    const uint8_t *digest, const char *path, const uint16_t *banks,
    size_t nbanks, rtlog_extend_fn extend, void *arg, char *line_out,
    size_t cap, struct vouch_err *e)
{
	struct ima_entry ent;
	struct pcr_digest d[PCR_BANKS_MAX];
	uint8_t *td = NULL;
	char *line = NULL;
	size_t tdlen, i, tdcap = RTLOG_LINE_MAX + 128;
	int fd = -1, r;

	memset(&ent, 0, sizeof(ent));
	if (nbanks > PCR_BANKS_MAX)
		return vouch_err_set(e, VOUCH_E_INVAL, "%zu banks (max %d)",
		    nbanks, PCR_BANKS_MAX);
	if ((td = malloc(tdcap)) == NULL ||
	    (line = malloc(RTLOG_LINE_MAX)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = ima_entry_make(&ent, pcr, file_alg, digest, path, e)) < 0 ||
	    (r = ima_entry_format(&ent, line, RTLOG_LINE_MAX, e)) < 0 ||
	    (r = ima_entry_template_data(&ent, td, tdcap, &tdlen, e)) < 0) {
		vouch_err_prefix(e, "%s", path);
		goto out;
	}
	/* Every digest is computed before anything is written. */
	for (i = 0; i < nbanks; i++) {
		d[i].alg = banks[i];
		if ((r = pcr_hash(banks[i], td, tdlen, d[i].d, e)) < 0) {
			vouch_err_prefix(e, "%s: TPM bank", path);
			goto out;
		}
	}
	if ((r = rtlog_lock(log, 0, &fd, e)) < 0 ||
	    (r = file_append_sync(log, line, strlen(line), e)) < 0)
		goto out;
	if (extend != NULL && (r = extend(arg, pcr, d, nbanks, e)) < 0) {
		vouch_err_prefix(e, "%s: PCR %u extend failed after the log "
		    "line was written (the log is now ahead of the TPM by this "
		    "entry)", path, pcr);
		goto out;
	}
	if (line_out != NULL && cap > 0) {
		strncpy(line_out, line, cap - 1);
		line_out[cap - 1] = '\0';
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);	/* releases the lock */
	ima_entry_clear(&ent);
	free(td);
	free(line);
	return r;
}
