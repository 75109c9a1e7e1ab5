/* The pp._core extension module: method table, argument parsing, GIL
 * release and errors. Everything else is in Go (main.go); shim.h is the
 * contract between the two. The module links no libpython: the interpreter
 * that loads it provides the symbols.
 *
 * Only the stable ABI of CPython 3.10 is used (Py_LIMITED_API), so one
 * build loads in every CPython from 3.10 up (the wheel's cp310-abi3 tag):
 * no macros that reach into objects, no Py_buffer (limited only from 3.11). */
#define Py_LIMITED_API 0x030A0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "shim.h"
#include "_cgo_export.h"

static PyObject *ClosedError;  /* a pp.DestroyedServerError: the server is gone */
static volatile int forked;    /* set in a child forked after loading */

static void mark_forked(void) { forked = 1; }

/* Every entry point calls this first: the Go runtime does not survive
 * fork(), so a forked child must get an error rather than hang. */
static int check_fork(void) {
    if (forked) {
        PyErr_SetString(PyExc_RuntimeError,
            "pp: this process was forked from one that runs a pp Server; the "
            "server cannot be used in a forked child. Create the Server in the "
            "child, or use multiprocessing's 'spawn' or 'forkserver' start method.");
        return -1;
    }
    return 0;
}

static PyObject *closed_error(void) {
    PyErr_SetString(ClosedError, "pp: the server has been destroyed");
    return NULL;
}

/* Raises the Go error message, which Go malloc'd, and frees it. */
static PyObject *go_error(PyObject *type, char *msg) {
    PyErr_SetString(type, msg);
    free(msg);
    return NULL;
}

/* Turns an export's failure (shim.h's convention) into the exception. */
static PyObject *failure(long long rc, PyObject *type, char *err) {
    if (rc == PPGO_ERROR && err != NULL)
        return go_error(type, err);
    return closed_error();
}

/* Reads a timeout in seconds (negative: none) as milliseconds. */
static long long timeout_ms(double seconds) {
    return seconds < 0 ? -1 : (long long)(seconds * 1000.0);
}

/* What wait_in_slices returns when a signal handler raised. */
#define WAIT_INTERRUPTED (-3)

/* Runs one wait slice after another until fn reports done (1), the
 * timeout passes (returns 0), a signal handler raises (WAIT_INTERRUPTED)
 * or the handle is gone (PPGO_CLOSED). */
typedef int (*slice_fn)(void *ctx, int ms);

static int wait_in_slices(slice_fn fn, void *ctx, double timeout) {
    long long left = timeout_ms(timeout);
    for (;;) {
        int ms = (left < 0 || left > PPGO_WAIT_SLICE_MS) ? PPGO_WAIT_SLICE_MS : (int)left;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = fn(ctx, ms);
        Py_END_ALLOW_THREADS
        if (rc != 0)
            return rc;
        if (PyErr_CheckSignals() < 0)
            return WAIT_INTERRUPTED;
        if (left >= 0) {
            left -= ms;
            if (left <= 0)
                return 0;
        }
    }
}

struct job_ctx { long long h; unsigned long long id; };

static int wait_job_slice(void *ctx, int ms) {
    struct job_ctx *c = ctx;
    return ppgoWait(c->h, c->id, ms);
}

struct group_ctx { long long h; const char *group; Py_ssize_t len; int all; };

static int wait_group_slice(void *ctx, int ms) {
    struct group_ctx *c = ctx;
    return ppgoWaitGroup(c->h, (char *)c->group, c->len, c->all, ms);
}

/* Native int64s per spare: pid, jobs fd, results fd, segment socket fd
 * (main.go's spareFields). */
#define SPARE_FIELDS 4

/* new(argv, env, cwd, workers, restart, secret, silence_seconds, spares=b"") -> handle
 * spares: SPARE_FIELDS int64s for each worker pp._prestart started with
 * this argv, env and cwd; the core owns them. */
