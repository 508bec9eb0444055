# The Airbyte source image of tap-lp-audittrail: `source-lp-audittrail` and its runtime, nothing
# else. Built by scripts/airbyte-image, which makes the build context: this file, `deps/` (a
# wheelhouse of every dependency for the base's Python) and `tap/` (the tap's own wheel). The
# build itself needs no network.
#
#   scripts/airbyte-image                         # FROM python:3.11-slim-bookworm
#   scripts/airbyte-image --base IMAGE --tag TAG  # FROM another Debian-like Python 3.10+ image
#
# The layers are ordered for Docker's build cache: the dependencies are installed before the
# tap's own code is copied, so a change to the tap rebuilds only its own small layers.
# BASE_IMAGE needs python3 (3.10 or newer) with its venv module, and useradd.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The dependencies, in a virtualenv without pip (pip runs from a virtualenv of its own).
FROM ${BASE_IMAGE} AS deps
# Marks this stage's images, which scripts/airbyte-image removes after the build.
LABEL io.github.tap-lp-audittrail.stage=install
COPY deps/ /tmp/deps/
RUN python3 -m venv /tmp/pip \
    && python3 -m venv --without-pip /opt/source-lp-audittrail \
    && /tmp/pip/bin/pip --python /opt/source-lp-audittrail/bin/python install --no-index \
        --no-cache-dir --disable-pip-version-check --find-links /tmp/deps /tmp/deps/*.whl \
    && rm -f /opt/source-lp-audittrail/bin/activate* /opt/source-lp-audittrail/bin/Activate*

# The tap, installed over them; its own files (the wheel's RECORD) are gathered in /opt/tap.
# SOURCE_DATE_EPOCH makes pip compile hash-based .pyc files, with no build time inside: the
# same wheel gives the same files, and the final stage's copy of them (cached on their
# content) keeps the image the same even when this stage has to be built again.
FROM deps AS install
COPY tap/ /tmp/tap/
RUN export SOURCE_DATE_EPOCH=315532800 \
    && /tmp/pip/bin/pip --python /opt/source-lp-audittrail/bin/python install --no-index \
        --no-cache-dir --disable-pip-version-check --no-deps /tmp/tap/*.whl \
    && /opt/source-lp-audittrail/bin/python -c "import importlib.metadata as m, os; \
print('\n'.join(os.path.relpath(os.path.normpath(f.locate()), '/') \
for f in m.distribution('tap-lp-audittrail').files))" > /tmp/tap/files \
    && mkdir /opt/tap \
    && tar -C / -cf - --files-from /tmp/tap/files | tar -C /opt/tap -xf -

FROM ${BASE_IMAGE}
RUN useradd --uid 1000 --user-group --create-home --home-dir /airbyte --shell /usr/sbin/nologin airbyte
ENV PATH=/opt/source-lp-audittrail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIRBYTE_ENTRYPOINT=source-lp-audittrail
COPY --from=deps /opt/source-lp-audittrail /opt/source-lp-audittrail
COPY --from=install /opt/tap/ /
USER airbyte
WORKDIR /airbyte
ENTRYPOINT ["source-lp-audittrail"]
# The package's version (scripts/airbyte-image passes the wheel's); the default is the release
# this checkout describes (CHANGELOG.md, metadata.yaml). Last, so a new version rebuilds nothing.
ARG VERSION=0.1.0
LABEL io.airbyte.name=source-lp-audittrail \
      io.airbyte.version=${VERSION}
