/* Typed field reads and exact number writes of cJSON objects (see io/json.h). */
#include "io/json.h"
#include "triad/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double tr_json_num(const cJSON *j, const char *key, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) {
        *ok = 0;
        return 0.0;
    }
    return v->valuedouble;
}

const char *tr_json_str(const cJSON *j, const char *key, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v)) {
        *ok = 0;
        return "";
    }
    return v->valuestring;
}

int tr_json_bool(const cJSON *j, const char *key, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsBool(v))
        *ok = 0;
    return cJSON_IsTrue(v);
}

void tr_json_add_exact(cJSON *j, const char *key, double x)
{
    TR_ASSERT(isfinite(x));
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", x);
    TR_ASSERT(cJSON_AddRawToObject(j, key, buf) != NULL);
}

void tr_json_add_opt(cJSON *j, const tr_opt_config *c)
{
    cJSON_AddStringToObject(j, "optim", c->kind == TR_OPT_ADAM ? "adam" : "sgd");
    cJSON_AddNumberToObject(j, "lr", (double)c->lr);
    cJSON_AddNumberToObject(j, "momentum", (double)c->momentum);
    cJSON_AddNumberToObject(j, "weight_decay", (double)c->weight_decay);
    cJSON_AddNumberToObject(j, "beta1", (double)c->beta1);
    cJSON_AddNumberToObject(j, "beta2", (double)c->beta2);
    cJSON_AddNumberToObject(j, "eps", (double)c->eps);
}

void tr_json_read_opt(const cJSON *j, tr_opt_config *c, int *ok)
{
    *ok = *ok && !tr_opt_kind_parse(tr_json_str(j, "optim", ok), &c->kind, NULL);
    c->lr = (float)tr_json_num(j, "lr", ok);
    c->momentum = (float)tr_json_num(j, "momentum", ok);
    c->weight_decay = (float)tr_json_num(j, "weight_decay", ok);
    c->beta1 = (float)tr_json_num(j, "beta1", ok);
    c->beta2 = (float)tr_json_num(j, "beta2", ok);
    c->eps = (float)tr_json_num(j, "eps", ok);
}

void tr_json_add_u64(cJSON *j, const char *key, uint64_t x)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)x);
    TR_ASSERT(cJSON_AddStringToObject(j, key, buf) != NULL);
}

uint64_t tr_json_u64(const cJSON *j, const char *key, int *ok)
{
    return strtoull(tr_json_str(j, key, ok), NULL, 10);
}