static PyObject *core_new(PyObject *self, PyObject *args) {
    const char *argv, *env, *dir, *secret, *spares = "";
    Py_ssize_t argv_len, env_len, secret_len, spares_len = 0;
    int workers, restart;
    double silence;
    char *err = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "y#y#sips#d|y#", &argv, &argv_len,
                                              &env, &env_len, &dir, &workers, &restart,
                                              &secret, &secret_len, &silence,
                                              &spares, &spares_len))
        return NULL;
    if (spares_len % (SPARE_FIELDS * sizeof(long long)) != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "spares must be int64 quadruples (pid, jobs, results, segments)");
        return NULL;
    }
    long long h = ppgoNew((char *)argv, argv_len, (char *)env, env_len, (char *)dir,
                          workers, restart, (char *)secret, secret_len,
                          silence > 0 ? (long long)(silence * 1000) : 0,
                          (long long *)spares, spares_len / (SPARE_FIELDS * sizeof(long long)), &err);
    if (h < 0)
        return failure(h, PyExc_RuntimeError, err);
    return PyLong_FromLongLong(h);
}

/* register(handle, key, source): makes a function's source known. */
static PyObject *core_register(PyObject *self, PyObject *args) {
    long long h;
    unsigned long long key;
    const char *source;
    Py_ssize_t len;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LKy#", &h, &key, &source, &len))
        return NULL;
    if (ppgoRegister(h, key, (void *)source, len) < 0)
        return closed_error();
    Py_RETURN_NONE;
}

/* submit(handle, key, args (bytes), group, notify, timeout=0.0,
 *        segment_fd=-1, segment_size=0) -> job id.
 * timeout: seconds the job may run once a worker starts it; 0 means no
 * limit, a negative one raises ValueError. segment_fd: a sealed memfd with
 * the arguments' out-of-band buffers, which the core duplicates (the
 * caller closes its own). The bytes stay alive (args holds them) while Go
 * copies them, GIL released or not. */
static PyObject *core_submit(PyObject *self, PyObject *args) {
    long long h, id, seg_size = 0;
    unsigned long long key;
    const char *data;
    Py_ssize_t data_len;
    const char *group;
    Py_ssize_t group_len;
    int notify, seg_fd = -1;
    double timeout = 0.0;
    char *err = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LKy#s#p|diL", &h, &key, &data, &data_len,
                                              &group, &group_len, &notify, &timeout,
                                              &seg_fd, &seg_size))
        return NULL;
    if (data_len >= PPGO_RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        id = ppgoSubmit(h, key, (void *)data, data_len, seg_fd, seg_size, (char *)group,
                        group_len, notify, timeout, &err);
        Py_END_ALLOW_THREADS
    } else {
        id = ppgoSubmit(h, key, (void *)data, data_len, seg_fd, seg_size, (char *)group,
                        group_len, notify, timeout, &err);
    }
    if (id < 0)
        return failure(id, PyExc_ValueError, err);
    return PyLong_FromLongLong(id);
}

/* Builds (status, bytes, segment) from job id's result, which stays in
 * the core; segment is None, or (fd, size) of a new descriptor of the
 * segment holding the result's out-of-band buffers, the caller's to close. */
static PyObject *take_result(long long h, unsigned long long id) {
    int status = 0, seg_fd = -1;
    size_t size = 0;
    long long seg_size = 0;
    char *err = NULL;
    int rc = ppgoResult(h, id, &status, &size, &seg_fd, &seg_size, &err);
    if (rc < 0)
        return failure(rc, PyExc_OSError, err);
    if (rc == 0)
        Py_RETURN_NONE;
    PyObject *payload = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (payload == NULL) {
        if (seg_fd >= 0)
            close(seg_fd);
        return NULL;
    }
    ppgoCopyResult(h, id, PyBytes_AsString(payload));
    if (seg_fd < 0)
        return Py_BuildValue("(iNO)", status, payload, Py_None);
    return Py_BuildValue("(iN(iL))", status, payload, seg_fd, seg_size);
}

/* result(handle, id, timeout) -> (status, bytes, segment) | None on timeout.
 * Waits for a job without a callback; the result stays in the core until
 * forget(), so an interrupt between here and the caller storing it loses
 * nothing. */
