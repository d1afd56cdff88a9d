# One image for every trademesh service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml setup.py README.md constraints.txt ./
# python:3.11-slim has no C compiler: the engine core installs interpreted (setup.py says so)
COPY protos ./protos
COPY gen ./gen
COPY mesh_runtime ./mesh_runtime
COPY trademesh_cli ./trademesh_cli
COPY engine_svc ./engine_svc
COPY persistence_svc ./persistence_svc
COPY feed_svc ./feed_svc
COPY gateway ./gateway
# the exact tested versions; no [embedded] extra: a deployment uses external servers
RUN pip install -c constraints.txt . && useradd --system --uid 10001 trademesh
USER trademesh
ENV TRADEMESH_HOST=0.0.0.0 TRADEMESH_DATA_DIR=/data
ENTRYPOINT ["trademesh"]
