#include "aws/eventstream.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace signgate::aws::eventstream {
namespace {

std::uint32_t read_u32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

std::uint64_t read_be(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void put_be(std::string& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// Parses the header block [p, end) into `out`, reusing the entries (and their strings' room) a
// message decoded before left there: a stream's frames have the same few headers. Returns
// false on any overrun or unknown type.
bool parse_headers(const unsigned char* p, const unsigned char* end, std::vector<Header>& out) {
  std::size_t n = 0;
  while (p < end) {
    const std::size_t name_len = *p++;
    if (name_len == 0 || static_cast<std::size_t>(end - p) < name_len + 1) return false;
    if (n == out.size()) out.emplace_back();
    Header& h = out[n++];
    h.name.assign(reinterpret_cast<const char*>(p), name_len);
    p += name_len;
    const auto type = static_cast<HeaderType>(*p++);
    const auto remaining = static_cast<std::size_t>(end - p);
    h.value.type = type;
    switch (type) {
      case HeaderType::kBoolTrue:
      case HeaderType::kBoolFalse: h.value.value = (type == HeaderType::kBoolTrue); break;
      case HeaderType::kByte:
        if (remaining < 1) return false;
        h.value.value = std::int64_t(static_cast<std::int8_t>(*p));
        p += 1;
        break;
      case HeaderType::kInt16:
        if (remaining < 2) return false;
        h.value.value = std::int64_t(static_cast<std::int16_t>(read_be(p, 2)));
        p += 2;
        break;
      case HeaderType::kInt32:
        if (remaining < 4) return false;
        h.value.value = std::int64_t(static_cast<std::int32_t>(read_be(p, 4)));
        p += 4;
        break;
      case HeaderType::kInt64:
      case HeaderType::kTimestamp:
        if (remaining < 8) return false;
        h.value.value = static_cast<std::int64_t>(read_be(p, 8));
        p += 8;
        break;
      case HeaderType::kByteArray:
      case HeaderType::kString: {
        if (remaining < 2) return false;
        const std::size_t len = read_be(p, 2);
        p += 2;
        if (remaining - 2 < len) return false;
        if (auto* held = std::get_if<std::string>(&h.value.value)) {
          held->assign(reinterpret_cast<const char*>(p), len);
        } else {
          h.value.value = std::string(reinterpret_cast<const char*>(p), len);
        }
        p += len;
        break;
      }
      case HeaderType::kUuid: {
        if (remaining < 16) return false;
        Uuid u;
        std::memcpy(u.data(), p, 16);
        h.value.value = u;
        p += 16;
        break;
      }
      default: return false;
    }
  }
  out.resize(n);
  return true;
}

Error check_lengths(std::uint32_t total, std::uint32_t headers_len, const Limits& limits) {
  if (total < kMinMessageBytes) return Error::kMessageTooShort;
  if (total > limits.max_message_bytes) return Error::kMessageTooLarge;
  if (headers_len > limits.max_headers_bytes || headers_len > total - kMinMessageBytes) {
    return Error::kHeadersTooLarge;
  }
  return Error::kNone;
}

}  // namespace

std::uint32_t crc32(std::string_view data, std::uint32_t crc) {
  return static_cast<std::uint32_t>(::libdeflate_crc32(crc, data.data(), data.size()));
}

std::string_view to_string(Error e) {
  switch (e) {
    case Error::kNone: return "no error";
    case Error::kPreludeChecksumMismatch: return "Prelude checksum mismatch";
    case Error::kMessageChecksumMismatch: return "Message checksum mismatch";
    case Error::kMessageTooShort: return "Message shorter than its prelude and checksum";
    case Error::kMessageTooLarge: return "Message larger than the limit";
    case Error::kHeadersTooLarge: return "Headers larger than the limit or the message";
    case Error::kMalformedHeader: return "Malformed header";
  }
  return "unknown error";
}

const std::string* Message::string_header(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name == name && h.value.type == HeaderType::kString) {
      return &std::get<std::string>(h.value.value);
    }
  }
  return nullptr;
}

Error decode_frame(std::string_view frame, Message& out, const Limits& limits) {
  if (frame.size() < kPreludeBytes) return Error::kMessageTooShort;
  const unsigned char* p = bytes(frame);
  const std::uint32_t total = read_u32(p);
  const std::uint32_t headers_len = read_u32(p + 4);
  const std::uint32_t prelude_crc = read_u32(p + 8);
  if (crc32(frame.substr(0, 8)) != prelude_crc) return Error::kPreludeChecksumMismatch;
  if (Error e = check_lengths(total, headers_len, limits); e != Error::kNone) return e;
  if (frame.size() != total) return Error::kMessageTooShort;
  const std::uint32_t message_crc = read_u32(p + total - 4);
  if (crc32(frame.substr(8, total - 12), prelude_crc) != message_crc) {
    return Error::kMessageChecksumMismatch;
  }
  if (!parse_headers(p + kPreludeBytes, p + kPreludeBytes + headers_len, out.headers)) {
    out.headers.clear();  // entries half-overwritten (a type set, its value the last frame's) go
    return Error::kMalformedHeader;
  }
  out.payload.assign(frame.substr(kPreludeBytes + headers_len, total - headers_len - kMinMessageBytes));
  out.total_length = total;
  out.headers_length = headers_len;
  out.prelude_crc = prelude_crc;
  out.message_crc = message_crc;
  return Error::kNone;
}

