/*
 * sss_fault: named crash points, for the tests that reproduce a fault at an
 * exact instruction instead of hoping a random kill lands there.
 *
 * SSS_FAULT_POINT("name") marks a point. A process whose environment has
 * SSS_FAULT="name:nth[:stop]" (several comma-separated) SIGKILLs itself the
 * nth time it passes that point (SIGSTOPs itself with ":stop").
 * SSS_FAULT_HIT("name") is a point where the code fakes the fault itself
 * (say, a connection lost before its replies were read): it is true on the
 * nth pass, and nothing is signalled. With
 * SSS_FAULT_DIR set to a directory, each point fires once across all the
 * processes sharing that directory (it leaves a marker file named after the
 * point), so a process restarted with the same environment does not die at
 * the same place again. Points are counted per process.
 *
 * Compiled in only with SSS_FAULT_INJECTION (the dev and asan builds; the
 * CMake option of that name); otherwise the macro is empty. A process without
 * SSS_FAULT pays one predictable branch per point. libc only, like the rest
 * of shm/, so the bus itself can have points.
 */
#ifndef SSS_FAULT_H
#define SSS_FAULT_H

#ifdef SSS_FAULT_INJECTION
/* Counts a pass of point `name` and fires if SSS_FAULT says so (see above). */
void sss_fault_point(const char *name);
/* Counts a pass of point `name`: 1 if SSS_FAULT names it and this is its nth pass. */
int sss_fault_hit(const char *name);
/* Reads SSS_FAULT again and restarts the counts (a unit test that sets it late). */
void sss_fault_reload(void);
#define SSS_FAULT_POINT(name) sss_fault_point(name)
#define SSS_FAULT_HIT(name) sss_fault_hit(name)
#else
#define SSS_FAULT_POINT(name) ((void)0)
#define SSS_FAULT_HIT(name) 0
#endif

#endif
