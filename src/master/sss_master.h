/*
 * The master process of sss-server: parse the configuration, open the
 * listeners and the shared memory, fork and supervise the workers, drain on
 * SIGTERM/SIGINT. See sss_master.c for the rules it keeps.
 */
#ifndef SSS_MASTER_H
#define SSS_MASTER_H

/*
 * Run the daemon. Returns the process exit status: 0 after --help or a
 * drain, 2 for a bad flag or environment value (one line on stderr), 1 when
 * it could not start (listen, shared memory).
 */
int sss_master_run(int argc, char **argv, char **envp);

#endif