static PyObject *core_result(PyObject *self, PyObject *args) {
    struct job_ctx c;
    double timeout;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LKd", &c.h, &c.id, &timeout))
        return NULL;
    int rc = wait_in_slices(wait_job_slice, &c, timeout);
    if (rc == WAIT_INTERRUPTED)
        return NULL;
    if (rc < 0)
        return closed_error();
    if (rc == 0)
        Py_RETURN_NONE;
    return take_result(c.h, c.id);
}

/* take(handle, id) -> (status, bytes, segment) | None: a completed job's result,
 * kept until release(). For jobs with a callback. */
static PyObject *core_take(PyObject *self, PyObject *args) {
    long long h;
    unsigned long long id;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LK", &h, &id))
        return NULL;
    return take_result(h, id);
}

/* wait(handle, id, timeout) -> bool: whether the job is finished. */
static PyObject *core_wait(PyObject *self, PyObject *args) {
    struct job_ctx c;
    double timeout;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LKd", &c.h, &c.id, &timeout))
        return NULL;
    int rc = wait_in_slices(wait_job_slice, &c, timeout);
    if (rc == WAIT_INTERRUPTED)
        return NULL;
    if (rc < 0)
        return closed_error();
    return PyBool_FromLong(rc == 1);
}

/* wait_group(handle, group | None, timeout) -> bool */
static PyObject *core_wait_group(PyObject *self, PyObject *args) {
    struct group_ctx c = {0};
    PyObject *group;
    double timeout;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LOd", &c.h, &group, &timeout))
        return NULL;
    if (group == Py_None) {
        c.all = 1;
        c.group = "";
    } else if ((c.group = PyUnicode_AsUTF8AndSize(group, &c.len)) == NULL) {
        return NULL;
    }
    int rc = wait_in_slices(wait_group_slice, &c, timeout);
    if (rc == WAIT_INTERRUPTED)
        return NULL;
    if (rc < 0)
        return closed_error();
    return PyBool_FromLong(rc == 1);
}

/* A Python list of the first n job ids. */
static PyObject *id_list(const unsigned long long *ids, int n) {
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *id = PyLong_FromUnsignedLongLong(ids[i]);
        if (id == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SetItem(list, i, id);
    }
    return list;
}

/* next_notified(handle, timeout) -> list of ids | None once closed. */
static PyObject *core_next_notified(PyObject *self, PyObject *args) {
    enum { batch = 256 };
    unsigned long long ids[batch];
    long long h;
    double timeout;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Ld", &h, &timeout))
        return NULL;
    int n;
    Py_BEGIN_ALLOW_THREADS
    n = ppgoNextNotified(h, ids, batch, (int)timeout_ms(timeout < 0 ? 0 : timeout));
    Py_END_ALLOW_THREADS
    if (n < 0)
        Py_RETURN_NONE;
    return id_list(ids, n);
}

/* take_signalled(handle) -> list of ids of signalled jobs now finished
 * (256 at most; call again while it returns that many). */
static PyObject *core_take_signalled(PyObject *self, PyObject *args) {
    enum { batch = 256 };
    unsigned long long ids[batch];
    long long h;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "L", &h))
        return NULL;
    int n = ppgoTakeSignalled(h, ids, batch);
    if (n < 0)
        return closed_error();
    return id_list(ids, n);
}

/* signal_fd(handle, fd): the core writes a byte to fd when signalled jobs
 * finish (-1: write nowhere). */
static PyObject *core_signal_fd(PyObject *self, PyObject *args) {
    long long h;
    int fd;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Li", &h, &fd))
        return NULL;
    if (ppgoSignalFd(h, fd) < 0)
        return closed_error();
    Py_RETURN_NONE;
}

/* Calls for one job id: release(h, id), forget(h, id). */
static PyObject *job_call(PyObject *args, void (*fn)(long long, unsigned long long)) {
    long long h;
    unsigned long long id;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LK", &h, &id))
        return NULL;
    fn(h, id);
    Py_RETURN_NONE;
}

