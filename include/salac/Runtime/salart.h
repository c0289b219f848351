/*===- salart.h - libsalart, the salac runtime: C API -----------*- C -*-===*\
|*                                                                          *|
|* Loads salac kernel packages (docs/KernelPackage.md) into a CUDA device's  *|
|* primary context and launches their kernels; keeps the paged KV cache,     *|
|* compressed-key and linear-state pools of DESIGN.md section 4.             *|
|*                                                                          *|
|* Conventions (plain C, usable from ctypes):                                *|
|*  - Every function returns an int salart_status; SALART_OK is 0. On any    *|
|*    other value, salart_last_error() gives the full message (thread-local, *|
|*    valid until the next failing call on the same thread). Driver failures *|
|*    name the driver function and the CUresult's name and description.      *|
|*  - Results come back through out-parameters, written only on success.     *|
|*  - Device pointers are uint64_t (CUdeviceptr); streams are void* holding a *|
|*    CUstream (NULL = the legacy default stream, except on a thread that    *|
|*    captures a CUDA graph: see salart_graph_begin), e.g. torch's           *|
|*    cuda_stream.                                                          *|
|*  - libcuda.so.1 is opened on first use (SALART_LIBCUDA overrides the      *|
|*    path); without a driver, calls that need it fail with                  *|
|*    SALART_ERROR_NO_DRIVER, never crash. Pools work without any GPU.       *|
|*  - Handles are independent objects: a package or pool keeps its context   *|
|*    alive, so they may be destroyed in any order.                          *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/
#ifndef SALAC_RUNTIME_SALART_H
#define SALAC_RUNTIME_SALART_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SALART_API __attribute__((visibility("default")))
#else
#define SALART_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum salart_status {
  SALART_OK = 0,
  SALART_ERROR_INVALID_ARGUMENT = 1, /* bad value, null pointer, bad index   */
  SALART_ERROR_NO_DRIVER = 2,        /* no libcuda.so.1, or cuInit failed    */
  SALART_ERROR_DRIVER = 3,           /* a CUDA driver call failed            */
  SALART_ERROR_PACKAGE = 4,          /* missing/malformed package contents   */
  SALART_ERROR_NOT_FOUND = 5,        /* unknown kernel or sequence           */
  SALART_ERROR_EXHAUSTED = 6,        /* a pool has no free page or slot      */
  SALART_ERROR_INTERNAL = 7,         /* out of host memory, or a bug         */
  SALART_ERROR_CAPTURE = 8           /* graph capture misuse: see below      */
} salart_status;

/* The message of this thread's most recent failed call ("" if none). */
SALART_API const char *salart_last_error(void);
/* "SALART_OK", "SALART_ERROR_DRIVER", ... */
SALART_API const char *salart_status_name(int status);

/* ---- Driver and device context ------------------------------------------ */

typedef struct salart_context salart_context;

/* Loads libcuda.so.1 and runs cuInit; *version = cuDriverGetVersion. */
SALART_API int salart_driver_version(int *version);
SALART_API int salart_device_count(int *count);

/* Retains the primary context of device `ordinal` and makes it current on
 * this thread. Works whether or not PyTorch (or anyone) created it first. */
SALART_API int salart_init(int ordinal, salart_context **out);
/* Drops this handle's reference to the primary context. SALART_ERROR_CAPTURE
 * while a graph capture is in progress on it. */
SALART_API int salart_context_destroy(salart_context *ctx);
SALART_API int salart_context_make_current(salart_context *ctx);
SALART_API int salart_synchronize(salart_context *ctx);

typedef struct salart_device_info {
  int ordinal;
  int cc_major, cc_minor;
  int multiprocessors;
  int max_shared_per_block_optin; /* bytes */
  char name[256];
} salart_device_info;
SALART_API int salart_context_info(salart_context *ctx,
                                   salart_device_info *out);
/* The CUcontext, for interoperation. */
SALART_API int salart_context_handle(salart_context *ctx, void **cucontext);

/* ---- Memory helpers (synchronous unless named _async) ------------------- */

SALART_API int salart_mem_alloc(salart_context *ctx, size_t bytes,
                                uint64_t *dptr);
SALART_API int salart_mem_free(salart_context *ctx, uint64_t dptr);
SALART_API int salart_memcpy_htod(salart_context *ctx, uint64_t dst,
                                  const void *src, size_t bytes);
