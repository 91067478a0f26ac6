/*
 * json.h - small helpers shared by the json-c parsers (evidence, guard
 * state, orders): error texts name the kind of value that was found.
 */
#ifndef VOUCH_COMMON_JSON_H
#define VOUCH_COMMON_JSON_H

#include <json.h>

/* "a string", "an object", ... for "expected X, got Y" messages. */
const char *json_type_label(json_type t);

#endif
