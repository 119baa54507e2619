# The rise server image: `docker build -t rise .` then
# `docker run -p 8000:8000 -e RISE_ADMIN_PASSWORD=... -v rise-data:/data rise`
# (state repo, keys and local users live in /data). On Kubernetes: `rise install`
# (docs/install.md); on one host: examples/compose.yaml.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: a virtual environment with rise and its dependencies. Anything that must be
# compiled is compiled here; only the environment and the source tree reach the image.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/rise/venv/bin:$PATH
RUN python -m venv /opt/rise/venv
WORKDIR /opt/rise/src
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY reconciler reconciler
COPY cli cli
COPY templates templates
# Editable, so the tree stays whole: the renderer finds templates/ beside reconciler/. The
# same path in the final stage keeps the install valid. Then the installers go.
RUN pip install -e . \
 && python -m compileall -q /opt/rise/src \
 && pip uninstall -y pip wheel

# Stage 2: the runtime. No compiler, no package installer; a non-root user whose uid the
# Kubernetes manifests (runAsUser 10001) and the compose file rely on.
FROM ${PYTHON_IMAGE}
RUN python -m pip uninstall -y pip setuptools wheel \
 && groupadd --system --gid 10001 rise \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home rise \
 && mkdir /data \
 && chown 10001:10001 /data
COPY --from=build /opt/rise /opt/rise
ENV PATH=/opt/rise/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["rise", "server"]
CMD ["--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
