/* token_cmd.h - `fhirpam token keygen|sign`: demo and test keys and tokens. */
#ifndef FHIRPAM_TOOLS_TOKEN_CMD_H
#define FHIRPAM_TOOLS_TOKEN_CMD_H

/* argv[0] is "token". Returns the process exit status. */
int token_cmd_main(int argc, char **argv);

#endif
