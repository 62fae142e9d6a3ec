# finsent: one image for every service (classifier, scheduler, notifier, api, migrate, topics).
#   CPU (default):  docker build -t finsent:latest .
#   GPU (CUDA 13):  docker build -t finsent:gpu \
#                     --build-arg BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 .
#   With training:  add --build-arg EXTRAS="[train]" (torch; only `finsent train`/`export` need it)
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/finsent \
    PATH=/opt/finsent/bin:$PATH \
    FINSENT_CACHE_DIR=/var/cache/finsent

# CUDA base images carry no Python; the slim Python image carries no venv module gaps.
RUN if ! command -v python3 >/dev/null 2>&1 || ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/finsent \
    && useradd --system --uid 10001 --home-dir /var/cache/finsent --create-home finsent

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY pipeline ./pipeline
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --no-cache-dir ".${EXTRAS}"

USER finsent
# 8000: API and dashboard; 9108: Prometheus metrics of the workers.
EXPOSE 8000 9108
ENTRYPOINT ["finsent"]
CMD ["--help"]
