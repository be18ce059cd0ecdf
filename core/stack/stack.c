/*
 * stack.c - control strings and the stack walk.
 *
 * The walk is Linux-PAM 1.5.2's _pam_dispatch_aux() restated over an array
 * (pam-semantics.md §4); tests/test_pam_parity.c runs the real libpam beside
 * it. Where this file looks odd (done that does not stop, jumps that deny,
 * reset that forgets failures), it is because Linux-PAM does the same.
 */
#include "stack.h"

#include <stdio.h>
#include <string.h>

/* Largest jump accepted in a control string: no stack can be longer. */
#define STACK_MAX_JUMP 1024

static const struct {
    const char *word;
    int action;
} action_words[] = {
    {"ignore", STACK_ACTION_IGNORE}, {"ok", STACK_ACTION_OK},   {"done", STACK_ACTION_DONE},
    {"bad", STACK_ACTION_BAD},       {"die", STACK_ACTION_DIE}, {"reset", STACK_ACTION_RESET},
};

/* The four keywords as Linux-PAM expands them (pam-semantics.md §2). PAM's
 * new_authtok_reqd has no fhirpam counterpart. */
static const struct {
    const char *word;
    int on_success;
    int on_ignore;
    int otherwise;
} keywords[] = {
    {"required", STACK_ACTION_OK, STACK_ACTION_IGNORE, STACK_ACTION_BAD},
    {"requisite", STACK_ACTION_OK, STACK_ACTION_IGNORE, STACK_ACTION_DIE},
    {"sufficient", STACK_ACTION_DONE, STACK_ACTION_IGNORE, STACK_ACTION_IGNORE},
    {"optional", STACK_ACTION_OK, STACK_ACTION_IGNORE, STACK_ACTION_IGNORE},
};

/* Marks an action not yet set while a bracket form is parsed. */
#define ACTION_UNSET (-100)

static int parse_action(const char *s, size_t len, int *action)
{
    for (size_t i = 0; i < sizeof action_words / sizeof action_words[0]; i++) {
        if (strlen(action_words[i].word) == len && memcmp(action_words[i].word, s, len) == 0) {
            *action = action_words[i].action;
            return 0;
        }
    }
    if (len == 0 || len > 4 || s[0] == '0')
        return -1;
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    if (n > STACK_MAX_JUMP)
        return -1;
    *action = n;
    return 0;
}

static int parse_pair(const char *s, size_t len, int *actions, int *default_action, char *err,
                      size_t errlen)
{
    const char *eq = memchr(s, '=', len);
    if (eq == NULL) {
        snprintf(err, errlen, "'%.*s' is not value=action", (int)len, s);
        return -1;
    }
    size_t vlen = (size_t)(eq - s);
    int action;
    if (parse_action(eq + 1, len - vlen - 1, &action) != 0) {
        snprintf(err, errlen,
                 "'%.*s' is not an action (ignore, ok, done, bad, die, reset or a jump 1..%d)",
                 (int)(len - vlen - 1), eq + 1, STACK_MAX_JUMP);
        return -1;
    }
    if (vlen == 7 && memcmp(s, "default", 7) == 0) {
        /* Like Linux-PAM: the first default wins, later ones find nothing
         * left to fill. Defaults are applied after all pairs are read. */
        if (*default_action == ACTION_UNSET)
            *default_action = action;
        return 0;
    }
    char word[32];
    if (vlen == 0 || vlen >= sizeof word) {
        snprintf(err, errlen, "'%.*s' is not a return code", (int)vlen, s);
        return -1;
    }
    memcpy(word, s, vlen);
    word[vlen] = '\0';
    fhirpam_code code;
    if (fhirpam_code_from_name(word, &code) != 0) {
        snprintf(err, errlen, "'%s' is not a return code", word);
        return -1;
    }
    actions[code] = action;
    return 0;
}

static int parse_brackets(const char *text, stack_control *out, char *err, size_t errlen)
{
    size_t len = strlen(text);
    if (len < 2 || text[len - 1] != ']') {
        snprintf(err, errlen, "control '%s' has no closing ']'", text);
        return -1;
    }
    int actions[FHIRPAM_CODE_COUNT];
    int default_action = ACTION_UNSET;
    for (int i = 0; i < FHIRPAM_CODE_COUNT; i++)
        actions[i] = ACTION_UNSET;

    const char *p = text + 1, *end = text + len - 1;
    size_t pairs = 0;
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            p++;
            continue;
        }
        const char *q = p;
        while (q < end && *q != ' ' && *q != '\t' && *q != '\n')
            q++;
        if (parse_pair(p, (size_t)(q - p), actions, &default_action, err, errlen) != 0)
            return -1;
        pairs++;
        p = q;
    }
    if (pairs == 0) {
        snprintf(err, errlen, "control '%s' is empty", text);
        return -1;
    }
    /* `default` fills what is still unset; whatever stays unset is bad. */
    for (int i = 0; i < FHIRPAM_CODE_COUNT; i++) {
        if (actions[i] == ACTION_UNSET)
            actions[i] = default_action != ACTION_UNSET ? default_action : STACK_ACTION_BAD;
        out->actions[i] = actions[i];
    }
    return 0;
}

