//===- TestUtil.h - Fixtures for the libsalart tests --------------*- C++ -*-===//
//
// Temporary package directories written by the tests themselves, so the tests
// need no data files and no compiler: a manifest, and PTX that ptxas accepts.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_UNITTESTS_RUNTIME_TESTUTIL_H
#define SALAC_UNITTESTS_RUNTIME_TESTUTIL_H

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace salart_test {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") +
                       "/salart-test-XXXXXX";
    char *made = mkdtemp(tmpl.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }
  void write(const std::string &name, const std::string &text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }

private:
  std::string path_;
};

/// y[i] = alpha * x[i] for i < n: grid = ceil(n / 128), block 128.
inline const char *kScalePtx = R"PTX(
//
// salart test kernels (hand-written PTX)
//
.version 7.8
.target sm_80
.address_size 64

.extern .shared .align 16 .b8 dyn_smem[];

// .entry commented_out_kernel( is not a kernel
.visible .entry salart_test_scale(
    .param .u64 x_ptr,
    .param .u64 y_ptr,
    .param .u64 n,
    .param .f32 alpha)
{
    .reg .pred %p<2>;
    .reg .b32 %r<4>;
    .reg .b64 %rd<9>;
    .reg .f32 %f<3>;

    ld.param.u64 %rd1, [x_ptr];
    ld.param.u64 %rd2, [y_ptr];
    ld.param.u64 %rd3, [n];
    ld.param.f32 %f1, [alpha];
    mov.u32 %r1, %ctaid.x;
    mov.u32 %r2, %ntid.x;
    mov.u32 %r3, %tid.x;
    mul.wide.u32 %rd4, %r1, %r2;
    cvt.u64.u32 %rd5, %r3;
    add.u64 %rd4, %rd4, %rd5;
    setp.ge.u64 %p1, %rd4, %rd3;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd6, %rd1;
    cvta.to.global.u64 %rd7, %rd2;
    shl.b64 %rd8, %rd4, 2;
    add.u64 %rd6, %rd6, %rd8;
    add.u64 %rd7, %rd7, %rd8;
    ld.global.f32 %f2, [%rd6];
    mul.f32 %f2, %f2, %f1;
    st.global.f32 [%rd7], %f2;
DONE:
    ret;
}

/* Uses dynamic shared memory past 60 KiB: launching it with 64 KiB works only
   once the 48 KiB default limit has been raised.
   out[b * 128 + t] = b * 1000 + (127 - t). */
.visible .entry salart_test_smem(
    .param .u64 out_ptr,
    .param .u32 blocks)
{
    .reg .b32 %r<12>;
    .reg .b64 %rd<4>;

    mov.u32 %r1, %tid.x;
    mov.u32 %r2, dyn_smem;
    add.u32 %r2, %r2, 61440;
    shl.b32 %r3, %r1, 2;
    add.u32 %r4, %r2, %r3;
    st.shared.u32 [%r4], %r1;
    bar.sync 0;
    mov.u32 %r5, 127;
    sub.u32 %r5, %r5, %r1;
    shl.b32 %r6, %r5, 2;
    add.u32 %r7, %r2, %r6;
    ld.shared.u32 %r8, [%r7];
    mov.u32 %r9, %ctaid.x;
    mad.lo.u32 %r10, %r9, 1000, %r8;
    shl.b32 %r11, %r9, 7;
    add.u32 %r11, %r11, %r1;
    ld.param.u64 %rd1, [out_ptr];
    cvta.to.global.u64 %rd1, %rd1;
    mul.wide.u32 %rd2, %r11, 4;
    add.u64 %rd3, %rd1, %rd2;
    st.global.u32 [%rd3], %r10;
    ret;
}
)PTX";

/// The manifest for kScalePtx.
inline const char *kScaleManifest = R"JSON({
  "format_version": 1,
  "producer": "salart unit tests",
  "chip": "sm_80",
  "ptx": "kernels.ptx",
  "kernels": [
    {
      "name": "salart_test_scale",
      "op": "test.scale",
      "attributes": { "note": "y = alpha * x" },
      "params": [
        { "name": "x", "kind": "ptr", "dtype": "f32", "meaning": "[n]", "align": 16 },
        { "name": "y", "kind": "ptr", "dtype": "f32", "meaning": "[n]" },
        { "name": "n", "kind": "i64", "meaning": "elements" },
        { "name": "alpha", "kind": "f32", "meaning": "scale" }
      ],
      "block": [128, 1, 1],
      "grid": [ { "param": "n", "mul": 1, "div": 128 }, 1, 1 ],
      "shared_bytes": 0
    },
    {
      "name": "salart_test_smem",
      "op": "test.smem",
      "params": [
        { "name": "out", "kind": "ptr", "dtype": "i32", "meaning": "[blocks, 128]" },
        { "name": "blocks", "kind": "i32", "meaning": "blocks" }
      ],
      "block": [128, 1, 1],
      "grid": [ { "param": "blocks", "mul": 1, "div": 1 }, 1, 1 ],
      "shared_bytes": 65536
    }
  ]
}
)JSON";

/// Writes the two-kernel test package into `dir`.
inline void writeTestPackage(const TempDir &dir) {
  dir.write("manifest.json", kScaleManifest);
  dir.write("kernels.ptx", kScalePtx);
}

} // namespace salart_test

#endif // SALAC_UNITTESTS_RUNTIME_TESTUTIL_H