SALART_API int salart_memcpy_dtoh(salart_context *ctx, void *dst, uint64_t src,
                                  size_t bytes);
SALART_API int salart_memset_d8(salart_context *ctx, uint64_t dst,
                                unsigned char value, size_t bytes);
SALART_API int salart_memset_d8_async(salart_context *ctx, uint64_t dst,
                                      unsigned char value, size_t bytes,
                                      void *stream);

/* ---- Kernel packages ------------------------------------------------------ */

typedef struct salart_package salart_package;
typedef struct salart_kernel salart_kernel; /* owned by its package */

/* Reads DIR/manifest.json (format_version 1) and the PTX it names, checks
 * that every kernel is an .entry of the PTX, then JIT-compiles the PTX into
 * ctx (the JIT error log is in the message on failure), resolves every
 * kernel and raises the dynamic shared-memory limit of those above 48 KiB.
 * ctx may be NULL: the package is then only checked (kernels can be found and
 * their grids computed, not launched) -- what a GPU-less CI machine can do. */
SALART_API int salart_package_open(salart_context *ctx, const char *dir,
                                   salart_package **out);
SALART_API int salart_package_close(salart_package *pkg);
SALART_API int salart_package_num_kernels(salart_package *pkg, int *count);
/* Name of kernel `index` (manifest order); valid while pkg is open. */
SALART_API int salart_package_kernel_name(salart_package *pkg, int index,
                                          const char **name);
/* The JIT info log (ptxas's verbose output); "" for a host-only package. */
SALART_API int salart_package_jit_log(salart_package *pkg, const char **log);

/* Not found: the message lists the package's kernels. */
SALART_API int salart_kernel_find(salart_package *pkg, const char *name,
                                  salart_kernel **out);

typedef struct salart_kernel_info {
  int num_params;
  unsigned block[3];            /* from the manifest */
  unsigned shared_bytes;        /* dynamic, from the manifest */
  /* Read from the driver (cuFuncGetAttribute); -1 for host-only packages. */
  int num_regs;                 /* registers per thread */
  int local_bytes;              /* local memory (spills) per thread */
  int static_shared_bytes;
  int const_bytes;
  int max_threads_per_block;
  int ptx_version;    /* the PTX target: 80 for ".target sm_80" */
  int binary_version; /* the SASS the driver built: 90 on an H100 */
} salart_kernel_info;
SALART_API int salart_kernel_get_info(salart_kernel *kernel,
                                      salart_kernel_info *out);

/* The grid the manifest's rules give for these arguments (a dimension may
 * be 0). args as for salart_launch. */
SALART_API int salart_kernel_grid(salart_kernel *kernel, void **args,
                                  uint32_t grid[3]);

/* Launches with the manifest's block, shared memory and grid rules. args is
 * cuLaunchKernel's array: args[i] points at the value of parameter i (an
 * 8-byte CUdeviceptr for ptr, int64_t for i64, int32_t for i32, float for
 * f32). A grid with a zero dimension launches nothing and returns SALART_OK.
 * Asynchronous: errors of the running kernel appear at a later sync. */
SALART_API int salart_launch(salart_kernel *kernel, void **args, void *stream);
SALART_API int salart_launch_by_name(salart_package *pkg, const char *name,
                                     void **args, void *stream);
/* Launches with an explicit grid, block and dynamic shared memory. */
SALART_API int salart_launch_explicit(salart_kernel *kernel,
                                      const uint32_t grid[3],
                                      const uint32_t block[3],
                                      uint32_t shared_bytes, void **args,
                                      void *stream);

/* ---- CUDA graphs: capture a sequence of launches, replay it ------------- */

