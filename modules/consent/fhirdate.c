/* fhirdate.c - see fhirdate.h. */
#include "fhirdate.h"

#include <string.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H.
 * Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int64_t m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* n digits at *p into *out; advances p. */
static bool digits(const char **p, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

bool fhirdate_parse(const char *text, int64_t *first, int64_t *after)
{
    const char *p = text;
    int64_t y, mo = 1, d = 1, h = 0, mi = 0, s = 0;
    if (text == NULL || !digits(&p, 4, &y) || y < 1)
        return false;
    if (*p == '\0') {
        *first = days_from_civil(y, 1, 1) * 86400;
        *after = days_from_civil(y + 1, 1, 1) * 86400;
        return true;
    }
    if (*p++ != '-' || !digits(&p, 2, &mo) || mo < 1 || mo > 12)
        return false;
    if (*p == '\0') {
        *first = days_from_civil(y, mo, 1) * 86400;
        *after = (mo == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, mo + 1, 1)) * 86400;
        return true;
    }
    if (*p++ != '-' || !digits(&p, 2, &d) || d < 1 || d > days_in_month(y, mo))
        return false;
    int64_t day = days_from_civil(y, mo, d);
    if (*p == '\0') {
        *first = day * 86400;
        *after = (day + 1) * 86400;
        return true;
    }
    if (*p++ != 'T' || !digits(&p, 2, &h) || h > 23 || *p++ != ':' || !digits(&p, 2, &mi) ||
        mi > 59 || *p++ != ':' || !digits(&p, 2, &s) || s > 60)
        return false;
    if (*p == '.') {
        p++;
        size_t n = strspn(p, "0123456789");
        if (n < 1 || n > 9)
            return false;
        p += n; /* fractions: the second they fall in */
    }
    int64_t offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int64_t oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 14 || om > 59)
            return false;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return false; /* a time needs a zone (FHIR dateTime) */
    }
    if (*p != '\0')
        return false;
    *first = day * 86400 + h * 3600 + mi * 60 + s - offset;
    *after = *first + 1;
    return true;
}
