# offboard as a container: `offboard serve` (Socket Mode when SLACK_APP_TOKEN is set, else HTTP on port 3000),
# health on port 8080 (/healthz, /readyz, /metrics). The install is scripts/install-image, which CI checks too.
# Python 3.11, the version constraints.txt was pinned with.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY scripts/install-image scripts/install-image
COPY bot bot
COPY storage storage
COPY vendors vendors
RUN sh scripts/install-image /opt/offboard && rm -rf /src

# offboard check compares the bot token's scopes with the manifest, read from the working directory.
WORKDIR /app
COPY manifest.yml ./
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin offboard
USER offboard

ENV PATH=/opt/offboard/bin:$PATH \
    OFFBOARD_HOST=0.0.0.0 \
    OFFBOARD_PORT=3000 \
    OFFBOARD_HEALTH_PORT=8080 \
    OFFBOARD_LOG_FORMAT=json
EXPOSE 3000 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# SIGTERM stops it gracefully (what was acknowledged is finished first): give it time before SIGKILL.
STOPSIGNAL SIGTERM
CMD ["offboard", "serve"]
