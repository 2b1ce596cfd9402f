// Event-stream decode throughput on a ConverseStream-shaped stream of 100 frames.
#include <benchmark/benchmark.h>

#include "aws/eventstream.h"

namespace {

using namespace signgate::aws::eventstream;

std::string stream_of(int frames, std::size_t text_bytes) {
  std::string s;
  for (int i = 0; i < frames; ++i) {
    const std::string json = R"({"contentBlockIndex":0,"delta":{"text":")" + std::string(text_bytes, 'a') +
                             R"("},"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"})";
    s += encode({{":event-type", HeaderValue::string("contentBlockDelta")},
                 {":content-type", HeaderValue::string("application/json")},
                 {":message-type", HeaderValue::string("event")}},
                json);
  }
  return s;
}

// Arg: bytes of text per delta (Bedrock sends a few tokens per frame; 1 KiB for big deltas).
void BM_DecodeStream100Frames(benchmark::State& state) {
  const std::string stream = stream_of(100, static_cast<std::size_t>(state.range(0)));
  std::size_t messages = 0;
  for (auto _ : state) {
    Decoder d;
    std::string_view rest = stream;
    while (!rest.empty()) {
      auto r = d.feed(rest);
      if (r.message) ++messages;
      rest.remove_prefix(r.consumed);
    }
  }
  benchmark::DoNotOptimize(messages);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.counters["frame_bytes"] = static_cast<double>(stream.size()) / 100.0;
}
BENCHMARK(BM_DecodeStream100Frames)->Arg(16)->Arg(1024);

// The same stream arriving in 1,400-byte TCP segments: the buffered path.
void BM_DecodeStreamSegmented(benchmark::State& state) {
  const std::string stream = stream_of(100, 16);
  for (auto _ : state) {
    Decoder d;
    for (std::size_t off = 0; off < stream.size(); off += 1400) {
      std::string_view seg = std::string_view(stream).substr(off, 1400);
      while (!seg.empty()) {
        auto r = d.feed(seg);
        benchmark::DoNotOptimize(r.message);
        seg.remove_prefix(r.consumed);
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_DecodeStreamSegmented);

}  // namespace
