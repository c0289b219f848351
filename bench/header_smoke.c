/* header_smoke.c: proves a package's salac_kernels.h works with nothing but
 * the CUDA driver API. Loads kernels.ptx with salac_kernels_load, launches
 * one sigmoid-gate kernel through its salac_launch_* function on a small
 * input and checks it against a CPU computation.
 *
 *   gcc -std=c11 -O2 -I<pkg> -I<cuda>/include -DSMOKE_KERNEL=<name> \
 *       -DSMOKE_ROW=<elements per token> bench/header_smoke.c -lcuda -lm
 *   ./a.out <pkg>
 *
 * bench/run.sh picks SMOKE_KERNEL/SMOKE_ROW from manifest.json. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "salac_kernels.h"

#ifndef SMOKE_KERNEL
#define SMOKE_KERNEL sala_sigmoid_gate_h32_d128_bf16
#endif
#ifndef SMOKE_ROW
#define SMOKE_ROW 4096
#endif
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define STR2(a) #a
#define STR(a) STR2(a)

#define CHECK(call)                                                          \
  do {                                                                       \
    CUresult r_ = (call);                                                    \
    if (r_ != CUDA_SUCCESS) {                                                \
      const char *n_ = "?", *s_ = "?";                                       \
      cuGetErrorName(r_, &n_);                                               \
      cuGetErrorString(r_, &s_);                                             \
      fprintf(stderr, "header smoke: %s failed: %s (%s)\n", #call, n_, s_);  \
      return 1;                                                              \
    }                                                                        \
  } while (0)

static float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint16_t float_to_bf16(float f) { /* round to nearest even; no NaNs here */
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf)
    buf[n] = '\0'; /* cuModuleLoadData wants NUL-terminated PTX text */
  fclose(f);
  return buf;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "pkg";
  char path[4096];
  snprintf(path, sizeof path, "%s/kernels.ptx", dir);
  char *ptx = read_file(path);
  if (!ptx) {
    fprintf(stderr, "header smoke: cannot read %s\n", path);
    return 1;
  }
  CUdevice dev;
  CUcontext ctx;
  CHECK(cuInit(0));
  CHECK(cuDeviceGet(&dev, 0));
  CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(cuCtxSetCurrent(ctx));

  salac_kernels k;
  CHECK(salac_kernels_load(&k, ptx));

  const int64_t tokens = 3;
  const size_t n = (size_t)tokens * SMOKE_ROW, bytes = n * 2;
  uint16_t *x = malloc(bytes), *z = malloc(bytes), *out = malloc(bytes);
  uint32_t seed = 12345u;
  for (size_t i = 0; i < n; ++i) { /* deterministic values in about [-4, 4) */
    seed = seed * 1664525u + 1013904223u;
    x[i] = float_to_bf16(((int)(seed >> 9) % 4096 - 2048) / 512.0f);
    seed = seed * 1664525u + 1013904223u;
    z[i] = float_to_bf16(((int)(seed >> 9) % 4096 - 2048) / 256.0f);
  }
  CUdeviceptr dx, dz, dout;
  CHECK(cuMemAlloc(&dx, bytes));
  CHECK(cuMemAlloc(&dz, bytes));
  CHECK(cuMemAlloc(&dout, bytes));
  CHECK(cuMemcpyHtoD(dx, x, bytes));
  CHECK(cuMemcpyHtoD(dz, z, bytes));
  CHECK(cuMemsetD16(dout, 0x7fc0, n)); /* bf16 NaN: shows unwritten elements */

  CHECK(CAT(salac_launch_, SMOKE_KERNEL)(k.SMOKE_KERNEL, 0, dx, dz, dout, tokens));
  /* A zero grid launches nothing and succeeds; a negative size is refused. */
  CHECK(CAT(salac_launch_, SMOKE_KERNEL)(k.SMOKE_KERNEL, 0, dx, dz, dout, 0));
  if (CAT(salac_launch_, SMOKE_KERNEL)(k.SMOKE_KERNEL, 0, dx, dz, dout, -1) !=
      CUDA_ERROR_INVALID_VALUE) {
    fprintf(stderr, "header smoke: tokens = -1 was not refused\n");
    return 1;
  }
  CHECK(cuCtxSynchronize());
  CHECK(cuMemcpyDtoH(out, dout, bytes));

  double max_err = 0.0, max_ref = 0.0;
  size_t nonfinite = 0;
  for (size_t i = 0; i < n; ++i) {
    double xv = bf16_to_float(x[i]), zv = bf16_to_float(z[i]);
    double ref = xv / (1.0 + exp(-zv));
    double got = bf16_to_float(out[i]);
    if (!isfinite(got))
      ++nonfinite;
    else if (fabs(got - ref) > max_err)
      max_err = fabs(got - ref);
    if (fabs(ref) > max_ref)
      max_ref = fabs(ref);
  }
  double rel = max_err / max_ref;
  int ok = nonfinite == 0 && rel <= 1e-2;
  printf("header smoke: %s via salac_kernels.h (driver API only), tokens=%lld: "
         "max err %.2e of max |ref| %.2f, %zu unwritten: %s\n",
         STR(SMOKE_KERNEL), (long long)tokens, rel, max_ref, nonfinite,
         ok ? "PASS" : "FAIL");
  cuMemFree(dx);
  cuMemFree(dz);
  cuMemFree(dout);
  CHECK(salac_kernels_unload(&k));
  cuDevicePrimaryCtxRelease(dev);
  free(x);
  free(z);
  free(out);
  free(ptx);
  return ok ? 0 : 1;
}
