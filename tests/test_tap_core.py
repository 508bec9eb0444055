"""The SDK's standard tap tests, run against a live sandbox."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tap_lp_audittrail.tap import TapLPAuditTrail

from .helpers import END, tap_config

_SANDBOX = Sandbox(data=DataSpec(seed=11, records=2500, end=END)).start()
atexit.register(_SANDBOX.stop)

TestTapLPAuditTrail = get_tap_test_class(
    tap_class=TapLPAuditTrail,
    config=tap_config(_SANDBOX, window_days=60),
    suite_config=SuiteConfig(max_records_limit=None),
)
