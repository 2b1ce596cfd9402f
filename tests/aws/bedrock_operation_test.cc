#include "aws/bedrock_operation.h"

#include <gtest/gtest.h>

namespace signgate::aws {
namespace {

// The config names and Bedrock's path suffixes are two spellings of one operation.
TEST(BedrockOperation, PathsAndNames) {
  EXPECT_EQ(operation_from_path("invoke-with-response-stream"), Operation::kInvokeStream);
  EXPECT_EQ(operation_name(Operation::kInvokeStream), "invoke-stream");
  EXPECT_EQ(operation_path(Operation::kCountTokens), "count-tokens");
  EXPECT_FALSE(operation_from_path("chat"));
  EXPECT_FALSE(operation_from_path(""));
}

// Every operation's name reads back as that operation, so a config can name each one.
TEST(BedrockOperation, EveryNameRoundTrips) {
  for (const Operation op : kAllOperations) {
    EXPECT_EQ(operation_from_name(operation_name(op)), op) << operation_name(op);
  }
  EXPECT_FALSE(operation_from_name("invoke-with-response-stream"));
}

// Only the five model operations live under /model/{id}/...: the others have no suffix.
TEST(BedrockOperation, OnlyModelOperationsHavePaths) {
  EXPECT_EQ(operation_path(Operation::kApplyGuardrail), "?");
  EXPECT_EQ(operation_path(Operation::kAsyncInvoke), "?");
  EXPECT_FALSE(operation_from_path("?"));
  EXPECT_TRUE(is_streaming(Operation::kConverseStream));
  EXPECT_FALSE(is_streaming(Operation::kCountTokens));
}

}  // namespace
}  // namespace signgate::aws
