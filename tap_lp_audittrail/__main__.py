"""`python -m tap_lp_audittrail`."""

from tap_lp_audittrail.tap import main

main()
