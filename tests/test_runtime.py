"""Process-level runtime settings."""

import sys

from robovision.runtime import tune_allocator


def test_tune_allocator_reports_success_on_linux():
    assert tune_allocator() is sys.platform.startswith("linux")
