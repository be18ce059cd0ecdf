/*
 * binding.c - see binding.h. The per-request part is two branches for a
 * bearer token (binding_needed once, the test before binding_enforce); the
 * rest runs only for bound tokens and for `fhirpam check`.
 */
#include "binding.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnf.h"
#include "codes.h"
#include "token.h"

FHIRPAM_API int fhirpam_binding_verified(fhirpam_authz *az, fhirpam_binding kind)
{
    /* Only a module that says it verifies bindings can vouch for one: what
     * `fhirpam check` reports then holds. */
    if (az == NULL || !(az->module_flags & FHIRPAM_MODULE_VERIFIES_BINDING))
        return -1;
    if (kind != FHIRPAM_BINDING_DPOP && kind != FHIRPAM_BINDING_MTLS &&
        kind != FHIRPAM_BINDING_OTHER)
        return -1;
    az->binding_verified |= (unsigned)kind;
    return 0;
}

/* Appends `what` to the list in text (separated by "; "). */
static void add_clause(char *text, size_t size, const char *what)
{
    size_t used = strlen(text);
    snprintf(text + used, size - used, "%s%s", text[used - 1] == ':' ? " " : "; ", what);
}

void binding_enforce(const struct fhirpam_authz *az, struct fhirpam_decision *d)
{
    unsigned missing = az->binding_needed & ~az->binding_verified;
    if (missing == 0)
        return;
    unsigned token_binding = az->token != NULL ? verified_token_identity(az->token)->binding : 0;
    bool bearer = az->token_scheme == NULL || strcmp(az->token_scheme, "DPoP") != 0;
    /* "which binding": each one missing, with what it needs. */
    char text[640];
    snprintf(text, sizeof text,
             "stack '%s' permitted, but no module verified the binding this request needs:",
             az->stack_name);
    if (missing & CNF_UNVERIFIABLE)
        add_clause(text, sizeof text,
                   "cnf: an object naming a confirmation method, which it is not (RFC 7800 §3.1)");
    if ((missing & FHIRPAM_BINDING_DPOP) && !(token_binding & FHIRPAM_BINDING_DPOP))
        add_clause(text, sizeof text,
                   "the DPoP scheme: a DPoP proof by the key the token is bound to, and the token "
                   "has no cnf.jkt (RFC 9449 §7.1)");
    else if ((missing & FHIRPAM_BINDING_DPOP) && bearer)
        add_clause(
            text, sizeof text,
            "cnf.jkt: the DPoP scheme and a DPoP proof by that key, as a DPoP-bound token is "
            "not a Bearer token (RFC 9449 §7.2)");
    else if (missing & FHIRPAM_BINDING_DPOP)
        add_clause(text, sizeof text, "cnf.jkt: a DPoP proof by that key (RFC 9449 §7.1)");
    if (missing & FHIRPAM_BINDING_MTLS)
        add_clause(text, sizeof text,
                   "cnf.x5t#S256: the client certificate it names (RFC 8705 §3)");
    if (missing & FHIRPAM_BINDING_OTHER)
        add_clause(text, sizeof text,
                   "cnf: a module that knows one of its confirmation methods (RFC 7800 §3.1)");
    decision_conclude(d, FHIRPAM_UNTRUSTED_DEVICE, "", "unverified_binding", text, true);
    /* RFC 9449 §7.1 for a DPoP-bound token or the DPoP scheme (the client
     * must use DPoP), RFC 6750 §3.1 otherwise. */
    d->www_authenticate = decision_intern_str(d, (az->binding_needed & FHIRPAM_BINDING_DPOP)
                                                     ? "DPoP error=\"invalid_token\""
                                                     : "Bearer error=\"invalid_token\"");
}

/* ---- fhirpam check ---- */

static bool stack_can_verify(const flat_stack *fs)
{
    /* Flattened: the lines of its includes and substacks are here too. */
    for (size_t i = 0; i < fs->n; i++) {
        const config_line *l = fs->lines[i];
        if (l != NULL && (l->file->flags & FHIRPAM_MODULE_VERIFIES_BINDING))
            return true;
    }
    return false;
}

typedef struct warning_list {
    char **items;
    size_t n;
    bool failed;
} warning_list;

static void warn(warning_list *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(warning_list *w, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char **grown = w->failed ? NULL : realloc(w->items, (w->n + 1) * sizeof *grown);
    char *copy = grown != NULL ? strdup(text) : NULL;
    if (grown != NULL)
        w->items = grown;
    if (copy == NULL)
        w->failed = true;
    else
        w->items[w->n++] = copy;
}

size_t binding_config_warnings(const config *c, char ***warnings)
{
    warning_list w = {0};
    bool enforced = c->verifier == NULL || token_verifier_enforces_binding(c->verifier);
    if (!enforced)
        warn(&w, "token.unverified_binding = \"allow\": bound tokens (cnf) and DPoP requests are "
                 "permitted on stacks that do not verify their binding, which RFC 9449 §7.2 and "
                 "RFC 8705 §3 forbid");
    for (size_t i = 0; i < c->nstacks; i++) {
        const flat_stack *fs = &c->stacks[i];
        if (!fs->token_required || stack_can_verify(fs))
            continue;
        if (enforced)
            warn(&w,
                 "stack %s: bound tokens will be denied (unverified_binding): no line of it, "
                 "with its includes and substacks, can verify a binding; add device_trust "
                 "(bind = \"any\" lets unbound tokens through)",
                 fs->name);
        else
            warn(&w,
                 "stack %s: bound tokens are permitted without their binding being verified "
                 "(token.unverified_binding = \"allow\")",
                 fs->name);
    }
    if (w.failed) {
        fhirpam_free_strings(w.items, w.n);
        w.items = NULL;
        w.n = 0;
    }
    *warnings = w.items;
    return w.n;
}
