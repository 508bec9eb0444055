"""`python -m tap_lp_audittrail`."""

from tap_lp_audittrail.entry import tap

tap()
