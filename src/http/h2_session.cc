#include "http/h2_session.h"

#include <nghttp2/nghttp2.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace signgate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr std::int32_t kStreamWindow = 64 * 1024;     // a stream's DATA before its handler reads
constexpr std::int32_t kReadingWindow = 1024 * 1024;  // a stream's window while its handler reads
constexpr std::int32_t kConnectionWindow = 4 * 1024 * 1024;
constexpr std::uint32_t kMaxConcurrentStreams = 100;
constexpr std::uint64_t kRequestsPerConnection = 10'000;   // then GOAWAY: the client opens another
constexpr std::uint64_t kBodyBudget = 64ull << 20;         // request bodies being read, per connection
constexpr std::size_t kMaxQueuedFrames = 4'096;            // frames waiting to be written before reading pauses
constexpr std::size_t kMaxFieldBytes = 65'000;             // one field: Beast's own cap is just above
constexpr std::size_t kQueueHigh = 64 * 1024;              // answer bytes a stream may have queued
constexpr int kControlFramesPerWindow = 2'000;             // PING, SETTINGS, RST, PRIORITY...
constexpr auto kControlWindow = std::chrono::seconds(10);  // ... and empty DATA, per 10 s

// nghttp2 ends the connection (GOAWAY PROTOCOL_ERROR) when a client opens a stream past the limit
// it believes it advertised, and no option turns that off. So nghttp2 is given this larger limit,
// the client is told kMaxConcurrentStreams (advertise_stream_limit), and on_begin_headers refuses
// a stream past that with REFUSED_STREAM, which clients retry. nghttp2 counts a refused stream
// until its RST_STREAM is written, and reading pauses past kMaxQueuedFrames: only a client that
// does not read reaches this (a 16 KiB read holds at most 1,639 HEADERS frames), and is cut off.
constexpr auto kNghttp2StreamLimit = static_cast<std::uint32_t>(kMaxConcurrentStreams + 2 * kMaxQueuedFrames);

struct H2Stream {
  explicit H2Stream(const asio::any_io_executor& ex, std::int32_t stream_id) : id(stream_id), wake(ex) {}

  std::int32_t id;
  RequestHead head;
  std::string authority;
  std::size_t header_bytes = 0;
  std::size_t header_count = 0;
  bool head_too_large = false;
  bool trailers = false;       // a second header block: refused as malformed, as on HTTP/1.1
  bool end_stream_in = false;  // the request is complete
  bool announced = false;      // the HEADERS frame did not end the stream
  bool closed = false;         // nghttp2 closed the stream (either side ended or reset it)
  asio::steady_timer wake;     // the handler waiting for body bytes or for room to write
  std::string reset_reason;    // set when signgate resets the stream itself
  // Fired when the stream ends before its answer: stops the upstream work done for it.
  std::shared_ptr<AbortSignal> abort = std::make_shared<AbortSignal>();

  // The request body.
  bool reading = false;
  std::uint64_t limit = 0;
  std::string body;
  bool too_large = false;
  std::uint64_t unconsumed = 0;  // received, not yet acknowledged to the peer
  std::uint64_t reserved = 0;    // of the connection's body budget, while the handler reads
  bool waiting_budget = false;
  bool discard = false;  // answered without a handler: further DATA is dropped
  bool local = false;    // answered by the connection itself (431)
  bool handler = false;  // a handler runs for it
  Clock::time_point opened = Clock::now();

  // The answer.
  bool head_only = false;
  std::string out;
  std::size_t out_pos = 0;
  bool eof = false;       // the handler has given the last byte
  bool eof_sent = false;  // and nghttp2 has framed it
  bool deferred = false;  // nghttp2 waits for nghttp2_session_resume_data
  std::size_t pending() const { return out.size() - out_pos; }
};

// "content-length" and friends: HTTP/2 forbids connection-specific fields, and signgate frames
// the body itself.
bool dropped_field(const std::string& lower) {
  return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
         lower == "transfer-encoding" || lower == "upgrade" || lower == "te" || lower == "content-length";
}

