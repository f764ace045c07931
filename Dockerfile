# syntax=docker/dockerfile:1
# One image for the four services and the migration job.
#
#   docker build -t folk-moter-folk .
#   docker run -e FMF_SERVICE=matching ... folk-moter-folk          # a service chosen by FMF_SERVICE
#   docker run ... folk-moter-folk python -m services.reporting    # or by the command
#   docker run ... folk-moter-folk python -m deploy.migrate --topics

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The project's runtime dependencies from pyproject.toml, without the dev extra.
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
RUN pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    FMF_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 fmf \
    && useradd --system --uid 10001 --gid fmf --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fmf
COPY --from=build /opt/venv /opt/venv
# The code runs from /app (first on PYTHONPATH), where the templates, migrations and vocabulary sit
# beside the modules exactly as in the repository; it belongs to root, so the service cannot change it.
WORKDIR /app
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
USER 10001:10001
EXPOSE 8001 8002 8003 8004
# FMF_SERVICE: registration, matching, notification or reporting. exec: the service is PID 1 and gets SIGTERM.
CMD ["sh", "-c", "exec python -m \"services.${FMF_SERVICE:?set FMF_SERVICE to registration, matching, notification or reporting}\""]
