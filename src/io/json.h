/*
 * io/json.h - private to src/: typed reads of the fields of a cJSON object
 * (run-state and config headers), and exact writes of doubles. A missing field or one of another type
 * clears *ok and yields a neutral value (0, "", false), so that a caller can
 * read every field and then refuse the object once, naming the file.
 */
#ifndef TRIAD_IO_JSON_H
#define TRIAD_IO_JSON_H

#include "triad/optim.h"

#include <cJSON.h>

double tr_json_num(const cJSON *j, const char *key, int *ok);
const char *tr_json_str(const cJSON *j, const char *key, int *ok);
int tr_json_bool(const cJSON *j, const char *key, int *ok);
/* Adds a finite number written with 17 significant digits, so that
 * tr_json_num reads back exactly the same double (cJSON's own writer may
 * round to 15 digits): running sums and scores that a resumed run must
 * continue bit for bit. */
void tr_json_add_exact(cJSON *j, const char *key, double x);
/* A 64-bit unsigned value (seeds, random-stream states) as a decimal
 * string, which JSON numbers (doubles) cannot hold exactly, and back. */
void tr_json_add_u64(cJSON *j, const char *key, uint64_t x);
uint64_t tr_json_u64(const cJSON *j, const char *key, int *ok);
/* An optimiser's configuration as the fields optim, lr, momentum,
 * weight_decay, beta1, beta2 and eps of j, and back (a missing or bad field
 * clears *ok). */
void tr_json_add_opt(cJSON *j, const tr_opt_config *c);
void tr_json_read_opt(const cJSON *j, tr_opt_config *c, int *ok);

#endif
