# The Airbyte source image of tap-lp-audittrail: `source-lp-audittrail` and its runtime, nothing
# else. Built by scripts/airbyte-image, which makes the build context: this file and `wheels/`,
# a wheelhouse of the package and every dependency for the base's Python. The build itself
# needs no network.
#
#   scripts/airbyte-image                         # FROM python:3.11-slim-bookworm
#   scripts/airbyte-image --base IMAGE --tag TAG  # FROM another Debian-like Python 3.10+ image
#
# BASE_IMAGE needs python3 (3.10 or newer) with its venv module, and useradd.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS install
# Marks this stage's image, which scripts/airbyte-image removes after the build.
LABEL io.github.tap-lp-audittrail.stage=install
COPY wheels/ /tmp/wheels/
# A virtualenv of the package alone, from the wheelhouse only; pip itself is left out of it.
RUN python3 -m venv /opt/source-lp-audittrail \
    && /opt/source-lp-audittrail/bin/python -m pip install --no-index --no-cache-dir \
        --disable-pip-version-check --find-links /tmp/wheels tap-lp-audittrail \
    && /opt/source-lp-audittrail/bin/python -m pip uninstall --yes --quiet pip \
    && rm -f /opt/source-lp-audittrail/bin/activate* /opt/source-lp-audittrail/bin/Activate* /opt/source-lp-audittrail/bin/pip*

FROM ${BASE_IMAGE}
ARG VERSION=0.0.0
RUN useradd --uid 1000 --user-group --create-home --home-dir /airbyte --shell /usr/sbin/nologin airbyte
COPY --from=install /opt/source-lp-audittrail /opt/source-lp-audittrail
ENV PATH=/opt/source-lp-audittrail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIRBYTE_ENTRYPOINT=source-lp-audittrail
LABEL io.airbyte.name=source-lp-audittrail \
      io.airbyte.version=${VERSION}
USER airbyte
WORKDIR /airbyte
ENTRYPOINT ["source-lp-audittrail"]
