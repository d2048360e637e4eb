"""Dispatch events: telling a taxi company's dispatch system about its calls."""
