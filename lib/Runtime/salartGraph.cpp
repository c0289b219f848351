//===- salartGraph.cpp - The C API of CUDA graph capture and replay -------===//
//
// salart_graph_begin/end/abort on a context, salart_graph_launch/destroy on
// the instantiated graph (Graph.h). A destroyed graph handle stays allocated
// as a tombstone, so that using it again is a clear error, not a crash.
//
//===----------------------------------------------------------------------===//

#include "CApi.h"
#include "salac/Runtime/Graph.h"

#include <mutex>
#include <vector>

using namespace salac::rt;
using namespace salac::rt::capi;

namespace {
constexpr uint64_t kGraphMagic = 0x53414c4147524150ull; // "SALAGRAP"
constexpr uint64_t kDeadMagic = 0x5341474444454144ull;  // destroyed
} // namespace

struct salart_graph {
  uint64_t magic = kGraphMagic;
  std::unique_ptr<Graph> graph; // null once destroyed
};

/// Destroyed handles: kept (16 bytes each) so that a later use reads a
/// tombstone instead of freed memory, and reachable, so leak checkers agree.
static void bury(salart_graph *h) {
  static std::mutex mu;
  static auto *graveyard = new std::vector<salart_graph *>();
  std::lock_guard<std::mutex> lock(mu);
  graveyard->push_back(h);
}

/// The live graph behind a handle, or the error naming what is wrong.
static Status liveGraph(const char *fn, salart_graph *h, const Graph *&out) {
  if (h->magic == kDeadMagic || (h->magic == kGraphMagic && !h->graph))
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: graph %p was destroyed "
                                   "(salart_graph_destroy); capture it again",
                                   fn, static_cast<void *>(h)));
  if (h->magic != kGraphMagic)
    return Status::error(Code::InvalidArgument,
                         strFormat("%s: %p is not a salart_graph handle", fn,
                                   static_cast<void *>(h)));
  out = h->graph.get();
  return Status();
}

extern "C" {

int salart_context_stream(salart_context *ctx, void **stream) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(stream);
  CUstream s;
  SALART_TRY(ctx->ctx->ownStream(s));
  *stream = s;
  return Status();
  SALART_END
}

int salart_graph_begin(salart_context *ctx) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->beginCapture();
  SALART_END
}

int salart_graph_end(salart_context *ctx, salart_graph **out) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(out); // checked first: the capture stays open to retry
  auto handle = std::make_unique<salart_graph>();
  SALART_TRY(Graph::endCapture(ctx->ctx, handle->graph));
  *out = handle.release();
  return Status();
  SALART_END
}

int salart_graph_abort(salart_context *ctx) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  return ctx->ctx->abortCapture();
  SALART_END
}

int salart_graph_capturing(salart_context *ctx, int *state) {
  SALART_BEGIN
  SALART_REQUIRE(ctx);
  SALART_REQUIRE(state);
  const Context &c = *ctx->ctx;
  *state = c.capturingOnThisThread() ? 1 : c.capturing() ? 2 : 0;
  return Status();
  SALART_END
}

int salart_graph_launch(salart_graph *graph, void *stream) {
  SALART_BEGIN
  SALART_REQUIRE(graph);
  const Graph *g;
  SALART_TRY(liveGraph(salart_fn_, graph, g));
  return g->launch(static_cast<CUstream>(stream));
  SALART_END
}

int salart_graph_num_nodes(salart_graph *graph, int64_t *count) {
  SALART_BEGIN
  SALART_REQUIRE(graph);
  SALART_REQUIRE(count);
  const Graph *g;
  SALART_TRY(liveGraph(salart_fn_, graph, g));
  *count = int64_t(g->numNodes());
  return Status();
  SALART_END
}

int salart_graph_destroy(salart_graph *graph) {
  SALART_BEGIN
  if (!graph)
    return Status();
  const Graph *g;
  SALART_TRY(liveGraph(salart_fn_, graph, g));
  graph->graph.reset();
  graph->magic = kDeadMagic; // the tombstone: see salart.h
  bury(graph);
  return Status();
  SALART_END
}

} // extern "C"
