"""What Airbyte's platform reads of the source before it runs the image: metadata.yaml, validated
with airbyte-cdk's own `MetadataFile` model (in `.venv-airbyte`: airbyte-cdk's `backoff`
clashes with singer-sdk's), and consistent with the Dockerfile and scripts/airbyte-image.

The tests that build the image and run airbyte-cdk's standard tests against it are not in the
suite yet (docs/airbyte.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid

from .conftest import REPO
from .test_pyairbyte import pyairbyte_python

#: Loads metadata.yaml as airbyte-cdk does and prints the model it validated, as JSON.
VALIDATE = r"""
import json, sys
from pathlib import Path
from airbyte_cdk.models.connector_metadata import MetadataFile
metadata = MetadataFile.from_file(Path(sys.argv[1]))
language = metadata.data.language.value
print(json.dumps({"model": metadata.model_dump(mode="json"), "language": language}))
"""

PYPROJECT = REPO / "pyproject.toml"
#: The values Airbyte's metadata schema allows for these fields.
RELEASE_STAGES = {"alpha", "beta", "generally_available", "custom"}
SUPPORT_LEVELS = {"community", "certified", "archived"}


def test_metadata_yaml_is_valid_for_airbyte_cdk_and_names_what_the_image_is():
    proc = subprocess.run(
        [pyairbyte_python(), "-c", VALIDATE, str(REPO / "metadata.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    validated = json.loads(proc.stdout.splitlines()[-1])
    data = validated["model"]["data"]
    assert validated["language"] == "python"
    assert data["dockerRepository"] == "source-lp-audittrail"
    assert data["connectorType"] == "source"
    assert uuid.UUID(data["definitionId"]).version == 4
    assert re.fullmatch(r"\d+\.\d+\.\d+", data["dockerImageTag"]), data["dockerImageTag"]
    assert data["documentationUrl"].startswith("https://")
    assert re.search(rf'^license = .*"{data["license"]}"', PYPROJECT.read_text(), re.M)
    assert data["releaseStage"] in RELEASE_STAGES
    assert data["supportLevel"] in SUPPORT_LEVELS
    # What the platform knows the source by is what the image says it is.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"io.airbyte.name={data['dockerRepository']}" in dockerfile
    assert f'ENTRYPOINT ["{data["dockerRepository"]}"]' in dockerfile
    assert f"{data['dockerRepository']}:" in (REPO / "scripts" / "airbyte-image").read_text()
