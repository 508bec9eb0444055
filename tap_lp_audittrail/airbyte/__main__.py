"""`python -m tap_lp_audittrail.airbyte`: `source-lp-audittrail`."""

from tap_lp_audittrail.entry import airbyte

airbyte()
