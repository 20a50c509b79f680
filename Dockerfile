# One image for the dse worker and the dashboard (docker-compose.yml).
#   docker compose up -d --scale worker=4
FROM python:3.11-slim

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /app

# finn-plus pulls torch: take the CPU build (FINN's estimate mode needs no GPU) instead of
# PyPI's CUDA build of several GB. brevitas pins setuptools<70, which torch 2.13 refuses.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.12.1

COPY pyproject.toml README.md ./
COPY dse ./dse
RUN pip install . && useradd --create-home dse && mkdir -p /data/studies && chown dse /data/studies
COPY configs ./configs

USER dse
# study folders (prefix cache, trial reports, exported zoo models) on the shared volume
ENV DSE_ARTIFACTS=/data/studies
ENTRYPOINT ["dse"]
CMD ["--help"]
