"""Settings from flags and environment (flags win); secrets held as ``SecretStr``; built on demand."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

US_BASE_URL = "https://api.cloud.llamaindex.ai"
EU_BASE_URL = "https://api.cloud.eu.llamaindex.ai"
DEFAULT_DATABASE_URL = "sqlite:///classify_etl.db"


class Settings(BaseModel):
    """Everything a sync needs to know. ``repr`` and logs never show the key or a DB password."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    base_url: str = US_BASE_URL
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    project_ids: tuple[str, ...] = ()
    organization_id: str | None = None
    page_size: int = Field(default=100, ge=1, le=100)
    concurrency: int = Field(default=16, ge=1, le=256)
    max_retries: int = Field(default=5, ge=0, le=20)
    request_timeout: float = Field(default=60.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    verify_tls: bool = True
    full_refresh: bool = False
    list_source: Literal["auto", "v1", "v2"] = "auto"
