// One audit line per request, formatted on the audit thread: what each request costs there.
#include <benchmark/benchmark.h>

#include "gateway/audit.h"
#include "gateway/exchange.h"

namespace {

void BM_AuditLine(benchmark::State& state) {
  signgate::gateway::AuditRecord r;
  r.ts = std::chrono::system_clock::now();
  r.request_id = "0f8e2c4a9b7d4e21a3c5";
  r.client = "flashback-prod";
  r.surface = "openai";
  r.operation = "converse";
  r.model = "anthropic.claude-3-haiku-20240307-v1:0";
  r.status = 200;
  r.upstream_status = 200;
  r.aws_request_id = "7f5c3a2e-1b4d-4c6e-8f9a-0b1c2d3e4f50";
  r.latency_ms = 412.3456;
  r.first_byte_ms = 388.12;
  r.input_tokens = 25;
  r.output_tokens = 31;
  r.bytes_in = 330;
  r.bytes_out = 498;
  r.role_session = "arn:aws:iam::111122223333:role/flashback-bedrock/signgate-flashback-prod";
  for (auto _ : state) {
    const std::string line = r.to_json_line();
    benchmark::DoNotOptimize(line);
  }
}
BENCHMARK(BM_AuditLine);

// Every request's id, from OpenSSL's CSPRNG through a per-thread pool (was a mt19937_64).
void BM_NewRequestId(benchmark::State& state) {
  for (auto _ : state) {
    const std::string id = signgate::gateway::new_request_id();
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_NewRequestId);

}  // namespace
