/*
 * stack.h - control strings and the stack walk (Linux-PAM's _pam_dispatch_aux).
 *
 * The engine is a pure function over a flattened stack: no I/O, no allocation,
 * no knowledge of modules. The caller gives it the entries and a callback that
 * runs entry i and returns its code; the engine returns the final code, which
 * entry decided, and the list of entries it called with the action taken.
 * See ../shared/ref/pam-semantics.md §0-§4 and §7 for the rules reproduced.
 */
#ifndef FHIRPAM_CORE_STACK_H
#define FHIRPAM_CORE_STACK_H

#include <fhirpam/fhirpam.h>
#include <stdbool.h>
#include <stddef.h>

/* Actions. Values > 0 are jumps over that many same-level entries. */
enum {
    STACK_ACTION_IGNORE = 0,
    STACK_ACTION_OK = -1,
    STACK_ACTION_DONE = -2,
    STACK_ACTION_BAD = -3,
    STACK_ACTION_DIE = -4,
    STACK_ACTION_RESET = -5,
};

/* Deepest nesting of substacks and includes together (levels 0..15). */
#define STACK_MAX_DEPTH 16

/* One action per module return code. */
typedef struct stack_control {
    int actions[FHIRPAM_CODE_COUNT];
} stack_control;

/*
 * Parse a control string: one of the keywords `required`, `requisite`,
 * `sufficient`, `optional` (expanded to the bracket forms of pam-semantics.md
 * §2), or `[value=action ...]` with the code words of fhirpam_code_name() and
 * `default` as values and ignore/ok/done/bad/die/reset or a decimal N > 0 as
 * actions. Words match exactly (no prefixes, no case folding); pairs are
 * separated by whitespace. As in Linux-PAM, a later `value=` overrides an
 * earlier one, `default=` fills only entries still unset, and any code left
 * unset is `bad`. Unlike Linux-PAM, a string that does not parse is an error
 * (returns -1 with a message in err), never silently "all bad".
 * `include` and `substack` are not controls: the config handles them.
 */
int stack_control_parse(const char *text, stack_control *out, char *err, size_t errlen);

/* The action as config text ("ok", "bad", "3", ...): a static word, or a
 * jump count written into buf. */
const char *stack_action_text(int action, char *buf, size_t buflen);

/* One entry of a flattened stack. */
typedef struct stack_entry {
    unsigned level;        /* 0 at top, +1 inside each substack */
    bool substack_marker;  /* marks the start of a substack; never called */
    stack_control control; /* unused for markers */
} stack_entry;

/* Runs entry i (never a marker) and returns its code. A value outside
 * 0..FHIRPAM_CODE_COUNT-1 is taken as FHIRPAM_ERROR with action bad. */
typedef fhirpam_code (*stack_call_fn)(void *cookie, size_t entry);

/* One module call as the walk saw it. */
typedef struct stack_step {
    size_t entry;
    fhirpam_code code; /* as returned (after the out-of-range mapping) */
    int action;        /* the action taken */
} stack_step;

typedef struct stack_result {
    fhirpam_code code;  /* the final code (success is the only permit) */
    long decider;       /* entry whose code is the final code, or -1 when no
                           module's code is (initial deny, bad jump, or the
                           end-of-stack sanity check) */
    bool bad_jump;      /* a jump could not be completed */
    bool sanity_denied; /* the end-of-stack check turned success into deny */
    size_t nsteps;      /* entries called, in order, in steps[] */
} stack_result;

/*
 * Walk entries[0..n) as Linux-PAM walks a module chain. `steps` must have room
 * for n entries (each entry runs at most once). Thread-safe; no allocation.
 */
void stack_run(const stack_entry *entries, size_t n, stack_call_fn call, void *cookie,
               stack_step *steps, stack_result *result);

#endif
