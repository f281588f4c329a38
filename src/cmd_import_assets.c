/* pgpulse import-assets DIR: placeholder until the assets module lands. */
#include <stdio.h>

#include "cli.h"

int cmd_import_assets(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("import-assets", "not implemented yet");
    return CLI_FAIL;
}
