"""Native tests: `python3 -m unittest` here (chitin.py is supplied by the build; for
native runs put skills-sdk/python on PYTHONPATH)."""

import json
import os
import tempfile
import unittest

import app
import chitin


class CsvStatsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sales.csv")
        with open(self.path, "w") as f:
            f.write("region,amount,units\nnorth,10,1\nsouth,20,2\nnorth,30,3\n")

    def tearDown(self):
        self.dir.cleanup()

    def call(self, tool, **args):
        return json.loads(app.tools.invoke(tool, json.dumps(args)))

    def test_summary_and_group_by(self):
        s = self.call("summary", path=self.path)
        self.assertEqual(s["columns"]["amount"]["mean"], 20)
        self.assertEqual(s["columns"]["region"]["distinct"], 2)
        g = self.call("group_by", path=self.path, by="region", column="amount")
        self.assertEqual(g["groups"], {"north": 40, "south": 20})
        c = self.call("correlation", path=self.path, x="amount", y="units")
        self.assertEqual(c["r"], 1.0)

    def test_unknown_column_is_invalid_input(self):
        with self.assertRaises(chitin.ToolError) as e:
            self.call("group_by", path=self.path, by="nope", column="amount")
        self.assertEqual(e.exception.kind, "invalid-input")


if __name__ == "__main__":
    unittest.main()
