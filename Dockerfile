# The rise server image: `docker build -t rise .` then
# `docker run -p 8000:8000 -e RISE_ADMIN_PASSWORD=... -v rise-data:/data rise`
# (state repo, keys and local users live in /data).

# Stage 1: build wheels of every dependency (compilers stay in this stage).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY reconciler reconciler
COPY cli cli
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: the runtime. The source tree is kept whole (templates/ sits beside reconciler/,
# where the renderer looks for it) and installed in place without build tools.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home rise
COPY --from=build /wheels /wheels
WORKDIR /opt/rise
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY reconciler reconciler
COPY cli cli
COPY templates templates
RUN pip install --no-cache-dir --no-index --find-links /wheels -e . && rm -rf /wheels
ENV PYTHONUNBUFFERED=1
USER 10001
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["rise", "server"]
CMD ["--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
