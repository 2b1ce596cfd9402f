#!/usr/bin/env node
// Checks a Dockerfile's syntax offline with dockerfile-utils (the validator behind the Docker
// language server): unknown instructions and flags, bad durations, signals and ports, JSON forms,
// missing arguments, several CMD/ENTRYPOINT/HEALTHCHECK in a stage. Every finding is an error.
//
//   node tests/deploy/lint_dockerfile.mjs deploy/Dockerfile
import fs from "node:fs";
import { validate } from "dockerfile-utils";

const ERROR = 2;
const file = process.argv[2];
if (!file || process.argv.length > 3) {
  console.error("usage: node lint_dockerfile.mjs DOCKERFILE");
  process.exit(2);
}
const findings = validate(fs.readFileSync(file, "utf8"), {
  deprecatedMaintainer: ERROR,
  directiveCasing: ERROR,
  emptyContinuationLine: ERROR,
  instructionCasing: ERROR,
  instructionCmdMultiple: ERROR,
  instructionEntrypointMultiple: ERROR,
  instructionHealthcheckMultiple: ERROR,
  instructionJSONInSingleQuotes: ERROR,
  instructionWorkdirRelative: ERROR,
});
for (const d of findings) console.log(`${file}:${d.range.start.line + 1}: ${d.message}`);
if (findings.length) process.exit(1);
console.log(`${file}: no findings`);
