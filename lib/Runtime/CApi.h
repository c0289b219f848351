//===- CApi.h - Shared plumbing of the C API (private) ------------*- C++ -*-===//
//
// What salart.cpp and salartPools.cpp both need: the context handle, and the
// conversion of a Status (or an exception, which must never cross the C ABI)
// into a salart_status plus the thread-local message.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_LIB_RUNTIME_CAPI_H
#define SALAC_LIB_RUNTIME_CAPI_H

#include "salac/Runtime/Package.h"
#include "salac/Runtime/salart.h"

#include <exception>
#include <memory>
#include <new>
#include <string>

struct salart_context {
  std::shared_ptr<salac::rt::Context> ctx;
};

namespace salac::rt::capi {

extern thread_local std::string tlsLastError;

inline int report(const Status &s) {
  if (s.ok())
    return SALART_OK;
  tlsLastError = s.message();
  return int(s.code());
}

/// Runs `fn` (returning Status) and converts the outcome; only allocation can
/// throw in libsalart, but anything thrown is caught here.
template <typename Fn> int guarded(Fn &&fn) {
  try {
    return report(fn());
  } catch (const std::bad_alloc &) {
    tlsLastError = "libsalart: out of host memory";
  } catch (const std::exception &e) {
    tlsLastError = std::string("libsalart: unexpected exception: ") + e.what();
  } catch (...) {
    tlsLastError = "libsalart: unexpected exception";
  }
  return SALART_ERROR_INTERNAL;
}

inline Status nullArg(const char *fn, const char *arg) {
  return Status::error(Code::InvalidArgument,
                       strFormat("%s: %s is null", fn, arg));
}

} // namespace salac::rt::capi

/// Brackets the body of every C entry point: the body returns a Status.
/// (__func__ is captured outside the lambda, where it names the C function.)
#define SALART_BEGIN                                                           \
  const char *salart_fn_ = __func__;                                           \
  (void)salart_fn_;                                                            \
  return ::salac::rt::capi::guarded([&]() -> ::salac::rt::Status {
#define SALART_END                                                             \
  });

/// Rejects a null handle or out-pointer, naming the API function and argument.
#define SALART_REQUIRE(arg)                                                    \
  do {                                                                         \
    if (!(arg))                                                                \
      return ::salac::rt::capi::nullArg(salart_fn_, #arg);                     \
  } while (0)

#endif // SALAC_LIB_RUNTIME_CAPI_H
