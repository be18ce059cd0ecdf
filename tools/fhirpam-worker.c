/*
 * fhirpam-worker - runs one stack line's module for a fhirpam host, in a
 * process of its own (isolation = "process", core/stack/isolate.h). The
 * host starts it with its socket on descriptor 3 and the module's sealed
 * image on 4; it is not a command.
 */
#include "isolate.h"

int main(void)
{
    return isolate_serve(3, 4);
}
