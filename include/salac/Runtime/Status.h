//===- Status.h - Error values of libsalart ----------------------*- C++ -*-===//
//
// libsalart reports failures as values, never as exceptions: the library must
// build under LLVM's -fno-exceptions flags and its errors cross a C ABI. A
// Status carries a code (the same numbers as salart_status in salart.h) and a
// complete, human-readable message.
//
//===----------------------------------------------------------------------===//
#ifndef SALAC_RUNTIME_STATUS_H
#define SALAC_RUNTIME_STATUS_H

#include <string>
#include <utility>

namespace salac::rt {

/// Mirrors salart_status (salart.h); the numbers are ABI.
enum class Code : int {
  Ok = 0,
  InvalidArgument = 1,
  NoDriver = 2,
  Driver = 3,
  Package = 4,
  NotFound = 5,
  Exhausted = 6,
  Internal = 7,
  Capture = 8,
};

class [[nodiscard]] Status {
public:
  Status() = default;
  static Status error(Code code, std::string message) {
    Status s;
    s.code_ = code;
    s.message_ = std::move(message);
    return s;
  }

  bool ok() const { return code_ == Code::Ok; }
  Code code() const { return code_; }
  const std::string &message() const { return message_; }

  /// Prefixes the message with where the failure happened ("loading X: ...").
  Status &prefix(const std::string &where) {
    if (!ok())
      message_ = where + ": " + message_;
    return *this;
  }

private:
  Code code_ = Code::Ok;
  std::string message_;
};

/// printf-style formatting into a std::string.
std::string strFormat(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

} // namespace salac::rt

/// Returns from the enclosing function when `expr` yields a failed Status.
#define SALART_TRY(expr)                                                       \
  do {                                                                         \
    ::salac::rt::Status salart_try_status_ = (expr);                           \
    if (!salart_try_status_.ok())                                              \
      return salart_try_status_;                                               \
  } while (0)

#endif // SALAC_RUNTIME_STATUS_H
