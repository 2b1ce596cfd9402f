#include "gateway/route_fleet.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>

namespace signgate::gateway {

namespace asio = boost::asio;

std::string ejection_message(std::string_view key, std::chrono::seconds length) {
  std::string out = std::to_string(length.count());
  out += ' ';
  out += key;
  return out;
}

std::optional<EjectionNews> parse_ejection(std::string_view message) {
  const auto space = message.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == message.size() || message.size() > 1024) {
    return std::nullopt;
  }
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(message.data(), message.data() + space, seconds);
  if (ec != std::errc() || end != message.data() + space || seconds <= 0 || seconds > 3600) return std::nullopt;
  return EjectionNews{std::string(message.substr(space + 1)), std::chrono::seconds(seconds)};
}

struct EjectionFollower::State {
  State(const asio::any_io_executor& ex, store::RedisOptions options) : executor(ex), redis(ex, std::move(options)) {}
  asio::any_io_executor executor;
  store::Redis redis;
  std::atomic<bool> stopped{false};
};

EjectionFollower::EjectionFollower(const asio::any_io_executor& executor, store::RedisOptions options,
                                   TargetHealth& health)
    : state_(std::make_shared<State>(executor, std::move(options))), health_(health) {
  std::weak_ptr<State> weak = state_;
  state_->redis.subscribe(
      {std::string(kEjectionChannel)},
      [weak, &health](std::string_view, std::string_view payload) {
        auto s = weak.lock();
        if (!s || s->stopped) return;
        // Our own news comes back too: adopting it again changes nothing.
        if (auto news = parse_ejection(payload)) health.adopt(news->key, RouteClock::now(), news->length);
      },
      [](bool) {});
  // Called on whichever loop ejected: the publishing happens on the control loop.
  health.on_eject([weak](const std::string& key, std::chrono::seconds length) {
    auto s = weak.lock();
    if (!s || s->stopped) return;
    asio::post(s->executor, [weak, message = ejection_message(key, length)] {
      auto st = weak.lock();
      if (!st || st->stopped) return;
      asio::co_spawn(
          st->executor,
          [st, message]() -> asio::awaitable<void> {
            std::vector<std::string> command{"PUBLISH", std::string(kEjectionChannel), message};
            auto r = co_await st->redis.command(std::move(command));
            if (!r || r->is_error()) {
              spdlog::debug("routes: an ejection was not shared with the fleet: {}", !r ? r.message() : r->str);
            }
          },
          asio::detached);
    });
  });
}

EjectionFollower::~EjectionFollower() { stop(); }

void EjectionFollower::stop() {
  if (state_->stopped.exchange(true)) return;
  health_.on_eject({});
  state_->redis.stop();
}

}  // namespace signgate::gateway