static PyObject *core_release(PyObject *self, PyObject *args) { return job_call(args, ppgoRelease); }
static PyObject *core_forget(PyObject *self, PyObject *args) { return job_call(args, ppgoForget); }

/* cancel(h, id) -> bool: whether the job was cancelled. One that has not
 * started is (it ends with STATUS_CANCELLED); one running, finished or
 * unknown is not. */
/* Calls for one job id that answer yes or no: cancel, watch, signal. */
static PyObject *job_question(PyObject *args, int (*fn)(long long, unsigned long long)) {
    long long h;
    unsigned long long id;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "LK", &h, &id))
        return NULL;
    int rc = fn(h, id);
    if (rc < 0)
        return closed_error();
    return PyBool_FromLong(rc);
}

static PyObject *core_cancel(PyObject *self, PyObject *args) {
    return job_question(args, ppgoCancel);
}

static PyObject *core_watch(PyObject *self, PyObject *args) {
    return job_question(args, ppgoWatch);
}

static PyObject *core_signal(PyObject *self, PyObject *args) {
    return job_question(args, ppgoSignal);
}

static PyObject *core_set_workers(PyObject *self, PyObject *args) {
    long long h;
    int n, rc;
    char *err = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Li", &h, &n))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = ppgoSetWorkers(h, n, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return failure(rc, PyExc_ValueError, err);
    Py_RETURN_NONE;
}

static PyObject *core_workers(PyObject *self, PyObject *args) {
    long long h;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "L", &h))
        return NULL;
    int n = ppgoWorkers(h);
    if (n < 0)
        return closed_error();
    return PyLong_FromLong(n);
}

static PyObject *core_pending(PyObject *self, PyObject *args) {
    long long h;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "L", &h))
        return NULL;
    long long n = ppgoPending(h);
    if (n < 0)
        return closed_error();
    return PyLong_FromLongLong(n);
}

/* nodes(h) -> [(name, workers, connected, running, jobs, busy_seconds)],
 * the local pool first. */
static PyObject *core_nodes(PyObject *self, PyObject *args) {
    long long h;
    struct ppgo_node *nodes = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "L", &h))
        return NULL;
    long long n = ppgoNodes(h, &nodes);
    if (n < 0)
        return closed_error();
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (long long i = 0; i < n; i++) {
        struct ppgo_node *node = &nodes[i];
        if (list != NULL) {
            PyObject *row = Py_BuildValue("(sLNLLd)", node->name, node->workers,
                                          PyBool_FromLong(node->connected), node->running,
                                          node->jobs, node->busy_seconds);
            if (row == NULL)
                Py_CLEAR(list);
            else
                PyList_SetItem(list, (Py_ssize_t)i, row);
        }
        free(node->name);
    }
    free(nodes);
    return list;
}

/* connect(h, "host:port"): adds a remote node, dialled in the background. */
static PyObject *core_connect(PyObject *self, PyObject *args) {
    long long h;
    const char *addr;
    char *err = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Ls", &h, &addr))
        return NULL;
    int rc = ppgoConnect(h, (char *)addr, &err);
    if (rc < 0)
        return failure(rc, PyExc_ValueError, err);
    Py_RETURN_NONE;
}

/* serve_metrics(h, "host:port") -> the address bound: Prometheus metrics
 * and the status page over HTTP until close(h). */
static PyObject *core_serve_metrics(PyObject *self, PyObject *args) {
    long long h;
    const char *addr;
    char *bound = NULL, *err = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Ls", &h, &addr))
        return NULL;
    int rc = ppgoServeMetrics(h, (char *)addr, &bound, &err);
    if (rc < 0)
        return failure(rc, PyExc_ValueError, err);
    PyObject *out = PyUnicode_FromString(bound);
    free(bound);
    return out;
}

/* discover(h, pattern, broadcast): finds ppservers by UDP broadcast. */
static PyObject *core_discover(PyObject *self, PyObject *args) {
    long long h;
    const char *pattern, *broadcast;
    char *err = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Lss", &h, &pattern, &broadcast))
        return NULL;
    int rc = ppgoDiscover(h, (char *)pattern, (char *)broadcast, &err);
    if (rc < 0)
        return failure(rc, PyExc_ValueError, err);
    Py_RETURN_NONE;
}

