# One image for every trademesh service; docker-compose.yml picks the command.
#
# BASE is any Debian-based image: python:3.11-slim by default, or, where no public registry
# answers (CI), the local Debian image of scripts/debian_image.sh, on which Python comes from
# Debian's packages (deploy/images/python.sh). The build stage has a C compiler, so the engine
# core is compiled by mypyc (setup.py; TRADEMESH_PURE_PYTHON=1 as a build arg installs it
# interpreted); the run stage has no compiler and copies the finished virtual environment.
# Layers go from the least to the most often changed: Python, the pinned dependencies
# (pyproject.toml + constraints.txt), then trademesh's own source.
# Wheels found in deploy/wheels/ are used before the package index; with the build arg
# TRADEMESH_WHEELS_ONLY=1 only they are (scripts/compose_check.sh fills the folder with the
# host's pip, so the build itself needs no access to the index).
ARG BASE=python:3.11-slim

FROM ${BASE} AS deps
COPY deploy/images/python.sh /usr/local/sbin/trademesh-python
RUN sh /usr/local/sbin/trademesh-python build && python3 -m venv /opt/trademesh
ENV PATH=/opt/trademesh/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
ARG TRADEMESH_WHEELS_ONLY=
COPY deploy/wheels/ /wheels/
COPY pyproject.toml constraints.txt ./
# the dependencies alone, at the tested versions
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(d['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -q ${TRADEMESH_WHEELS_ONLY:+--no-index} --find-links /wheels \
      -c constraints.txt -r /tmp/requirements.txt

FROM deps AS build
# the build requirements (setuptools, mypy for mypyc): in this stage only
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(d['build-system']['requires']))" > /tmp/build-requirements.txt \
 && pip install -q ${TRADEMESH_WHEELS_ONLY:+--no-index} --find-links /wheels \
      -c constraints.txt -r /tmp/build-requirements.txt
COPY setup.py README.md ./
COPY gen ./gen
COPY mesh_runtime ./mesh_runtime
COPY trademesh_cli ./trademesh_cli
COPY persistence_svc ./persistence_svc
COPY feed_svc ./feed_svc
COPY gateway ./gateway
COPY bench ./bench
COPY engine_svc ./engine_svc
ARG TRADEMESH_PURE_PYTHON=
# no [embedded] extra: a deployment uses external PostgreSQL and Redis
# into a prefix of its own, laid out like the virtual environment, so that the run stage
# copies the (cached) dependencies and trademesh's few files as two layers. pip extracts an
# extension module before its .py: touch the modules so the engine's stale-build check
# (meant for editable installs) does not flag them.
RUN pip install -q --no-deps --no-build-isolation --prefix /out . \
 && find /out -name '*.so' -exec touch {} + \
 && cd / && PYTHONPATH="$(echo /out/lib/python3*/site-packages)" python -m engine_svc.core_build

FROM ${BASE}
COPY deploy/images/python.sh /usr/local/sbin/trademesh-python
RUN sh /usr/local/sbin/trademesh-python run \
 && groupadd --system --gid 10001 trademesh \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home trademesh \
 && install -d -o trademesh -g trademesh /data
COPY --from=deps /opt/trademesh /opt/trademesh
COPY --from=build /out/ /opt/trademesh/
ENV PATH=/opt/trademesh/bin:$PATH PYTHONUNBUFFERED=1 \
    TRADEMESH_HOST=0.0.0.0 TRADEMESH_DATA_DIR=/data
# the services read their secrets (/run/secrets/*) as this user: see deploy/README.md
USER 10001:10001
WORKDIR /data
ENTRYPOINT ["trademesh"]