/* salart_graph_begin(ctx) starts recording on ctx's own stream; until
 * salart_graph_end, the calls the same thread makes through ctx (kernels of
 * packages opened on ctx, salart_memset_d8_async, salart_state_pool_zero_slot)
 * with a NULL stream are recorded into the graph instead of running. salart_graph_end instantiates the graph; salart_graph_launch
 * replays all of it, on any stream, for the cost of one launch.
 *
 *  - Capture mode: CU_STREAM_CAPTURE_MODE_THREAD_LOCAL. The capture belongs
 *    to the thread that began it (end or abort it there); other threads,
 *    PyTorch's included, keep working normally during it, and their calls
 *    with a NULL stream still run on the legacy default stream.
 *  - During a capture, on the capturing thread, these fail with
 *    SALART_ERROR_CAPTURE before reaching the driver, leaving the capture
 *    intact: calls that synchronize (salart_synchronize, salart_mem_alloc,
 *    salart_mem_free, salart_memcpy_*, salart_memset_d8, *_allocate_device,
 *    salart_package_open/close on ctx, destroying a pool with device
 *    buffers), a stream-ordered call naming a stream other than NULL or
 *    salart_context_stream(ctx) (its work would run now, not be recorded),
 *    a nested salart_graph_begin, salart_context_destroy. A synchronous CUDA
 *    call made outside libsalart on that thread (e.g. cudaMalloc) makes the
 *    driver invalidate the capture: salart_graph_end then fails with
 *    SALART_ERROR_CAPTURE saying so.
 *  - The graph holds each launch's argument values as they were at capture:
 *    device pointers, not data. The buffers must stay allocated, at the same
 *    addresses, for as long as the graph is replayed; a replay reads and
 *    writes whatever they hold then (update inputs in place between
 *    replays). Scalars (token counts, ...) are frozen: capture one graph per
 *    shape. A package stays loaded while a graph launches its kernels
 *    (salart_package_close fails with SALART_ERROR_CAPTURE until the graphs
 *    are destroyed). */
typedef struct salart_graph salart_graph;

/* The context's own stream (CU_STREAM_NON_BLOCKING), created on first use and
 * destroyed with the context; captures record on it. */
SALART_API int salart_context_stream(salart_context *ctx, void **stream);
/* SALART_ERROR_CAPTURE if ctx is already capturing (nesting). */
SALART_API int salart_graph_begin(salart_context *ctx);
/* Ends the capture this thread began and instantiates it. On any failure the
 * capture is over and *out untouched. SALART_ERROR_CAPTURE: no capture in
 * progress, begun on another thread, or invalidated by the driver. */
SALART_API int salart_graph_end(salart_context *ctx, salart_graph **out);
/* Ends the capture this thread began and discards it (error paths). */
SALART_API int salart_graph_abort(salart_context *ctx);
/* *state: 0 no capture on ctx, 1 this thread captures, 2 another thread. */
SALART_API int salart_graph_capturing(salart_context *ctx, int *state);
/* Replays the graph on `stream` (NULL: the legacy default stream, or the
 * capture stream while this thread captures, where recording a graph launch
 * is up to the driver). Asynchronous, like a launch.
 * A destroyed graph: SALART_ERROR_INVALID_ARGUMENT. */
SALART_API int salart_graph_launch(salart_graph *graph, void *stream);
/* Nodes of the graph: one per recorded kernel launch or memset. */
SALART_API int salart_graph_num_nodes(salart_graph *graph, int64_t *count);
/* Frees the graph (a replay still running completes first); NULL is a no-op.
 * The handle's few bytes are kept, so that a later use of it is reported
 * (SALART_ERROR_INVALID_ARGUMENT) instead of being undefined. */
SALART_API int salart_graph_destroy(salart_graph *graph);

/* ---- Paged KV pool and compressed-key store ---------------------------- */

/* A pool of num_pages pages. KV pool: a page holds page_size tokens of K and
 * of V, each [page_size][heads][head_dim] elements of elem_bytes. Compressed-
 * key store: a page holds page_size compressed entries of K only; a sequence
 * of n tokens has m = n < kernel ? 0 : (n - kernel) / stride + 1 entries.
 * Device buffers, per layer and tensor: [num_pages][page_size][heads][head_dim];
 * physical page p starts at p * page bytes. */
typedef struct salart_pool salart_pool;

SALART_API int salart_kv_pool_create(int64_t page_size, int64_t heads,
                                     int64_t head_dim, int64_t elem_bytes,
                                     int64_t num_pages, salart_pool **out);
SALART_API int salart_ckey_pool_create(int64_t page_size, int64_t heads,
                                       int64_t head_dim, int64_t elem_bytes,
                                       int64_t num_pages, int64_t kernel,
                                       int64_t stride, salart_pool **out);
/* Frees the device buffers too, if any. */
SALART_API int salart_pool_destroy(salart_pool *pool);

