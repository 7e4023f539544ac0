/* sss-server: Super Scaled Sockets. Everything happens in sss_master_run. */
#include "sss_master.h"

int main(int argc, char **argv, char **envp)
{
    return sss_master_run(argc, argv, envp);
}
