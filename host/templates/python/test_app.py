"""Native tests: `python3 -m unittest`. `chitin run` runs the built skill in the real host."""

import unittest

import chitin
from app import tools


class HelloTest(unittest.TestCase):
    def test_greets(self):
        self.assertEqual(tools.invoke("hello", '{"name": "Ada"}'), '"Hello, Ada!"')

    def test_refuses_empty_names(self):
        with self.assertRaises(chitin.ToolError) as e:
            tools.invoke("hello", '{"name": " "}')
        self.assertEqual(e.exception.kind, "invalid-input")


if __name__ == "__main__":
    unittest.main()