/* Makes sequence `seq` (created on first use) cover num_tokens tokens,
 * adding pages as needed; all or nothing. Never shrinks: a smaller count is
 * a no-op. Exhaustion: SALART_ERROR_EXHAUSTED, "KV pool exhausted: need 3
 * more pages, 1 free of 4096 (...)". */
SALART_API int salart_pool_reserve(salart_pool *pool, int64_t seq,
                                   int64_t num_tokens);
/* Returns the sequence's pages to the pool. */
SALART_API int salart_pool_release(salart_pool *pool, int64_t seq);
SALART_API int salart_pool_free_pages(salart_pool *pool, int64_t *count);
SALART_API int salart_pool_num_pages(salart_pool *pool, int64_t *count);
SALART_API int salart_pool_page_bytes(salart_pool *pool, int64_t *bytes);
/* Tokens reserved for seq and the pages it holds (its units are tokens for
 * a KV pool, entries for a compressed-key store). */
SALART_API int salart_pool_seq_info(salart_pool *pool, int64_t seq,
                                    int64_t *tokens, int64_t *units,
                                    int64_t *pages);
/* Copies the sequence's physical pages (logical order) into out[capacity]. */
SALART_API int salart_pool_seq_pages(salart_pool *pool, int64_t seq,
                                     int32_t *out, int64_t capacity,
                                     int64_t *count);
/* The most pages any of seqs[batch] holds: the smallest valid max_pages. */
SALART_API int salart_pool_max_pages(salart_pool *pool, const int64_t *seqs,
                                     int64_t batch, int64_t *max_pages);
/* Writes the int32 page table out[batch][max_pages]: row b holds the pages of
 * seqs[b], then `pad` (-1 makes a stray read fault visibly; 0 keeps it in
 * bounds for kernels that prefetch whole tiles). */
SALART_API int salart_pool_page_table(salart_pool *pool, const int64_t *seqs,
                                      int64_t batch, int64_t max_pages,
                                      int32_t pad, int32_t *out);

/* Allocates (zeroed) device buffers for num_layers layers: one allocation
 * holding, per layer, K (and V for a KV pool). */
SALART_API int salart_pool_allocate_device(salart_pool *pool,
                                           salart_context *ctx,
                                           int64_t num_layers);
/* Base of the buffer of `layer`; tensor 0 = K, 1 = V (KV pools only). */
SALART_API int salart_pool_device_ptr(salart_pool *pool, int64_t layer,
                                      int tensor, uint64_t *dptr);

/* m for n tokens with window `kernel` and `stride` (see above). */
SALART_API int salart_compressed_entries(int64_t n, int64_t kernel,
                                         int64_t stride, int64_t *entries);

/* ---- Linear-attention state pool --------------------------------------- */

/* num_slots slots of heads x head_dim x head_dim fp32; device buffer per
 * layer: [num_slots][heads][head_dim][head_dim]. */
typedef struct salart_state_pool salart_state_pool;

SALART_API int salart_state_pool_create(int64_t heads, int64_t head_dim,
                                        int64_t num_slots,
                                        salart_state_pool **out);
SALART_API int salart_state_pool_destroy(salart_state_pool *pool);
/* Exhaustion: SALART_ERROR_EXHAUSTED. The slot's state is not cleared: see
 * salart_state_pool_zero_slot. */
SALART_API int salart_state_pool_acquire(salart_state_pool *pool,
                                         int32_t *slot);
SALART_API int salart_state_pool_release(salart_state_pool *pool,
                                         int32_t slot);
SALART_API int salart_state_pool_free_slots(salart_state_pool *pool,
                                            int64_t *count);
SALART_API int salart_state_pool_slot_bytes(salart_state_pool *pool,
                                            int64_t *bytes);
SALART_API int salart_state_pool_allocate_device(salart_state_pool *pool,
                                                 salart_context *ctx,
                                                 int64_t num_layers);
SALART_API int salart_state_pool_device_ptr(salart_state_pool *pool,
                                            int64_t layer, uint64_t *dptr);
/* Zeroes the slot in every layer, ordered on `stream`: a new request's
 * state must start at 0. */
SALART_API int salart_state_pool_zero_slot(salart_state_pool *pool,
                                           int32_t slot, void *stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SALAC_RUNTIME_SALART_H */