// The bytes nghttp2 wrote begin with its SETTINGS frame, which says kNghttp2StreamLimit: the
// client is told kMaxConcurrentStreams instead. False if they do not begin with that frame.
bool advertise_stream_limit(std::string& bytes) {
  const auto byte = [&](std::size_t at) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at])); };
  if (bytes.size() < 9 || byte(3) != NGHTTP2_SETTINGS || byte(4) != 0) return false;
  const std::size_t end = 9 + ((byte(0) << 16) | (byte(1) << 8) | byte(2));
  for (std::size_t at = 9; at + 6 <= end && at + 6 <= bytes.size(); at += 6) {
    const std::uint32_t id = (byte(at) << 8) | byte(at + 1);
    const std::uint32_t value = (byte(at + 2) << 24) | (byte(at + 3) << 16) | (byte(at + 4) << 8) | byte(at + 5);
    if (id != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS || value != kNghttp2StreamLimit) continue;
    for (int i = 0; i < 4; ++i) bytes[at + 2 + i] = static_cast<char>((kMaxConcurrentStreams >> (24 - 8 * i)) & 0xff);
    return true;
  }
  return false;
}

template <class Stream>
class H2Connection final : public std::enable_shared_from_this<H2Connection<Stream>> {
 public:
  H2Connection(Stream& stream, H2Hooks hooks)
      : stream_(stream),
        hooks_(std::move(hooks)),
        executor_(stream.get_executor()),
        writer_wake_(executor_),
        done_wake_(executor_),
        tick_(executor_),
        opened_(Clock::now()),
        last_activity_(Clock::now()),
        control_window_start_(Clock::now()) {}

