"""The standard tests' options (--connector-image) and their scenarios' parametrization."""

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
