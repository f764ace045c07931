"""The ceiling of this stack on this machine: a minimal FastAPI + asyncpg endpoint that inserts one row.

Run by ``bench/registration.py`` under the same uvicorn settings as the registration service.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel


class SignUp(BaseModel):
    name: str
    email: str


def build() -> FastAPI:
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(os.environ["CEILING_DATABASE_URL"], min_size=2, max_size=10)
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS ceiling (id uuid PRIMARY KEY, name text, email text)")
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/signups", status_code=201)
    async def sign_up(body: SignUp) -> dict[str, str]:
        assert pool is not None
        new_id = uuid.uuid4()
        await pool.execute("INSERT INTO ceiling (id, name, email) VALUES ($1, $2, $3)", new_id, body.name, body.email)
        return {"id": str(new_id)}

    return app
