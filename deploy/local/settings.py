"""What ``make up`` (``deploy/local/runner.py``) reads from the environment, beside the services' own settings.

The names are the services' where the meaning is the same (``FMF_DATABASE_URL``, ``FMF_KAFKA_BOOTSTRAP``,
``FMF_SMTP_PORT``, ...); unset, the runner starts embedded servers and local sinks instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import FmfSettings


class LocalSettings(FmfSettings):
    var_dir: Path = Field(Path("var"), description="Where data, mail, SMS and logs are kept.")
    database_url: str = Field(
        "",
        description="Any database on a PostgreSQL server to use (each service gets its own beside it); "
        "empty: the embedded PostgreSQL.",
    )
    pg_port: int = Field(55432, description="Port of the embedded PostgreSQL (a free one if taken).")
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers to use; empty: the embedded broker.")
    smtp_port: int = Field(1025, description="Port of the local mail sink (a free one if taken).")
    sms_gateway_url: str = Field("", description="The SMS gateway to use; empty: the local SMS sink.")
    sms_sink_port: int = Field(1026, description="Port of the local SMS sink (a free one if taken).")
    topic_partitions: int = Field(6, ge=1, description="Partitions per topic when topics are created.")
    operator_token: SecretStr = Field(
        SecretStr(""), description="The operator's token; empty: the one kept in <var_dir>/operator-token."
    )

    @property
    def var(self) -> Path:
        """``var_dir`` as an absolute path."""
        return self.var_dir.resolve()
