pytest_plugins = ["tap_lp_audittrail.sandbox.pytest_plugin"]
