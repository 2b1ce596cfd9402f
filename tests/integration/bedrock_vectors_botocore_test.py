#!/usr/bin/python3
"""The committed Bedrock/STS vectors are botocore's: recomputing them gives the same file,
so the C++ unit test compares against an implementation that is not ours."""
import json
import os
import sys
import unittest

from common import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import gen_bedrock_vectors  # noqa: E402


class VectorsAreBotocores(unittest.TestCase):
    def test_recomputed_vectors_match_the_file(self):
        committed = json.load(open(gen_bedrock_vectors.OUT, encoding="utf-8"))["cases"]
        fresh = gen_bedrock_vectors.build()["cases"]
        self.assertEqual(len(committed), len(fresh))
        self.assertGreaterEqual(len(fresh), 16)
        for old, new in zip(committed, fresh):
            with self.subTest(old["name"]):
                self.assertEqual(old, new)


if __name__ == "__main__":
    unittest.main(verbosity=2)
