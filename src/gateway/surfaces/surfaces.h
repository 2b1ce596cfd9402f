// Every surface, one file each; router.cc's route table says which path reaches which.
#pragma once

#include "gateway/surface.h"

namespace signgate::gateway::surfaces {

const Surface& bedrock_native();              // POST /model/{modelId}/{operation}
const Surface& openai_chat();                 // POST /v1/chat/completions
const Surface& openai_models();               // GET /v1/models[/{id}]
const Surface& openai_responses();            // POST /v1/responses
const Surface& openai_embeddings();           // POST /v1/embeddings
const Surface& anthropic_messages();          // POST /v1/messages
const Surface& anthropic_count_tokens();      // POST /v1/messages/count_tokens
const Surface& bedrock_foundation_models();   // GET /foundation-models[/{id}]
const Surface& bedrock_inference_profiles();  // GET /inference-profiles[/{id}]
const Surface& bedrock_guardrail();           // POST /guardrail/{id}/version/{v}/apply
const Surface& bedrock_async();               // POST /async-invoke, GET /async-invoke[/{arn}]

}  // namespace signgate::gateway::surfaces
