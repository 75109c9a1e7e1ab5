/* Declarations shared by the cgo preamble and shim.c. */
#ifndef PPGO_SHIM_H
#define PPGO_SHIM_H

/* Slice length of every blocking wait: between slices the GIL is taken
 * back and pending signals (Ctrl-C) are delivered to Python. */
#define PPGO_WAIT_SLICE_MS 50

/* Arguments at least this large are copied into Go with the GIL released. */
#define PPGO_RELEASE_GIL_BYTES (1 << 20)

#endif
