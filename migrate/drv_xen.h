/*
 * drv_xen.h - the Xen driver of the migration engine (driver.h ops over
 * libxl 4.17), the counterpart of `xl migrate -p`: the destination copy
 * is restored and left paused until the engine resumes it.
 *
 * A handle names a domain by name or domid.  mig_xen_open() binds it to
 * the domain that has that name/domid now (a source, or any local VM);
 * a NAME that does not exist yet gives an unbound handle, a destination
 * placeholder: incoming() creates the domain under that name (the name
 * in the sender's config is replaced, so on a single Xen host the
 * destination simply uses another name).  A handle is never re-bound by
 * name later: a destination handle must not pick up some other domain
 * that happens to carry the name.
 *
 * States (libxl_domain_info):  not found, or dying -> GONE;
 *	shut down for suspend: FINISHMIGRATE while this handle streams it,
 *	POSTMIGRATE once the stream completed, else SHUTDOWN;
 *	other shutdown -> SHUTDOWN; paused -> PAUSED; else RUNNING;
 *	unbound handle -> INMIGRATE while incoming() runs, else GONE.
 * pause/resume/destroy of a gone domain: VOUCH_E_NOTFOUND.  resume of a
 * domain suspended by a migration is libxl_domain_resume (cooperative,
 * suspend_cancel), else libxl_domain_unpause.
 *
 * The stream (uri "tcp:HOST:PORT", HOST an address or name, IPv6 in
 * brackets) is a sequence of wire.h frames, in plain TCP or inside the
 * mutual TLS of tls.h; the save stream itself is libxl's, opaque here:
 *
 *	sender				receiver (listening)
 *	MIG_CONFIG {FORMAT "vouch-xen-migration 1",
 *	            JSON <libxl_domain_config>}  ->
 *				<-	MIG_READY | ERROR code,msg
 *	MIG_DATA (1..256 KiB of the libxl save stream) ...  ->
 *	MIG_END {TOTAL} | ERROR (the sender failed)  ->
 *				<-	MIG_RESULT {TOTAL} (domain restored,
 *					paused) | ERROR code,msg
 *
 * (docs/protocol.md, conversation 7; bounds in wire.h.)  Each side pumps
 * between its connection and a socketpair
 * handed to libxl (libxl_domain_suspend with LIBXL_SUSPEND_LIVE, or
 * libxl_domain_create_restore, both synchronous in a thread of their
 * own), so the TLS layer never meets libxl.
 *
 * TLS: tls->dir holds QEMU's file names (driver.h): the sender uses
 * client-cert.pem, client-key.pem, ca-cert.pem and requires the server
 * certificate to name tls->peer_name (required); the receiver uses
 * server-cert.pem, server-key.pem, ca-cert.pem and accepts any client
 * certificate of the region CA.
 *
 * migrate() returns once the receiver answered READY (so a refused
 * certificate, a wrong peer name or a busy receiver fail there); the
 * rest runs in threads, seen through progress().  The sender's domain
 * is never destroyed by the driver: after success it stays suspended
 * (POSTMIGRATE) until destroy(); after a failure or cancel it is resumed
 * (libxl_domain_resume) as xl does.  incoming() returns once listening;
 * connections that fail TLS or send a bad CONFIG are dropped and the
 * listener keeps waiting; after READY the incoming is committed: a
 * failure leaves no domain (libxl destroys a half-restored one; a
 * restored domain whose stream then proves bad is destroyed here).
 * cancel() stops a stream by shutting its socket and waits for the
 * threads (a receiver in a TLS handshake with a stalled client notices
 * only when the 10 s handshake timeout ends).  destroy() cancels a
 * running stream first; on a gone or unbound handle it is
 * VOUCH_E_NOTFOUND (nothing to remove: cleanup may treat it as done).  progress(): transferred = save-stream bytes pumped; total =
 * the sender's guest memory (0 at the receiver); remaining and
 * downtime_ms are not reported by libxl (0).  window_detach/attach:
 * VOUCH_E_UNSUPPORTED (on Xen the guard's window is a FLASK policy
 * matter, not a device).  close() cancels a running stream (so a
 * sender's domain is resumed) and forgets the handle; it never destroys
 * a domain.
 *
 * libxl: one libxl_ctx per handle (libxl_ctx is thread-safe), a logger
 * that drops messages (library code does not log), synchronous calls
 * (NULL ao_how).  libxl owns SIGCHLD while it has children (its
 * default).  Writes to a vanished TLS peer raise SIGPIPE: ignore it.
 */
#ifndef VOUCH_MIGRATE_DRV_XEN_H
#define VOUCH_MIGRATE_DRV_XEN_H

#include <stdint.h>

#include "common/err.h"
#include "migrate/driver.h"

/* libxl's ERROR_DOMAIN_NOTFOUND (asserted equal in drv_xen.c). */
#define MIG_XEN_ERR_NOTFOUND	(-21)

/* What the driver needs of libxl_dominfo. */
struct mig_xen_dominfo {
	int		paused;
	int		shutdown;
	int		suspended;	/* shutdown, reason suspend */
	int		dying;
	uint64_t	mem_bytes;	/* current_memkb * 1024 */
};

/*
 * The slice of libxl the driver calls.  Every int result is 0 or a
 * libxl ERROR_* code (negative); ctx is whatever open() returned.  The
 * default (mig_xen_api_default) calls the real library; tests pass a
 * fake hypervisor.
 */
struct mig_xen_api {
	/* libxl_ctx_alloc(LIBXL_VERSION, null logger); NULL on failure */
	void *(*open)(void);
	void (*close)(void *ctx);			/* libxl_ctx_free */
	/* libxl_name_to_domid; non-zero if no such name */
	int (*name_to_domid)(void *ctx, const char *name, uint32_t *domid);
	/* libxl_domain_info; MIG_XEN_ERR_NOTFOUND if no such domain */
	int (*domain_info)(void *ctx, uint32_t domid,
	    struct mig_xen_dominfo *info);
	int (*pause)(void *ctx, uint32_t domid);	/* libxl_domain_pause */
	int (*unpause)(void *ctx, uint32_t domid);	/* libxl_domain_unpause */
	/* libxl_domain_resume(suspend_cancel = 1): undo a suspend */
	int (*resume)(void *ctx, uint32_t domid);
	int (*destroy)(void *ctx, uint32_t domid);	/* libxl_domain_destroy */
	/*
	 * libxl_retrieve_domain_configuration + libxl_domain_config_to_json;
	 * *json malloc'd (caller frees).
	 */
	int (*config_json)(void *ctx, uint32_t domid, char **json);
	/*
	 * libxl_domain_suspend(domid, fd, LIBXL_SUSPEND_LIVE): write the
	 * save stream to fd; the domain is left suspended on success.
	 * Does not close fd.
	 */
	int (*suspend)(void *ctx, uint32_t domid, int fd);
	/*
	 * libxl_domain_config_from_json(json), c_info.name = name, then
	 * libxl_domain_create_restore from fd (stream version 2, not
	 * checkpointed, no send-back fd).  The new domain is left paused;
	 * *domid on success.  Does not close fd.
	 */
	int (*create_restore)(void *ctx, const char *json, const char *name,
	    int fd, uint32_t *domid);
};
extern const struct mig_xen_api mig_xen_api_default;

/*
 * Open a handle on domain (a name, or a decimal domid which must exist:
 * VOUCH_E_NOTFOUND otherwise).  api NULL = the real libxl.  *out (freed
 * by ops->close) only on success.
 */
int mig_xen_open(const char *domain, const struct mig_xen_api *api,
    struct mig_vm **out, struct vouch_err *e);

#endif
