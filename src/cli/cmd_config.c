/* tenax config: not built yet (stub until its issue lands). */
#include <stdio.h>

#include "cli/commands.h"

int tx_cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tenax config: not implemented yet\n");
    return 2;
}
