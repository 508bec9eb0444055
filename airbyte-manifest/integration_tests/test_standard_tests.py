"""airbyte-cdk's standard tests of a declarative source, run on manifest.yaml in process.

Run in a virtualenv with airbyte-cdk and pytest (never the tap's own: airbyte-cdk's `backoff`
clashes with singer-sdk's), from this folder, with settings in secrets/:

    python -m pytest integration_tests -c integration_tests/pytest.ini -m "not image_tests"

The image tests are left out: a manifest-only connector's image is Airbyte's
source-declarative-manifest with the manifest added, built from Docker Hub.
tests/test_airbyte_manifest.py runs these against a sandbox, as part of scripts/test.
"""

from airbyte_cdk.test.standard_tests.declarative_sources import DeclarativeSourceTestSuite


class TestSourceLpAudittrailManifest(DeclarativeSourceTestSuite):
    """spec, check (a valid and an invalid config), discover and read, on manifest.yaml."""
