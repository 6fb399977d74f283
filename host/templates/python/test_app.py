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

    def test_says_when_a_name_is_not_a_string(self):
        with self.assertRaises(chitin.ToolError) as e:
            tools.invoke("hello", '{"name": 5}')
        self.assertIn("must be a string", str(e.exception))


if __name__ == "__main__":
    unittest.main()
