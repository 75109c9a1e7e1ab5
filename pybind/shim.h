/* Declarations shared by the cgo preamble (main.go) and shim.c: the one
 * contract between the Go exports and the Python module. */
#ifndef PPGO_SHIM_H
#define PPGO_SHIM_H

/* How every export reports, unless it returns nothing: a result >= 0 is
 * success (a handle, a job id, a count or a flag, as each says);
 * PPGO_CLOSED means the handle is unknown or freed, or its server is closed
 * (Python sees pp._core.Closed, a pp.DestroyedServerError); PPGO_ERROR
 * means *errOut holds a malloc'd message the shim frees (Python sees a
 * ValueError, a RuntimeError from new()). */
#define PPGO_CLOSED (-1)
#define PPGO_ERROR (-2)

/* How a job ended, as Python sees it (pp._core.STATUS_*); main.go maps
 * core/sched's statuses onto these. */
#define PPGO_STATUS_DONE 0
#define PPGO_STATUS_FAILED 1
#define PPGO_STATUS_CANCELLED 2   /* by cancel(), or by close() before it completed */
#define PPGO_STATUS_TIMED_OUT 3   /* ran past its timeout; its worker was killed */

/* One node (the local pool or a ppserver) as ppgoNodes describes it; name
 * is malloc'd, like the array. */
struct ppgo_node {
    char *name;
    long long workers, running, jobs;
    int connected;
    double busy_seconds;
};

/* Slice length of every blocking wait: between slices the GIL is taken
 * back and pending signals (Ctrl-C) are delivered to Python. */
#define PPGO_WAIT_SLICE_MS 50

/* Arguments at least this large are copied into Go with the GIL released. */
#define PPGO_RELEASE_GIL_BYTES (1 << 20)

#endif