/* next_event(h, timeout) -> (level, message) | () on timeout | None once closed */
static PyObject *core_next_event(PyObject *self, PyObject *args) {
    long long h;
    double timeout;
    int level = 0, rc;
    char *msg = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "Ld", &h, &timeout))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = ppgoNextEvent(h, (int)timeout_ms(timeout < 0 ? 0 : timeout), &level, &msg);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        Py_RETURN_NONE;
    if (rc == 0)
        return PyTuple_New(0);
    PyObject *out = Py_BuildValue("(is)", level, msg);
    free(msg);
    return out;
}

/* Calls that take a handle only and may block: close(h), free(h). */
static PyObject *handle_call(PyObject *args, void (*fn)(long long)) {
    long long h;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "L", &h))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    fn(h);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* close(h): stops the server; finished results stay readable. */
static PyObject *core_close(PyObject *self, PyObject *args) { return handle_call(args, ppgoClose); }

/* free(h): closes the server if needed and forgets the handle. */
static PyObject *core_free(PyObject *self, PyObject *args) { return handle_call(args, ppgoFree); }

/* Lists that Go returns as a malloc'd array: list_call calls fn for the
 * array and its item count, builds a list with item(array, i) for each,
 * and frees the array. */
typedef long long (*array_fn)(long long h, unsigned long long **out);
typedef PyObject *(*item_fn)(const unsigned long long *array, long long i);

static PyObject *list_call(PyObject *args, array_fn fn, item_fn item) {
    long long h;
    unsigned long long *array = NULL;
    if (check_fork() < 0 || !PyArg_ParseTuple(args, "L", &h))
        return NULL;
    long long n = fn(h, &array);
    if (n < 0)
        return closed_error();
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (long long i = 0; list != NULL && i < n; i++) {
        PyObject *value = item(array, i);
        if (value == NULL)
            Py_CLEAR(list);
        else
            PyList_SetItem(list, (Py_ssize_t)i, value);
    }
    free(array);
    return list;
}

static PyObject *id_item(const unsigned long long *ids, long long i) {
    return PyLong_FromUnsignedLongLong(ids[i]);
}

static PyObject *worker_item(const unsigned long long *pairs, long long i) {
    return Py_BuildValue("(KN)", pairs[2 * i], PyBool_FromLong(pairs[2 * i + 1] != 0));
}

/* queued(h) -> ids of the jobs no worker or node has taken yet. */
static PyObject *core_queued(PyObject *self, PyObject *args) {
    return list_call(args, ppgoQueued, id_item);
}

/* worker_states(h) -> [(pid, busy)], one per local worker process. */
static PyObject *core_worker_states(PyObject *self, PyObject *args) {
    return list_call(args, ppgoWorkerStates, worker_item);
}

static PyObject *core_forked(PyObject *self, PyObject *unused) { return PyBool_FromLong(forked); }

/* goroutines() -> how many goroutines the process runs (for leak checks). */
static PyObject *core_goroutines(PyObject *self, PyObject *unused) {
    if (check_fork() < 0)
        return NULL;
    return PyLong_FromLongLong(ppgoGoroutines());
}

