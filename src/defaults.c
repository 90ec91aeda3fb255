/* defaults.c -- the rule that reads DEFAULT_IDEMPOTENT (see defaults.h). */
#include <string.h>

#include "defaults.h"

int defaults_idempotent(const char *method)
{
#define DEFAULTS_IS(name) if (strcmp(method, #name) == 0) return 1;
    DEFAULT_IDEMPOTENT(DEFAULTS_IS)
#undef DEFAULTS_IS
    return 0;
}
