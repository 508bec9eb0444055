"""The standard tests' options and their scenarios' parametrization (airbyte-cdk's hooks)."""

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
