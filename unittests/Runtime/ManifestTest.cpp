//===- ManifestTest.cpp - Reading and checking kernel packages ------------===//

#include "TestUtil.h"
#include "salac/Runtime/Manifest.h"
#include "salac/Runtime/Package.h"

#include <gtest/gtest.h>

using namespace salac::rt;
using salart_test::TempDir;

namespace {

/// A one-kernel manifest with the given grid and an optional replacement.
std::string manifestWith(const std::string &grid,
                         const std::string &version = "1",
                         const std::string &extraParam = "") {
  return R"({ "format_version": )" + version + R"(,
  "kernels": [ { "name": "k",
    "params": [ { "name": "p", "kind": "ptr", "dtype": "bf16" },
                { "name": "tokens", "kind": "i64" },
                { "name": "heads", "kind": "i32" },
                { "name": "scale", "kind": "f32" } )" +
         extraParam + R"( ],
    "block": [256, 1, 1],
    "grid": )" + grid + R"(,
    "shared_bytes": 0 } ] })";
}

Status parse(const std::string &text, Manifest &m) {
  return parseManifest(text, "m.json", m);
}

std::string parseError(const std::string &text) {
  Manifest m;
  Status s = parse(text, m);
  EXPECT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), Code::Package);
  return s.message();
}

TEST(Manifest, ParsesTheDocumentedExample) {
  Manifest m;
  Status s = parse(salart_test::kScaleManifest, m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m.formatVersion, 1);
  EXPECT_EQ(m.producer, "salart unit tests");
  EXPECT_EQ(m.chip, "sm_80");
  EXPECT_EQ(m.ptxFile, "kernels.ptx");
  ASSERT_EQ(m.kernels.size(), 2u);
  const KernelSpec &k = m.kernels[0];
  EXPECT_EQ(k.name, "salart_test_scale");
  EXPECT_EQ(k.op, "test.scale");
  ASSERT_EQ(k.params.size(), 4u);
  EXPECT_EQ(k.params[0].kind, ParamKind::Ptr);
  EXPECT_EQ(k.params[0].dtype, "f32");
  EXPECT_EQ(k.params[2].kind, ParamKind::I64);
  EXPECT_EQ(k.params[3].kind, ParamKind::F32);
  EXPECT_EQ(k.block[0], 128u);
  EXPECT_EQ(k.grid[0].param, 2);
  EXPECT_EQ(k.grid[0].div, 128);
  EXPECT_EQ(k.grid[1].param, -1);
  EXPECT_EQ(k.grid[1].constant, 1);
  EXPECT_EQ(m.kernels[1].sharedBytes, 65536u);
  EXPECT_EQ(m.findKernel("salart_test_smem"), &m.kernels[1]);
  EXPECT_EQ(m.findKernel("nope"), nullptr);
  EXPECT_EQ(m.kernelNames(), "salart_test_scale, salart_test_smem");
}

TEST(Manifest, RejectsOtherFormatVersionsNamingThem) {
  std::string msg = parseError(manifestWith("[1, 1, 1]", "2"));
  EXPECT_NE(msg.find("unsupported format_version 2"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("m.json:1:"), std::string::npos) << msg;
  msg = parseError(manifestWith("[1, 1, 1]", "\"1\""));
  EXPECT_NE(msg.find("format_version must be an integer, found string"),
            std::string::npos)
      << msg;
  msg = parseError(R"({"kernels": []})");
  EXPECT_NE(msg.find("missing \"format_version\""), std::string::npos) << msg;
}

TEST(Manifest, RejectsBadKernelsPrecisely) {
  std::string msg =
      parseError(manifestWith(R"([{"param": "tokenz", "div": 8}, 1, 1])"));
  EXPECT_NE(msg.find("kernel 'k': grid[0]: \"tokenz\" is not a parameter"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("(parameters: p, tokens, heads, scale)"),
            std::string::npos)
      << msg;
  msg = parseError(manifestWith(R"([{"param": "scale"}, 1, 1])"));
  EXPECT_NE(msg.find("has kind f32; a grid rule needs an i64 or i32"),
            std::string::npos)
      << msg;
  msg = parseError(manifestWith(R"([{"param": "tokens", "divide": 8}, 1, 1])"));
  EXPECT_NE(msg.find("unknown key \"divide\""), std::string::npos) << msg;
  msg = parseError(manifestWith(R"([{"param": "tokens", "div": 0}, 1, 1])"));
  EXPECT_NE(msg.find("grid[0].div = 0 is out of range"), std::string::npos)
      << msg;
  msg = parseError(manifestWith("[1, 1]"));
  EXPECT_NE(msg.find("grid must be an array of 3 entries"), std::string::npos)
      << msg;
  msg = parseError(manifestWith("[1, 1, 1]", "1", R"(, {"name": "x", "kind": "u8"})"));
  EXPECT_NE(msg.find("unknown kind \"u8\""), std::string::npos) << msg;
  msg = parseError(manifestWith("[1, 1, 1]", "1", R"(, {"name": "p", "kind": "i32"})"));
  EXPECT_NE(msg.find("duplicate parameter \"p\""), std::string::npos) << msg;

  std::string twoBlocks = manifestWith("[1, 1, 1]");
  twoBlocks.replace(twoBlocks.find("[256, 1, 1]"), 11, "[64, 32, 1]");
  msg = parseError(twoBlocks);
  EXPECT_NE(msg.find("2048 threads; CUDA allows at most 1024"),
            std::string::npos)
      << msg;

  msg = parseError(R"({"format_version": 1, "kernels": [
      {"name": "a", "params": [], "block": [1,1,1], "grid": [1,1,1]},
      {"name": "a", "params": [], "block": [1,1,1], "grid": [1,1,1]}]})");
  EXPECT_NE(msg.find("m.json:3:7: duplicate kernel name 'a'"),
            std::string::npos)
      << msg;
  msg = parseError(R"({"format_version": 1, "kernels": [{"name": "a"}]})");
  EXPECT_NE(msg.find("kernel 'a': missing \"params\""), std::string::npos)
      << msg;
  msg = parseError("[1]");
  EXPECT_NE(msg.find("must be a JSON object, found array"), std::string::npos)
      << msg;
}

