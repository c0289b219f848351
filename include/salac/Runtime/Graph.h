//===- Graph.h - A captured, instantiated CUDA graph -------------*- C++ -*-===//
//
// The kernel launches a thread recorded on a context between beginCapture
// and endCapture (Package.h), instantiated once and replayed at the cost of
// one cuGraphLaunch. The graph holds the argument values of every launch as
// they were at capture time: pointers, not data, so replays read and write
// whatever those buffers hold then.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_GRAPH_H
#define SALAC_RUNTIME_GRAPH_H

#include "salac/Runtime/Package.h"

#include <memory>
#include <vector>

namespace salac::rt {

class Graph {
public:
  /// Ends the capture this thread began on `ctx` and instantiates it. On
  /// failure the capture is over all the same and nothing is kept.
  static Status endCapture(std::shared_ptr<Context> ctx,
                           std::unique_ptr<Graph> &out);
  ~Graph();
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  /// Launches the whole graph on `stream` (as for Package::launch: null is
  /// the legacy default stream, or the capture while this thread captures).
  Status launch(CUstream stream) const;
  /// Nodes of the captured graph: one per kernel launch or memset recorded.
  size_t numNodes() const { return numNodes_; }
  const Context &context() const { return *ctx_; }

private:
  Graph() = default;
  std::shared_ptr<Context> ctx_;
  CUgraph graph_ = nullptr;
  CUgraphExec exec_ = nullptr;
  size_t numNodes_ = 0;
  std::vector<const Package *> pins_; // kept loaded while the graph lives
};

} // namespace salac::rt

#endif // SALAC_RUNTIME_GRAPH_H
