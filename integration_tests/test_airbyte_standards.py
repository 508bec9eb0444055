"""airbyte-cdk's standard tests of the source's Docker image: spec, check, discover and read.

Run in a virtualenv with airbyte-cdk and pytest (never the tap's own: airbyte-cdk's `backoff`
clashes with singer-sdk's), against an image built by scripts/airbyte-image:

    python -m pytest integration_tests --connector-image source-lp-audittrail:TAG

The scenarios are acceptance-test-config.yml's, their configs in secrets/ beside it. Run by
hand against a sandbox, with tests/e2e/host_network/docker as `docker`: 6 passed and 4
skipped (the registry's backward-compatibility check, and what does not apply to the invalid
config). tests/e2e/test_airbyte_image.py runs it so, as part of scripts/test (docs/airbyte.md).
"""

from airbyte_cdk.test.standard_tests.docker_base import DockerConnectorTestSuite


class TestSourceLpAudittrailImage(DockerConnectorTestSuite):
    """The image tests alone: the source is no airbyte-cdk connector to run in process."""
