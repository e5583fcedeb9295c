/* Typed field reads and exact number writes of cJSON objects (see io/json.h). */
#include "io/json.h"
#include "triad/core.h"

#include <math.h>
#include <stdio.h>

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