std::optional<std::uint32_t> Decoder::check_prelude(const unsigned char* p) {
  const std::uint32_t total = read_u32(p);
  const std::uint32_t headers_len = read_u32(p + 4);
  if (crc32(std::string_view(reinterpret_cast<const char*>(p), 8)) != read_u32(p + 8)) {
    error_ = Error::kPreludeChecksumMismatch;
    return std::nullopt;
  }
  if (Error e = check_lengths(total, headers_len, limits_); e != Error::kNone) {
    error_ = e;
    return std::nullopt;
  }
  return total;
}

Decoder::Result Decoder::parse_frame(std::string_view frame, std::size_t consumed) {
  Result r;
  r.consumed = consumed;
  error_ = decode_frame(frame, message_, limits_);
  if (error_ != Error::kNone) {
    r.error = error_;
    return r;
  }
  r.message = &message_;
  return r;
}

Decoder::Result Decoder::feed(std::string_view data) {
  if (error_ != Error::kNone) return {nullptr, 0, error_};
  if (data.empty()) return {};

  // Fast path: a whole frame at the start of `data` is decoded in place, without copying.
  if (pending_.empty() && data.size() >= kPreludeBytes) {
    const auto total = check_prelude(bytes(data));
    if (!total) return {nullptr, 0, error_};
    if (data.size() >= *total) return parse_frame(data.substr(0, *total), *total);
    pending_total_ = *total;
    pending_.reserve(*total);
    pending_.assign(data);
    return {nullptr, data.size(), Error::kNone};
  }

  std::size_t taken = 0;
  if (pending_.size() < kPreludeBytes) {
    const std::size_t n = std::min(kPreludeBytes - pending_.size(), data.size());
    pending_.append(data.substr(0, n));
    taken = n;
    if (pending_.size() < kPreludeBytes) return {nullptr, taken, Error::kNone};
    const auto total = check_prelude(bytes(pending_));
    if (!total) return {nullptr, taken, error_};
    pending_total_ = *total;
    pending_.reserve(*total);
  }
  const std::size_t n = std::min<std::size_t>(pending_total_ - pending_.size(), data.size() - taken);
  pending_.append(data.substr(taken, n));
  taken += n;
  if (pending_.size() < pending_total_) return {nullptr, taken, Error::kNone};

  Result r = parse_frame(pending_, taken);
  pending_.clear();
  pending_total_ = 0;
  return r;
}

std::string encode(const std::vector<Header>& headers, std::string_view payload) {
  std::string hdr;
  for (const Header& h : headers) {
    if (h.name.empty() || h.name.size() > 255) {
      throw std::invalid_argument("event-stream header name must be 1 to 255 bytes");
    }
    if (const auto* s = std::get_if<std::string>(&h.value.value); s && s->size() > 0xffff) {
      throw std::invalid_argument("event-stream header value must be at most 65535 bytes");
    }
    hdr.push_back(static_cast<char>(h.name.size()));
    hdr.append(h.name);
    hdr.push_back(static_cast<char>(h.value.type));
    switch (h.value.type) {
      case HeaderType::kBoolTrue:
      case HeaderType::kBoolFalse: break;
      case HeaderType::kByte: put_be(hdr, std::get<std::int64_t>(h.value.value), 1); break;
      case HeaderType::kInt16: put_be(hdr, std::get<std::int64_t>(h.value.value), 2); break;
      case HeaderType::kInt32: put_be(hdr, std::get<std::int64_t>(h.value.value), 4); break;
      case HeaderType::kInt64:
      case HeaderType::kTimestamp: put_be(hdr, std::get<std::int64_t>(h.value.value), 8); break;
      case HeaderType::kByteArray:
      case HeaderType::kString: {
        const auto& s = std::get<std::string>(h.value.value);
        put_be(hdr, s.size(), 2);
        hdr.append(s);
        break;
      }
      case HeaderType::kUuid: {
        const auto& u = std::get<Uuid>(h.value.value);
        hdr.append(reinterpret_cast<const char*>(u.data()), u.size());
        break;
      }
    }
  }
  const std::size_t total = kMinMessageBytes + hdr.size() + payload.size();
  std::string out;
  out.reserve(total);
  put_be(out, total, 4);
  put_be(out, hdr.size(), 4);
  const std::uint32_t prelude_crc = crc32(out);
  put_be(out, prelude_crc, 4);
  out.append(hdr);
  out.append(payload);
  put_be(out, crc32(std::string_view(out).substr(8), prelude_crc), 4);
  return out;
}

}  // namespace signgate::aws::eventstream