TEST(Manifest, PtxIsAFileOfThePackage) {
  for (const char *ptx : {"/etc/passwd", "../kernels.ptx", "sub/k.ptx", ".."}) {
    std::string msg = parseError(std::string(R"({"format_version": 1, "ptx": ")") + ptx +
                                 R"(", "kernels": []})");
    EXPECT_NE(msg.find("ptx must be a file name in the package, got '" + std::string(ptx) +
                       "'"),
              std::string::npos)
        << msg;
  }
}

TEST(Manifest, PtxEntryScan) {
  auto names = ptxEntryNames(salart_test::kScalePtx);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "salart_test_scale");
  EXPECT_EQ(names[1], "salart_test_smem");
  // Comments hide entries; .entry must be a whole token; space before '('.
  names = ptxEntryNames("/* .entry a( */ .func .entryx b(\n"
                        ".visible .entry\tc (\n.entry $d_1%x(");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "c");
  EXPECT_EQ(names[1], "$d_1%x");
}

// ---- Package directories -------------------------------------------------

std::string openError(const std::string &dir, Code expect = Code::Package) {
  std::unique_ptr<Package> p;
  Status s = Package::open(nullptr, dir, p);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), expect);
  EXPECT_EQ(p, nullptr);
  return s.message();
}

TEST(Package, MissingDirectory) {
  std::string msg = openError("/nonexistent/salart/pkg");
  EXPECT_NE(msg.find("package directory /nonexistent/salart/pkg does not "
                     "exist"),
            std::string::npos)
      << msg;
}

TEST(Package, PathIsAFile) {
  TempDir d;
  d.write("f", "x");
  std::string msg = openError(d.file("f"));
  EXPECT_NE(msg.find("is not a directory"), std::string::npos) << msg;
}

TEST(Package, MissingManifest) {
  TempDir d;
  d.write("kernels.ptx", salart_test::kScalePtx);
  std::string msg = openError(d.path());
  EXPECT_NE(msg.find("package " + d.path() + " has no manifest.json"),
            std::string::npos)
      << msg;
}