int stack_control_parse(const char *text, stack_control *out, char *err, size_t errlen)
{
    if (text[0] == '[')
        return parse_brackets(text, out, err, errlen);
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
        if (strcmp(text, keywords[k].word) != 0)
            continue;
        for (int i = 0; i < FHIRPAM_CODE_COUNT; i++)
            out->actions[i] = keywords[k].otherwise;
        out->actions[FHIRPAM_SUCCESS] = keywords[k].on_success;
        out->actions[FHIRPAM_IGNORE] = keywords[k].on_ignore;
        return 0;
    }
    snprintf(
        err, errlen,
        "unknown control '%s' (required, requisite, sufficient, optional or [value=action ...])",
        text);
    return -1;
}

const char *stack_action_text(int action, char *buf, size_t buflen)
{
    for (size_t i = 0; i < sizeof action_words / sizeof action_words[0]; i++) {
        if (action_words[i].action == action)
            return action_words[i].word;
    }
    snprintf(buf, buflen, "%d", action);
    return buf;
}

/* ---- the walk ---- */

enum impression { IMPRESSION_NEGATIVE = -1, IMPRESSION_UNDEF = 0, IMPRESSION_POSITIVE = 1 };

/* Where the current status came from, so the caller can explain it. */
#define ORIGIN_INITIAL  (-1)
#define ORIGIN_BAD_JUMP (-2)

typedef struct walk_state {
    enum impression impression;
    fhirpam_code status;
    long origin; /* entry index, ORIGIN_INITIAL or ORIGIN_BAD_JUMP */
} walk_state;

/* Index of the last entry of the run that starts after `i` and stays deeper
 * than `level` (a substack's contents), or `i` itself when there is none. */
static size_t skip_deeper(const stack_entry *entries, size_t n, size_t i, unsigned level)
{
    while (i + 1 < n && entries[i + 1].level > level)
        i++;
    return i;
}

void stack_run(const stack_entry *entries, size_t n, stack_call_fn call, void *cookie,
               stack_step *steps, stack_result *result)
{
    walk_state st = {IMPRESSION_UNDEF, FHIRPAM_DENY, ORIGIN_INITIAL};
    walk_state saved[STACK_MAX_DEPTH];
    saved[0] = st;
    unsigned prev_level = 0, cur_level = 0;
    size_t nsteps = 0;

    /* prev_level is the level of the last entry the walk stopped at, not of
     * the last one a jump or a stop passed over, as in Linux-PAM. */
    for (size_t i = 0; i < n; prev_level = cur_level, i++) {
        const stack_entry *e = &entries[i];
        cur_level = e->level;
        unsigned level = e->level < STACK_MAX_DEPTH ? e->level : STACK_MAX_DEPTH - 1;
        if (e->level > prev_level)
            saved[level] = st;
        if (e->substack_marker)
            continue;

        int raw = call(cookie, i);
        fhirpam_code code;
        int action;
        if (raw < 0 || raw >= FHIRPAM_CODE_COUNT) {
            code = FHIRPAM_ERROR;
            action = STACK_ACTION_BAD;
        } else {
            code = (fhirpam_code)raw;
            action = e->control.actions[code];
        }
        steps[nsteps++] = (stack_step){.entry = i, .code = code, .action = action};

        bool stop = false;
        switch (action) {
        case STACK_ACTION_RESET:
            st = saved[level];
            break;
        case STACK_ACTION_OK:
        case STACK_ACTION_DONE:
            if (st.impression == IMPRESSION_UNDEF ||
                (st.impression == IMPRESSION_POSITIVE && st.status == FHIRPAM_SUCCESS)) {
                st = (walk_state){IMPRESSION_POSITIVE, code, (long)i};
            }
            /* done ends the level only on a positive impression: a sufficient
             * success after a failure neither records nor stops. */
            stop = action == STACK_ACTION_DONE && st.impression == IMPRESSION_POSITIVE;
            break;
        case STACK_ACTION_BAD:
        case STACK_ACTION_DIE:
            /* First failure wins; an ignore that fails is a deny. */
            if (st.impression != IMPRESSION_NEGATIVE) {
                fhirpam_code failed = code == FHIRPAM_IGNORE ? FHIRPAM_DENY : code;
                st = (walk_state){IMPRESSION_NEGATIVE, failed, (long)i};
            }
            stop = action == STACK_ACTION_DIE;
            break;
        case STACK_ACTION_IGNORE:
            break;
        default: {
            /* A jump over `action` entries of this level, a substack counting
             * as one. It may not leave the current (sub)stack: if it cannot be
             * completed the walk records a deny, whatever came before. */
            int left = action;
            while (left > 0 && i + 1 < n && entries[i + 1].level >= e->level) {
                i = skip_deeper(entries, n, i + 1, e->level);
                left--;
            }
            if (left > 0)
                st = (walk_state){IMPRESSION_NEGATIVE, FHIRPAM_DENY, ORIGIN_BAD_JUMP};
            break;
        }
        }
        if (stop) {
            /* The rest of this level: to the end of the substack, or of all. */
            while (i + 1 < n && entries[i + 1].level >= e->level)
                i++;
        }
    }

    result->nsteps = nsteps;
    result->bad_jump = st.origin == ORIGIN_BAD_JUMP;
    result->sanity_denied = false;
    /* Success is final only on a positive impression: a `bad` or `die` on
     * success leaves success recorded under a negative impression. */
    if (st.status == FHIRPAM_SUCCESS && st.impression != IMPRESSION_POSITIVE) {
        st.status = FHIRPAM_DENY;
        st.origin = ORIGIN_INITIAL;
        result->sanity_denied = true;
    }
    result->code = st.status;
    result->decider = st.origin >= 0 ? st.origin : -1;
}
