/*
 * conf.h - libconfig loading with "file:line: field: message" errors.
 *
 * Schema checks are the caller's (each config owner validates its own
 * tree completely), with these helpers so every error names the file,
 * line and dotted field path at fault, and unknown keys are errors.
 */
#ifndef VOUCH_CONF_H
#define VOUCH_CONF_H

#include <stdint.h>
#include <libconfig.h>

#include "err.h"

/*
 * Parse path into *cfg (config_init'ed here; caller config_destroy()s it
 * on success and on failure).  Syntax errors become "file:line: msg".
 */
int conf_load(const char *path, config_t *cfg, struct vouch_err *e);
/* Same, from a string; name is used in messages. */
int conf_load_string(const char *name, const char *text, config_t *cfg,
    struct vouch_err *e);

/* Set *e to "file:line: path.to.field: <fmt>" and return VOUCH_E_CONFIG. */
int conf_error(struct vouch_err *e, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Every member of group/list element s must be named in allowed (NULL
 * terminated); otherwise "unknown key 'x'".
 */
int conf_check_keys(const config_setting_t *s, const char *const *allowed,
    struct vouch_err *e);

/*
 * Typed getters for a member "name" of group s.  required: missing is an
 * error; otherwise *out keeps its value (the default) and 0 is returned.
 * Wrong type or out-of-range values are errors naming the field.
 */
int conf_get_string(const config_setting_t *s, const char *name, int required,
    const char **out, struct vouch_err *e);
int conf_get_int(const config_setting_t *s, const char *name, int required,
    long long min, long long max, long long *out, struct vouch_err *e);
int conf_get_bool(const config_setting_t *s, const char *name, int required,
    int *out, struct vouch_err *e);

#endif