TEST(Package, MalformedJsonNamesLineAndOffset) {
  TempDir d;
  std::string text = salart_test::kScaleManifest;
  text.erase(text.find("\"producer\"") - 4, 1); // the ',' ending line 2
  d.write("manifest.json", text);
  d.write("kernels.ptx", salart_test::kScalePtx);
  std::string msg = openError(d.path());
  EXPECT_NE(msg.find(d.file("manifest.json") + ":3:3 (offset"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("expected ',' or '}' in object"), std::string::npos)
      << msg;
}

TEST(Package, BadFormatVersion) {
  TempDir d;
  std::string text = salart_test::kScaleManifest;
  text.replace(text.find("\"format_version\": 1"), 19,
               "\"format_version\": 7");
  d.write("manifest.json", text);
  d.write("kernels.ptx", salart_test::kScalePtx);
  std::string msg = openError(d.path());
  EXPECT_NE(msg.find("unsupported format_version 7"), std::string::npos)
      << msg;
}

TEST(Package, MissingPtxFile) {
  TempDir d;
  d.write("manifest.json", salart_test::kScaleManifest);
  std::string msg = openError(d.path());
  EXPECT_NE(msg.find("names PTX file \"kernels.ptx\", but " +
                     d.file("kernels.ptx") + " does not exist"),
            std::string::npos)
      << msg;
}

TEST(Package, KernelMissingFromPtxIsFoundWithoutAGpu) {
  TempDir d;
  std::string ptx = salart_test::kScalePtx;
  ptx.replace(ptx.find(".entry salart_test_smem"), 23,
              ".entry salart_test_other");
  d.write("manifest.json", salart_test::kScaleManifest);
  d.write("kernels.ptx", ptx);
  std::string msg = openError(d.path());
  EXPECT_NE(msg.find("1 kernel(s) of the manifest not defined as .entry in " +
                     d.file("kernels.ptx") + ": salart_test_smem"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("entries found: salart_test_scale, salart_test_other"),
            std::string::npos)
      << msg;
}

TEST(Package, HostOnlyOpenFindsKernels) {
  TempDir d;
  salart_test::writeTestPackage(d);
  std::unique_ptr<Package> p;
  Status s = Package::open(nullptr, d.path(), p);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(p->loaded());
  ASSERT_EQ(p->numKernels(), 2u);
  const Kernel *k = nullptr;
  ASSERT_TRUE(p->find("salart_test_smem", k).ok());
  EXPECT_EQ(k->spec->name, "salart_test_smem");
  EXPECT_EQ(k->numRegs, -1); // not read from a driver
  s = p->find("salart_test_nope", k);
  EXPECT_EQ(s.code(), Code::NotFound);
  EXPECT_NE(s.message().find("no kernel 'salart_test_nope' in package " +
                             d.path() +
                             " (kernels: salart_test_scale, salart_test_smem)"),
            std::string::npos)
      << s.message();
  // Launching a host-only package: a clear error, no driver call.
  int64_t n = 1000;
  float alpha = 2;
  unsigned long long x = 0, y = 0;
  void *args[] = {&x, &y, &n, &alpha};
  ASSERT_TRUE(p->find("salart_test_scale", k).ok());
  s = p->launch(*k, args, nullptr);
  EXPECT_EQ(s.code(), Code::InvalidArgument);
  EXPECT_NE(s.message().find("opened without a device context"),
            std::string::npos)
      << s.message();
  // ... except that a zero grid launches nothing, context or not.
  n = 0;
  EXPECT_TRUE(p->launch(*k, args, nullptr).ok());
}

// ---- Grids ---------------------------------------------------------------

TEST(Grid, FromManifestRules) {
  Manifest m;
  Status s = parse(manifestWith(R"([{"param": "tokens", "mul": 32, "div": 8},
                                    {"param": "heads", "div": 3}, 2])"),
                   m);
  ASSERT_TRUE(s.ok()) << s.message();
  const KernelSpec &k = m.kernels[0];
  unsigned long long p = 0;
  int64_t tokens = 5;
  int32_t heads = 7;
  float scale = 1;
  void *args[] = {&p, &tokens, &heads, &scale};
  uint32_t grid[3] = {0, 0, 0};
  ASSERT_TRUE(computeGrid(k, args, grid).ok());
  EXPECT_EQ(grid[0], 20u); // ceil(5 * 32 / 8)
  EXPECT_EQ(grid[1], 3u);  // ceil(7 / 3)
  EXPECT_EQ(grid[2], 2u);

  tokens = 3; // 96 / 8 = 12 exactly: no rounding up
  ASSERT_TRUE(computeGrid(k, args, grid).ok());
  EXPECT_EQ(grid[0], 12u);

  tokens = 0; // zero is valid: the launch is skipped
  ASSERT_TRUE(computeGrid(k, args, grid).ok());
  EXPECT_EQ(grid[0], 0u);

  // i64 values above 2^32 must be read as 64-bit.
  tokens = (int64_t(1) << 33) + 1;
  s = computeGrid(k, args, grid);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("exceeds the CUDA limit 2147483647"),
            std::string::npos)
      << s.message();

  tokens = -4;
  s = computeGrid(k, args, grid);
  EXPECT_EQ(s.code(), Code::InvalidArgument);
  EXPECT_NE(s.message().find("tokens = -4 is negative"), std::string::npos)
      << s.message();

  tokens = 1;
  heads = 65535 * 3 + 1; // grid.y above 65535
  s = computeGrid(k, args, grid);
  EXPECT_NE(s.message().find("grid[1]"), std::string::npos) << s.message();

  heads = 7;
  void *nullArg[] = {&p, &tokens, nullptr, &scale};
  s = computeGrid(k, nullArg, grid);
  EXPECT_NE(s.message().find("needs parameter 2 (\"heads\")"),
            std::string::npos)
      << s.message();
}

TEST(Grid, I32ParamReadsOnlyFourBytes) {
  Manifest m;
  ASSERT_TRUE(parse(manifestWith(R"([{"param": "heads"}, 1, 1])"), m).ok());
  // An i32 followed by garbage: only the first 4 bytes may be read.
  struct {
    int32_t v;
    int32_t garbage;
  } heads = {9, -1};
  unsigned long long p = 0;
  int64_t tokens = 0;
  float scale = 0;
  void *args[] = {&p, &tokens, &heads.v, &scale};
  uint32_t grid[3];
  ASSERT_TRUE(computeGrid(m.kernels[0], args, grid).ok());
  EXPECT_EQ(grid[0], 9u);
}

} // namespace
