"""The failures of the hub's stores, named for code that never imports their drivers (the
channels): a lost Redis or database connection, or a socket error beneath either."""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError,)
STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, SQLAlchemyError, OSError)