static PyMethodDef methods[] = {
    {"new", core_new, METH_VARARGS,
     "new(argv, env, cwd, workers, restart, secret, silence, spares=b'') -> handle"},
    {"register", core_register, METH_VARARGS, "register(h, key, source)"},
    {"submit", core_submit, METH_VARARGS,
     "submit(h, key, args, group, notify, timeout=0.0, segment_fd=-1, segment_size=0) -> id"},
    {"cancel", core_cancel, METH_VARARGS, "cancel(h, id) -> whether the job was cancelled"},
    {"watch", core_watch, METH_VARARGS,
     "watch(h, id) -> whether the job will be notified when it finishes"},
    {"signal", core_signal, METH_VARARGS,
     "signal(h, id) -> whether take_signalled will hand out the job once it finishes"},
    {"signal_fd", core_signal_fd, METH_VARARGS,
     "signal_fd(h, fd): write a byte to fd as signalled jobs finish (-1: nowhere)"},
    {"take_signalled", core_take_signalled, METH_VARARGS,
     "take_signalled(h) -> ids of signalled jobs that finished"},
    {"result", core_result, METH_VARARGS,
     "result(h, id, timeout) -> (status, bytes, segment) | None"},
    {"take", core_take, METH_VARARGS, "take(h, id) -> (status, bytes, segment) | None"},
    {"wait", core_wait, METH_VARARGS, "wait(h, id, timeout) -> finished"},
    {"wait_group", core_wait_group, METH_VARARGS, "wait_group(h, group, timeout) -> idle"},
    {"next_notified", core_next_notified, METH_VARARGS, "next_notified(h, timeout) -> ids | None"},
    {"release", core_release, METH_VARARGS, "release(h, id)"},
    {"forget", core_forget, METH_VARARGS, "forget(h, id)"},
    {"set_workers", core_set_workers, METH_VARARGS, "set_workers(h, n)"},
    {"workers", core_workers, METH_VARARGS, "workers(h) -> local worker count"},
    {"pending", core_pending, METH_VARARGS, "pending(h) -> unfinished jobs"},
    {"nodes", core_nodes, METH_VARARGS,
     "nodes(h) -> [(name, workers, connected, running, jobs, busy_seconds)]"},
    {"connect", core_connect, METH_VARARGS, "connect(h, addr): add a remote node"},
    {"discover", core_discover, METH_VARARGS, "discover(h, pattern, broadcast)"},
    {"serve_metrics", core_serve_metrics, METH_VARARGS,
     "serve_metrics(h, addr) -> the address bound: metrics and status page until close"},
    {"next_event", core_next_event, METH_VARARGS,
     "next_event(h, timeout) -> (level, message) | () | None"},
    {"queued", core_queued, METH_VARARGS, "queued(h) -> ids of jobs not yet taken"},
    {"worker_states", core_worker_states, METH_VARARGS,
     "worker_states(h) -> [(pid, busy)] of the local workers"},
    {"close", core_close, METH_VARARGS, "close(h): stop; finished results stay readable"},
    {"free", core_free, METH_VARARGS, "free(h): close and forget the handle"},
    {"forked", core_forked, METH_NOARGS, "forked() -> whether this is a forked child"},
    {"goroutines", core_goroutines, METH_NOARGS, "goroutines() -> goroutines running now"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pp._core", "ppgo's Go core (internal).", -1, methods,
};

/* Closed derives from pp.DestroyedServerError, so whatever reaches the core
 * after destroy() raises what pp's callers catch, with no translation. */
static PyObject *make_closed_error(void) {
    PyObject *errors = PyImport_ImportModule("pp._errors");
    if (errors == NULL)
        return NULL;
    PyObject *base = PyObject_GetAttrString(errors, "DestroyedServerError");
    Py_DECREF(errors);
    if (base == NULL)
        return NULL;
    PyObject *closed = PyErr_NewException("pp._core.Closed", base, NULL);
    Py_DECREF(base);
    return closed;
}

PyMODINIT_FUNC PyInit__core(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    ClosedError = make_closed_error();
    if (ClosedError == NULL || PyModule_AddObjectRef(m, "Closed", ClosedError) < 0
            || PyModule_AddIntConstant(m, "STATUS_DONE", PPGO_STATUS_DONE) < 0
            || PyModule_AddIntConstant(m, "STATUS_FAILED", PPGO_STATUS_FAILED) < 0
            || PyModule_AddIntConstant(m, "STATUS_CANCELLED", PPGO_STATUS_CANCELLED) < 0
            || PyModule_AddIntConstant(m, "STATUS_TIMED_OUT", PPGO_STATUS_TIMED_OUT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    pthread_atfork(NULL, NULL, mark_forked);
    return m;
}
