/*
 * patch.h - where a patched resource ends up: JSON Patch (RFC 6902) applied
 * whole, FHIRPath Patch (FHIR R4 §3.1.0.13, a Parameters resource) applied
 * where its operations are plain element paths. patient_link checks the
 * result against the compartment, so that a PATCH cannot move a resource
 * out of the patient's compartment or into it.
 */
#ifndef FHIRPAM_PATIENT_LINK_PATCH_H
#define FHIRPAM_PATIENT_LINK_PATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Applies the JSON Patch `ops` (an array) to a copy of `doc` and returns it
 * (the caller owns it), or NULL with `why` when the patch is malformed or
 * would fail on this resource (a path that does not exist, a failed
 * "test"): the server would then refuse it, and patient_link refuses it too.
 */
json_t *json_patch_apply(const json_t *doc, const json_t *ops, char *why, size_t whylen);

/*
 * Applies the FHIRPath Patch `params` (a Parameters resource) to a copy of
 * `doc`. Operations whose path is a plain chain of element names from the
 * resource type (`Observation.subject`, `Observation.subject.reference`)
 * are applied. An operation this code cannot evaluate (a function, an
 * index, another root) is skipped when its first element is not in
 * `guarded` (elements that decide where the resource belongs, NULL-
 * terminated), and fails the whole patch when it is: a resource must never
 * end up somewhere patient_link did not see. NULL with `why` on failure.
 */
json_t *fhirpath_patch_apply(const json_t *doc, const json_t *params, const char *const *guarded,
                             char *why, size_t whylen);

/*
 * The first element name each operation of a patch touches, for checks
 * that need no stored resource (Patient.link, A18): calls `fn` with each
 * name ("" when the operation addresses the whole resource or cannot be
 * read). Returns false when the patch is not a JSON or FHIRPath Patch.
 */
bool patch_touched(const json_t *patch, const char *type, void (*fn)(const char *, void *),
                   void *arg);

#endif
