/* revoke_cmd.h - `fhirpam revoke`: add rules to a deny list, list, check, compact it. */
#ifndef FHIRPAM_TOOLS_REVOKE_CMD_H
#define FHIRPAM_TOOLS_REVOKE_CMD_H

/* argv[0] is "revoke". Returns the process exit status. */
int revoke_cmd_main(int argc, char **argv);

#endif
