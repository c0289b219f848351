//===- Graph.cpp - A captured, instantiated CUDA graph --------------------===//

#include "salac/Runtime/Graph.h"

namespace salac::rt {

Status Graph::endCapture(std::shared_ptr<Context> ctx,
                         std::unique_ptr<Graph> &out) {
  std::unique_ptr<Graph> g(new Graph());
  g->ctx_ = std::move(ctx);
  // From here on the destructor releases the graph and unpins the packages.
  SALART_TRY(g->ctx_->endCapture(g->graph_, g->pins_));
  const CudaDriver &drv = g->ctx_->driver();
  SALART_TRY(SALART_CU(drv, cuGraphGetNodes, g->graph_, nullptr,
                       &g->numNodes_));
  Status s = SALART_CU(drv, cuGraphInstantiate, &g->exec_, g->graph_, 0ull);
  if (!s.ok()) {
    g->exec_ = nullptr;
    return s.prefix(strFormat("instantiating a graph of %zu nodes on "
                              "device %d",
                              g->numNodes_, g->ctx_->ordinal()));
  }
  out = std::move(g);
  return Status();
}

Graph::~Graph() {
  if (ctx_ && (graph_ || exec_)) {
    const CudaDriver &drv = ctx_->driver();
    (void)ctx_->makeCurrent();
    // A graph still running is released by the driver once it completes.
    if (exec_)
      (void)drv.cuGraphExecDestroy(exec_);
    if (graph_)
      (void)drv.cuGraphDestroy(graph_);
  }
  for (const Package *p : pins_)
    p->unpin();
}

Status Graph::launch(CUstream stream) const {
  CUstream s = stream;
  SALART_TRY(ctx_->resolveStream(stream, "graph launch", s));
  SALART_TRY(ctx_->makeCurrent());
  CUresult r = ctx_->driver().cuGraphLaunch(exec_, s);
  if (r == CUDA_SUCCESS)
    return Status();
  return ctx_->driver().check(r, CudaDriver::cuGraphLaunch_symbol,
                              strFormat("launching a graph of %zu nodes on "
                                        "device %d",
                                        numNodes_, ctx_->ordinal()));
}

} // namespace salac::rt
