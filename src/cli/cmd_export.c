/* tenax export: not built yet (stub until its issue lands). */
#include <stdio.h>

#include "cli/commands.h"

int tx_cmd_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tenax export: not implemented yet\n");
    return 2;
}
