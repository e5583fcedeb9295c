/* Typed field reads of cJSON objects (see io/json.h). */
#include "io/json.h"

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