  ~H2Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  bool start() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2Connection::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Connection::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Connection::on_frame_recv);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &H2Connection::on_begin_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Connection::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Connection::on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_header_callback(cbs, &H2Connection::on_invalid_header);
    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) {
      nghttp2_session_callbacks_del(cbs);
      return false;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    const int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) return false;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kNghttp2StreamLimit},  // kMaxConcurrentStreams on the wire
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kStreamWindow)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(hooks_.options->max_header_bytes)},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) return false;
    return nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) == 0;
  }

  // The connection: reads and feeds nghttp2 until either side ends it, then waits for the
  // writer, the watchdog and every handler.
  asio::awaitable<void> run(std::string preread) {
    auto self = this->shared_from_this();
    // Counted before they start: this coroutine waits for both before the stream goes away.
    tasks_ = 2;
    asio::co_spawn(executor_, write_loop(self), asio::detached);
    asio::co_spawn(executor_, watchdog(self), asio::detached);
    try {
      if (!feed(preread.data(), preread.size())) fail();
      co_await read_loop();
    } catch (const std::exception& e) {
      spdlog::error("HTTP/2 connection failed: {}", e.what());
    }
    close();
    // The writer and the watchdog end once closed; handlers end once their stream is closed.
    while (tasks_ > 0 || handlers_ > 0) {
      done_wake_.expires_at(asio::steady_timer::time_point::max());
      error_code ec;
      co_await done_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::awaitable<void> read_loop() {
    std::vector<char> buffer(16 * 1024);
    while (!closed_) {
      // A client that does not read what it provokes (RST_STREAMs, ACKs) cannot make the
      // queue grow: reading waits for the writer.
      while (!closed_ && nghttp2_session_get_outbound_queue_size(session_) > kMaxQueuedFrames) {
        done_wake_.expires_after(std::chrono::milliseconds(50));
        error_code ec;
        co_await done_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      error_code ec;
      // Cleartext: waiting for the socket to be readable first spares a read that would find
      // nothing (Asio tries one at once), one system call less for each request on a quiet
      // connection. Not under TLS: bytes the TLS layer holds undecrypted would not wake it.
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        co_await beast::get_lowest_layer(stream_).socket().async_wait(asio::ip::tcp::socket::wait_read,
                                                                      asio::redirect_error(asio::use_awaitable, ec));
        if (ec || closed_) break;
      }
      // Named buffers: GCC 12 loses temporaries made inside a co_await expression.
      const auto space = asio::buffer(buffer.data(), buffer.size());
      const std::size_t n = co_await stream_.async_read_some(space, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || closed_) break;
      if (!feed(buffer.data(), n)) break;
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) break;
    }
  }

  static H2Connection& of(void* user_data) { return *static_cast<H2Connection*>(user_data); }

  // The stream is over for the client: its handler is woken and, if its answer was not all
  // framed, whatever it waits on upstream is stopped (the rest would go nowhere).
  static void gone(H2Stream& st, std::string why) {
    st.closed = true;
    st.wake.cancel();
    if (st.handler && !st.eof_sent) st.abort->fire(st.reset_reason.empty() ? std::move(why) : st.reset_reason);
  }

  std::shared_ptr<H2Stream> find(std::int32_t id) const {
    const auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second;
  }

  bool feed(const char* data, std::size_t size) {
    if (size == 0) return true;
    const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), size);
    if (rv < 0) {
      // Flooding, a bad preface, too many CONTINUATION frames: the connection is over.
      spdlog::debug("HTTP/2 connection closed: {}", nghttp2_strerror(static_cast<int>(rv)));
      return false;
    }
    wake_writer();
    return true;
  }

  void wake_writer() { writer_wake_.cancel(); }

  void fail() {
    closed_ = true;
    close();
  }

  // Ends the connection: the reader and the writer stop, every stream's handler is woken.
  void close() {
    closed_ = true;
    for (auto& [id, st] : streams_) gone(*st, "the connection ended");
    streams_.clear();
    error_code ec;
    beast::get_lowest_layer(stream_).socket().cancel(ec);
    tick_.cancel();
    wake_writer();
  }

  void task_done() {
    --tasks_;
    done_wake_.cancel();
  }

  // The parameter keeps the connection alive while this runs.
  asio::awaitable<void> write_loop(std::shared_ptr<H2Connection> /*self*/) {
    try {
      co_await write_batches();
    } catch (const std::exception& e) {
      spdlog::error("HTTP/2 connection failed: {}", e.what());
      close();
    }
    task_done();
  }

  asio::awaitable<void> write_batches() {
    std::string batch;
    while (!closed_) {
      batch.clear();
      for (;;) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) {
          fail();
          break;
        }
        if (n == 0) break;
        batch.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        if (batch.size() >= 64 * 1024) break;
      }
      if (closed_) break;
      if (batch.empty()) {
        if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
          close();
          break;
        }
        writer_wake_.expires_at(asio::steady_timer::time_point::max());
        error_code ec;
        co_await writer_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (!limit_advertised_) {
        if (!advertise_stream_limit(batch)) {
          spdlog::error("HTTP/2 connection closed: nghttp2's first frame was not its SETTINGS");
          fail();
          break;
        }
        limit_advertised_ = true;
      }
      error_code ec;
      write_deadline_ = Clock::now() + hooks_.options->write_timeout;
      writing_ = true;
      const auto bytes = asio::buffer(batch);
      co_await asio::async_write(stream_, bytes, asio::redirect_error(asio::use_awaitable, ec));
      writing_ = false;
      if (ec) {
        close();
        break;
      }
    }
  }

  // Once a second: a write that takes too long, an idle connection, a server that is stopping.
  asio::awaitable<void> watchdog(std::shared_ptr<H2Connection> /*self*/) {
    // Registered while it runs, however it ends: stop() wakes it to send GOAWAY.
    struct Registered {
      std::set<asio::steady_timer*>* set;
      asio::steady_timer* timer;
      ~Registered() {
        if (set != nullptr) set->erase(timer);
      }
    } registered{hooks_.stop_wakes, &tick_};
    if (hooks_.stop_wakes != nullptr) hooks_.stop_wakes->insert(&tick_);
    while (!closed_) {
      // Stopping, it looks often: the GOAWAY is out, the last bytes are flushed, then it closes.
      tick_.expires_after(hooks_.stopping->load() ? std::chrono::milliseconds(20) : std::chrono::seconds(1));
      error_code ec;
      co_await tick_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (closed_) break;
      const auto now = Clock::now();
      if (writing_ && now > write_deadline_) {
        close();
        break;
      }
      // A header block that does not end, or a stream answered locally whose body still trickles
      // in, gets header_timeout, as an HTTP/1.1 head does: then the stream is reset.
      for (auto& [id, st] : streams_) {
        if (!st->handler && now - st->opened > hooks_.options->header_timeout) {
          nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
          st->opened = Clock::time_point::max() - std::chrono::hours(24 * 365);  // once
          wake_writer();
        }
      }
      // Idle: no stream for the keep-alive time (the first for header_timeout after the
      // connection opened). PINGs and WINDOW_UPDATEs do not count as activity.
      const bool idle = streams_.empty() && handlers_ == 0 &&
                        (requests_ == 0 ? now - opened_ > hooks_.options->header_timeout
                                        : now - last_activity_ > hooks_.options->keep_alive_timeout);
      if ((hooks_.stopping->load() || idle) && !goaway_sent_) goaway();
      if (goaway_sent_ && streams_.empty() && handlers_ == 0 && nghttp2_session_want_write(session_) == 0 &&
          !writing_) {
        close();
        break;
      }
      if (goaway_sent_ && idle &&
          now - last_activity_ > hooks_.options->keep_alive_timeout + hooks_.options->header_timeout) {
        close();  // a client that never reads its GOAWAY
        break;
      }
    }
    task_done();
  }

  // No new streams: the ones begun finish, later ones the client retries elsewhere.
  void goaway() {
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    wake_writer();
  }

  void consume(H2Stream& st, std::uint64_t n) {
    if (n == 0) return;
    if (st.closed) {
      nghttp2_session_consume_connection(session_, n);
    } else {
      nghttp2_session_consume(session_, st.id, n);
    }
    wake_writer();
  }

  // Gives back a stream's share of the body budget and wakes the readers waiting for one.
  void release(H2Stream& st) {
    if (st.reserved == 0) return;
    reserved_ -= st.reserved;
    st.reserved = 0;
    for (auto& [id, other] : streams_) {
      if (other->waiting_budget) other->wake.cancel();
    }
  }

  // --- nghttp2 callbacks ---

  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    H2Connection& c = of(user_data);
    // WINDOW_UPDATE is not counted: a reader that acknowledges every small DATA frame of a long
    // stream sends thousands, and each costs nghttp2 next to nothing.
    const bool control = hd->type == NGHTTP2_PING || hd->type == NGHTTP2_SETTINGS || hd->type == NGHTTP2_RST_STREAM ||
                         hd->type == NGHTTP2_PRIORITY || (hd->type == NGHTTP2_CONTINUATION && hd->length == 0);
    if (!control) return 0;
    c.count_control();
    return 0;
  }

  // One more control or empty frame; past the rate the connection ends with ENHANCE_YOUR_CALM
  // (the GOAWAY is still written: nghttp2 stops reading, the writer flushes it, then closes).
  void count_control() {
    const auto now = Clock::now();
    if (now - control_window_start_ > kControlWindow) {
      control_window_start_ = now;
      control_frames_ = 0;
    }
    if (++control_frames_ > kControlFramesPerWindow) {
      spdlog::warn("HTTP/2 connection closed: more than {} control or empty frames in {} s", kControlFramesPerWindow,
                   kControlWindow.count());
      nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
      wake_writer();
    }
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    H2Connection& c = of(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    const std::int32_t id = frame->hd.stream_id;
    // Handlers still running count too: a stream reset by the client keeps its handler until
    // that handler notices, so resets cannot be used to run unbounded work.
    if (c.streams_.size() + static_cast<std::size_t>(c.orphans_) >= kMaxConcurrentStreams || c.goaway_sent_) {
      // Untracked: its headers and data are ignored, and the client may retry it (REFUSED_STREAM).
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
      c.count_control();
      return 0;
    }
    c.last_activity_ = Clock::now();
    if (++c.requests_ >= kRequestsPerConnection) c.goaway();
    auto st = std::make_shared<H2Stream>(c.executor_, id);
    st->head.version(20);  // says HTTP/2 to protocol_of(); nothing else reads it
    c.streams_[id] = std::move(st);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user_data) {
    H2Connection& c = of(user_data);
    const auto st = c.find(frame->hd.stream_id);
    if (!st) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      st->trailers = true;  // trailers: judged as HTTP/1.1 judges them, never merged into the head
      return 0;
    }
    // The decoded size, as SETTINGS_MAX_HEADER_LIST_SIZE counts it: what HPACK expanded is
    // bounded here, whatever the compressed block was.
    st->header_bytes += namelen + valuelen + 32;
    if (n.empty() || n.front() != ':') ++st->header_count;  // counted as HTTP/1.1 counts fields
    if (st->header_bytes > c.hooks_.options->max_header_bytes ||
        st->header_count > c.hooks_.options->max_header_count || namelen > kMaxFieldBytes ||
        valuelen > kMaxFieldBytes) {
      st->head_too_large = true;
      return 0;
    }
    if (st->head_too_large) return 0;
    if (n == ":method") {
      st->head.method_string(v);
      st->head_only = v == "HEAD";
    } else if (n == ":path") {
      st->head.target(v);
    } else if (n == ":authority") {
      st->authority = std::string(v);
    } else if (!n.empty() && n.front() != ':') {
      try {
        st->head.insert(n, v);
      } catch (const std::exception&) {
        st->head_too_large = true;  // nothing may unwind through nghttp2's C code
      }
    }
    return 0;
  }

  static int on_invalid_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                               const std::uint8_t*, std::size_t, std::uint8_t, void*) {
    // A field nghttp2 would drop quietly: as strict as the HTTP/1.1 parser, the stream is reset.
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Connection& c = of(user_data);
    const auto st = c.find(frame->hd.stream_id);
    if (!st) return 0;
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      st->end_stream_in = end;
      st->announced = !end;
      if (st->head.find(bhttp::field::host) == st->head.end() && !st->authority.empty() && !st->head_too_large) {
        st->head.set(bhttp::field::host, st->authority);
      }
      if (st->head_too_large) {
        c.answer_locally(*st, 431, "request head too large");
        if (c.hooks_.reject) {
          c.hooks_.reject(431, "HTTP/2 request head larger than " + std::to_string(c.hooks_.options->max_header_bytes) +
                                   " bytes or " + std::to_string(c.hooks_.options->max_header_count) + " fields");
        }
        return 0;
      }
      ++c.handlers_;
      st->handler = true;
      asio::co_spawn(c.executor_, c.run_stream(c.shared_from_this(), st), asio::detached);
      return 0;
    }
    if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == frame->data.padlen && !end) {
      c.count_control();  // empty DATA, padded or not
    }
    if (frame->hd.type == NGHTTP2_HEADERS) {  // trailers end the request
      st->end_stream_in = true;
      st->wake.cancel();
    } else if (frame->hd.type == NGHTTP2_DATA && end) {
      st->end_stream_in = true;
      st->wake.cancel();
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                           std::size_t len, void* user_data) {
    H2Connection& c = of(user_data);
    const auto st = c.find(id);
    if (!st || st->too_large || st->trailers || st->discard) {
      nghttp2_session_consume(session, id, len);
      return 0;
    }
    if (st->reading && st->body.size() + len > st->limit) {
      st->too_large = true;
      std::string().swap(st->body);
      st->wake.cancel();
      nghttp2_session_consume(session, id, len);
      return 0;
    }
    st->body.append(reinterpret_cast<const char*>(data), len);
    // Acknowledged only while the handler reads (within its reserved share of the budget): a
    // stream nobody has authenticated yet holds at most its window.
    if (st->reading) {
      nghttp2_session_consume(session, id, len);
      st->wake.cancel();
    } else {
      st->unconsumed += len;
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t, void* user_data) {
    H2Connection& c = of(user_data);
    const auto st = c.find(id);
    if (!st) return 0;
    if (st->unconsumed > 0) {
      nghttp2_session_consume_connection(session, st->unconsumed);
      st->unconsumed = 0;
    }
    gone(*st, "the client reset the stream");
    c.release(*st);
    if (st->handler) ++c.orphans_;  // its handler still runs: it still counts against the limit
    c.streams_.erase(id);
    c.last_activity_ = Clock::now();
    return 0;
  }

  static ssize_t read_answer(nghttp2_session* session, std::int32_t, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& st = *static_cast<H2Stream*>(source->ptr);
    const std::size_t n = std::min(st.pending(), length);
    if (n > 0) {
      std::memcpy(buf, st.out.data() + st.out_pos, n);
      st.out_pos += n;
      if (st.out_pos == st.out.size()) {
        st.out.clear();
        st.out_pos = 0;
      } else if (st.out_pos > kQueueHigh && st.out_pos > st.out.size() / 2) {
        st.out.erase(0, st.out_pos);  // at most once per half of the queue: linear overall
        st.out_pos = 0;
      }
    }
    if (st.pending() == 0 && st.eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      st.eof_sent = true;
      if (st.local && !st.end_stream_in && !st.closed) {
        // Answered without reading the body: framed after this last DATA, the reset tells the
        // client to stop sending (RFC 9113 §8.1).
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_NO_ERROR);
      }
    } else if (n == 0) {
      st.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    st.wake.cancel();  // room to write, or the end framed
    return static_cast<ssize_t>(n);
  }

  // --- answering ---

  // Submits the answer's head; the body follows through read_answer unless there is none.
  bool submit(H2Stream& st, unsigned status, Headers headers, std::optional<std::size_t> length) {
    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back(":status", std::to_string(status));
    for (auto& [name, value] : headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (dropped_field(lower)) continue;
      fields.emplace_back(std::move(lower), std::move(value));
    }
    if (length && status != 204 && status != 304) fields.emplace_back("content-length", std::to_string(*length));
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size());
    for (auto& [name, value] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                     name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    const bool no_body = st.head_only || (length && *length == 0) || status == 204 || status == 304;
    nghttp2_data_provider provider{};
    provider.source.ptr = &st;
    provider.read_callback = &H2Connection::read_answer;
    if (no_body) {
      st.out.clear();
      st.eof = true;
      st.eof_sent = true;
    }
    const int rv = nghttp2_submit_response(session_, st.id, nva.data(), nva.size(), no_body ? nullptr : &provider);
    wake_writer();
    return rv == 0;
  }

  void answer_locally(H2Stream& st, unsigned status, std::string_view message) {
    st.local = true;
    st.discard = true;
    st.eof = true;
    nghttp2_session_consume(session_, st.id, st.unconsumed);
    st.unconsumed = 0;
    std::string().swap(st.body);
    st.out = std::string(R"({"message":")") + std::string(message) + "\"}\n";
    submit(st, status, {{"content-type", "application/json"}}, st.out.size());
  }

  void resume(H2Stream& st) {
    if (st.deferred && !st.closed) {
      st.deferred = false;
      nghttp2_session_resume_data(session_, st.id);
    }
    wake_writer();
  }

  // Waits for the stream's timer to be woken or `deadline`; false on the deadline.
  static asio::awaitable<bool> wait(H2Stream& st, Clock::time_point deadline) {
    st.wake.expires_at(deadline);
    error_code ec;
    co_await st.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return ec == asio::error::operation_aborted || Clock::now() < deadline;
  }

  class StreamBody final : public BodyReader {
   public:
    StreamBody(H2Connection& c, H2Stream& st) : c_(c), st_(st) {}
    bool announced() const override { return st_.announced; }

    asio::awaitable<Body> read(std::uint64_t limit) override {
      Body out;
      if (read_ || !st_.announced) {
        read_ = true;
        co_return out;
      }
      read_ = true;
      if (st_.trailers) {
        out.error = BodyError::kMalformed;
        co_return out;
      }
      if (const auto cl = st_.head.find(bhttp::field::content_length); cl != st_.head.end()) {
        std::uint64_t announced = 0;
        const auto text = cl->value();
        const auto [p, e] = std::from_chars(text.data(), text.data() + text.size(), announced);
        if (e == std::errc() && p == text.data() + text.size() && announced > limit) {
          out.error = BodyError::kTooLarge;  // said by the head: nothing acknowledged, no 100
          co_return out;
        }
      }
      // A share of the connection's body budget for the whole body: the announced length, else
      // the limit. One reader is always admitted, others wait for room (within body_timeout).
      std::uint64_t need = limit;
      if (const auto cl = st_.head.find(bhttp::field::content_length); cl != st_.head.end()) {
        std::uint64_t announced = 0;
        const auto text = cl->value();
        const auto [p, e] = std::from_chars(text.data(), text.data() + text.size(), announced);
        if (e == std::errc() && p == text.data() + text.size()) need = std::min(need, announced);
      }
      const auto deadline = Clock::now() + c_.hooks_.options->body_timeout;
      st_.waiting_budget = true;
      while (c_.reserved_ > 0 && c_.reserved_ + need > kBodyBudget && !st_.closed) {
        const bool woken = co_await wait(st_, deadline);
        if (!woken) {
          st_.waiting_budget = false;
          out.error = BodyError::kTimeout;
          co_return out;
        }
      }
      st_.waiting_budget = false;
      c_.reserved_ += need;
      st_.reserved = need;
      st_.reading = true;
      st_.limit = limit;
      if (st_.body.size() > limit) st_.too_large = true;
      if (beast::iequals(st_.head[bhttp::field::expect], "100-continue") && !st_.closed) {
        std::string status = ":status", value = "100";
        const nghttp2_nv nv{reinterpret_cast<std::uint8_t*>(status.data()),
                            reinterpret_cast<std::uint8_t*>(value.data()), status.size(), value.size(),
                            NGHTTP2_NV_FLAG_NONE};
        nghttp2_submit_headers(c_.session_, NGHTTP2_FLAG_NONE, st_.id, nullptr, &nv, 1, nullptr);
      }
      if (!st_.closed) {
        // What arrived before the handler asked is acknowledged now, and the window opened
        // unless the whole body is already in (a WINDOW_UPDATE then would be a write for nothing).
        if (!st_.end_stream_in) {
          nghttp2_session_set_local_window_size(
              c_.session_, NGHTTP2_FLAG_NONE, st_.id,
              static_cast<std::int32_t>(std::min<std::uint64_t>(limit, kReadingWindow)));
        }
        const std::uint64_t n = st_.unconsumed;
        st_.unconsumed = 0;
        c_.consume(st_, n);
      }
      c_.wake_writer();
      while (!st_.end_stream_in && !st_.closed && !st_.too_large) {
        const bool woken = co_await wait(st_, deadline);
        if (!woken) {
          out.error = BodyError::kTimeout;
          co_return out;
        }
      }
      if (st_.too_large) {
        out.error = BodyError::kTooLarge;
      } else if (st_.trailers) {
        out.error = BodyError::kMalformed;
      } else if (!st_.end_stream_in) {
        out.error = BodyError::kClosed;
      } else {
        out.bytes = std::move(st_.body);
      }
      co_return out;
    }

   private:
    H2Connection& c_;
    H2Stream& st_;
    bool read_ = false;
  };

  class StreamAnswer final : public Responder {
   public:
    StreamAnswer(H2Connection& c, H2Stream& st) : c_(c), st_(st) {}

    asio::awaitable<bool> send(unsigned status, Headers headers, std::string body) override {
      if (st_.closed || started_) co_return false;
      started_ = true;
      const std::size_t size = body.size();
      st_.out = std::move(body);
      st_.eof = true;
      if (!c_.submit(st_, status, std::move(headers), size)) co_return false;
      bytes_ = st_.head_only ? 0 : size;
      const bool ok = co_await drained(true);
      co_return ok;
    }

    asio::awaitable<bool> start_stream(unsigned status, Headers headers) override {
      if (st_.closed || started_) co_return false;
      started_ = true;
      streaming_ = true;
      co_return c_.submit(st_, status, std::move(headers), std::nullopt) && !st_.closed;
    }

    asio::awaitable<bool> write(std::string_view piece) override {
      if (!streaming_ || st_.closed || st_.eof) co_return false;
      if (piece.empty()) co_return true;
      st_.out.append(piece);
      bytes_ += piece.size();
      c_.resume(st_);
      const bool ok = co_await drained(false);
      co_return ok;
    }

    asio::awaitable<bool> finish() override {
      if (!streaming_ || st_.closed) co_return false;
      st_.eof = true;
      c_.resume(st_);
      const bool ok = co_await drained(true);
      co_return ok;
    }

    bool started() const override { return started_; }
    std::uint64_t bytes_written() const override { return bytes_; }
    std::shared_ptr<AbortSignal> abort_signal() override { return st_.abort; }
    bool done() const { return st_.eof_sent; }

   private:
    // Until nghttp2 has framed the queue (`all`) or it is back under the high-water mark: a
    // reader that does not open its window stalls this stream only, for at most write_timeout.
    asio::awaitable<bool> drained(bool all) {
      const auto deadline = Clock::now() + c_.hooks_.options->write_timeout;
      while (!st_.closed && (all ? !st_.eof_sent : st_.pending() > kQueueHigh)) {
        const bool woken = co_await wait(st_, deadline);
        if (!woken) {
          st_.reset_reason = "the caller did not read the answer within write_timeout";
          nghttp2_submit_rst_stream(c_.session_, NGHTTP2_FLAG_NONE, st_.id, NGHTTP2_CANCEL);
          c_.wake_writer();
          co_return false;
        }
      }
      co_return all ? st_.eof_sent : !st_.closed;
    }

    H2Connection& c_;
    H2Stream& st_;
    bool started_ = false;
    bool streaming_ = false;
    std::uint64_t bytes_ = 0;
  };

  asio::awaitable<void> run_stream(std::shared_ptr<H2Connection> /*self*/, std::shared_ptr<H2Stream> st) {
    // A HEADERS frame followed at once by RST_STREAM (rapid reset) never reaches a handler.
    if (!st->closed && !closed_) {
      StreamBody body(*this, *st);
      StreamAnswer answer(*this, *st);
      ++*hooks_.in_flight;
      try {
        co_await (*hooks_.handler)(st->head, body, answer);
      } catch (const std::exception& e) {
        spdlog::error("request handler failed: {}", e.what());
      } catch (...) {
        spdlog::error("request handler failed");
      }
      --*hooks_.in_flight;
      if (!st->closed && !closed_) {
        try {
          if (!answer.started()) {
            Headers headers{{"content-type", "application/json"}};
            std::string text = "{\"message\":\"internal error\"}\n";
            co_await answer.send(500, std::move(headers), std::move(text));
          }
        } catch (const std::exception& e) {
          spdlog::error("HTTP/2 stream failed: {}", e.what());
        }
        if (st->closed || closed_) {
          // Ended meanwhile: nothing to reset.
        } else if (!answer.done()) {
          // An answer begun and not finished: the stream is reset, as HTTP/1.1 closes.
          nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        } else if (!st->end_stream_in) {
          // Answered without the rest of the body: the client may stop sending (RFC 9113 §8.1).
          nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
        }
        st->discard = true;
        wake_writer();
      }
    }
    release(*st);
    std::string().swap(st->body);
    if (st->closed && st->handler) --orphans_;
    st->handler = false;
    if (--handlers_ == 0) done_wake_.cancel();
    last_activity_ = Clock::now();
  }

  Stream& stream_;
  H2Hooks hooks_;
  asio::any_io_executor executor_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::shared_ptr<H2Stream>> streams_;
  asio::steady_timer writer_wake_;
  asio::steady_timer done_wake_;
  bool closed_ = false;
  bool writing_ = false;
  bool goaway_sent_ = false;
  bool limit_advertised_ = false;  // the first SETTINGS frame was rewritten: advertise_stream_limit
  int tasks_ = 0;
  int handlers_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t reserved_ = 0;  // body budget the reading streams hold
  int orphans_ = 0;             // handlers whose stream nghttp2 already closed
  asio::steady_timer tick_;
  Clock::time_point opened_;
  Clock::time_point write_deadline_{};
  Clock::time_point last_activity_;
  Clock::time_point control_window_start_;
  int control_frames_ = 0;
};

}  // namespace

template <class Stream>
asio::awaitable<void> serve_h2(Stream& stream, std::string preread, H2Hooks hooks) {
  beast::get_lowest_layer(stream).expires_never();  // the connection's own timers take over
  auto connection = std::make_shared<H2Connection<Stream>>(stream, std::move(hooks));
  // clang-tidy takes the coroutine's frame clean-up at co_return for a use of the moved parameters.
  if (!connection->start()) co_return;  // NOLINT(bugprone-use-after-move)
  co_await connection->run(std::move(preread));
}

template asio::awaitable<void> serve_h2(beast::tcp_stream&, std::string, H2Hooks);
template asio::awaitable<void> serve_h2(beast::ssl_stream<beast::tcp_stream>&, std::string, H2Hooks);

}  // namespace signgate::http
