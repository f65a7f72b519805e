"""Helpers shared by the test suites: article builders and a real webhook receiver."""
