// Errors cross module boundaries as values. Boost 1.74 has no boost::system::result and
// std::expected is C++23, so this is the small subset we use.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace signgate {

// What kind of failure an error is, so that callers branch on the kind, never on the text.
enum class ErrorKind {
  kOther,
  kTimeout,      // no answer within the deadline
  kUnreachable,  // resolving, connecting, the proxy or the TLS handshake failed: nothing was sent
  kBroken,       // the connection broke, or the peer spoke malformed HTTP, once the request was out
  kTooLarge,     // more bytes than the limit allowed
  kNotFound,     // what was named is not known (or no longer kept)
};

// One readable line saying what failed and, where known, what to do about it.
struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::kOther;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return std::get<1>(v_).message; }
  ErrorKind kind() const { return std::get<1>(v_).kind; }

 private:
  std::variant<T, Error> v_;
};

inline Error make_error(std::string message, ErrorKind kind = ErrorKind::kOther) {
  return Error{std::move(message), kind};
}

}  // namespace signgate
